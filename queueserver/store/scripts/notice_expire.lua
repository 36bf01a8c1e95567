-- Remove the notices whose `until` has passed, each with its `notice.removed`. Every web process
-- and worker runs this every second; a notice is removed by whichever runs first, once.
-- KEYS (K, see _lib.lua) the notices' (keys.notice_keys): events, notices, notice_order,
--         notice_expiry, notice_sequence, issuing
-- ARGV[1] context (now_ms, now_iso)
local ctx = context()
-- Bounded per run: a backlog is worked off over the next runs, a second apart.
local due = redis.call('ZRANGEBYSCORE', K.notice_expiry, '-inf', ctx.now_ms, 'LIMIT', 0, 100)
local removed = 0
for _, id in ipairs(due) do
  if remove_notice(id, {reason = 'expired'}) then
    removed = removed + 1
  else
    redis.call('ZREM', K.notice_expiry, id)
  end
end
return ok(removed)
