-- What a web process's follow fan-out needs of a centre (queueserver/follow/fanout.py), read in
-- one atomic step, with the stream id it is all valid at: what estimates every waiting place
-- (`estimate_inputs`: the open counters, the mean service times, each queue's length) and the
-- hall's notices; with `full`, also every queue's order and each of the day's tickets as the
-- follow page shows it (the fan-out applies only later events).
-- KEYS (K, see _lib.lua) the centre's day
-- ARGV[1] context, plus services [codes], full (bool)
local ctx = context()
local out = estimate_inputs(ctx.services)
if ctx.full then
  out.queues = {}
  for _, s in ipairs(ctx.services) do
    out.queues[s] = redis.call('ZRANGE', K.queue[s], 0, -1)
  end
  out.tickets = {}
  for _, number in ipairs(redis.call('LRANGE', K.day_tickets, 0, -1)) do
    local f = redis.call('HMGET', ticket_key(number), 'service', 'status', 'counter',
                         'called_at', 'recalls')
    if f[1] then
      out.tickets[#out.tickets + 1] = {number, f[1], f[2], f[3] or '', f[4] or '',
                                       tonumber(f[5] or '0')}
    end
  end
end
out.notices = current_notices(ctx.now_ms)
out.issuing = issuing_closure() == nil
local last = redis.call('XREVRANGE', K.events, '+', '-', 'COUNT', 1)
out.last_event_id = '0-0'
if #last == 1 then out.last_event_id = last[1][1] end
-- (cjson writes an empty table as {}: Python reads either as empty.)
return ok(out)
