-- The worker has rendered a notice's announcement: tell the displays which clips to play, unless
-- the notice was removed meanwhile (then nobody should hear it).
-- KEYS[1] the centre's event stream
-- ARGV[1] context, plus id, announcement {text, clips}
local ctx = context()
if redis.call('HEXISTS', k('notices'), ctx.id) == 0 then return ok(false) end
emit(k('events'), 'notice.announced', ctx.now_iso,
     {id = ctx.id, announcement = ctx.announcement})
return ok(true)
