-- The worker has rendered a notice's announcement: tell the displays which clips to play, unless
-- the notice was removed meanwhile (then nobody should hear it).
-- KEYS (K, see _lib.lua) the notices' (keys.notice_keys): events, notices, notice_order,
--         notice_expiry, notice_sequence, issuing
-- ARGV[1] context, plus id, announcement {text, clips}
local ctx = context()
if redis.call('HEXISTS', K.notices, ctx.id) == 0 then return ok(false) end
emit(K.events, 'notice.announced', ctx.now_iso,
     {id = ctx.id, announcement = ctx.announcement})
return ok(true)
