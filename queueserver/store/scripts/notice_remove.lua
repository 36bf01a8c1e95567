-- Remove a notice (the supervisor's DELETE), with its event; the notice of a closure goes only
-- when issuing reopens.
-- KEYS (K, see _lib.lua) the notices' (keys.notice_keys): events, notices, notice_order,
--         notice_expiry, notice_sequence, issuing
-- ARGV[1] context, plus id
local ctx = context()
if redis.call('HEXISTS', K.notices, ctx.id) == 0 then
  return refuse('not_found', {status = 404})
end
local closure = issuing_closure()
if closure and closure.notice == ctx.id then return refuse('closure_notice') end
remove_notice(ctx.id, with_by({}))
return ok(cjson.null)
