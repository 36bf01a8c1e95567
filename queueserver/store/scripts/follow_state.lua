-- with: _follow
-- What a web process's follow fan-out needs of a centre (queueserver/follow/fanout.py), read in
-- one atomic step, with the stream id it is all valid at: what estimates every waiting place
-- (`estimate_inputs`: the open counters, the mean service times, each queue's length) and the
-- hall's notices; with `full`, also every queue's order and each of the day's tickets as the
-- follow page shows it (the fan-out applies only later events). A busy day's queues and tickets
-- are read a page at a time instead (follow_page.lua); `full` is for a day that never keeps
-- still for as long as its pages take.
-- KEYS (K, see _lib.lua) the centre's day
-- ARGV[1] context, plus services [codes], full (bool)
local ctx = context()
local out = estimate_inputs(ctx.services)
if ctx.full then
  out.queues = {}
  for _, s in ipairs(ctx.services) do
    out.queues[s] = redis.call('ZRANGE', K.queue[s], 0, -1)
  end
  out.tickets = follow_rows(redis.call('LRANGE', K.day_tickets, 0, -1))
end
out.notices = current_notices(ctx.now_ms)
out.issuing = issuing_closure() == nil
out.last_event_id = last_event_id()
-- (cjson writes an empty table as {}: Python reads either as empty.)
return ok(out)
