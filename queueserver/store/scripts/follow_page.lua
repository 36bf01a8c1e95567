-- with: _follow
-- One page of what follow_state.lua reads whole with `full`: a range of the day's tickets, or of
-- a queue's order (fanout.py's PAGE_TICKETS, PAGE_QUEUE), with the stream id it was read at. The fan-out reads a busy day a page
-- at a time, so that no script holds Redis for the length of a day (every centre on that Redis
-- waits while one runs), and keeps the pages only if every one was read at the same id: no
-- change in between (every change to a ticket or a queue appends its event in the same script).
-- KEYS (K, see _lib.lua) the centre's day
-- ARGV[1] context, plus `start` and `count` (a range of the day's tickets, in issue order), or
--         with `queue`, a range of that service's waiting order
-- Returns ok({items, more, last_event_id}): `more` when the range was full, so more may follow.
local ctx = context()
local stop = ctx.start + ctx.count - 1
local out = {}
if ctx.queue then
  out.items = redis.call('ZRANGE', K.queue[ctx.queue], ctx.start, stop)
  out.more = #out.items == ctx.count
else
  local numbers = redis.call('LRANGE', K.day_tickets, ctx.start, stop)
  out.items = follow_rows(numbers)
  out.more = #numbers == ctx.count
end
out.last_event_id = last_event_id()
return ok(out)
