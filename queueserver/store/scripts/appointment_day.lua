-- with: _appointments

-- The supervisor's view of one day's slots: capacity, places booked and held, appointments
-- checked in, blocks.
-- KEYS (lua.declare): the centre's offers, capacity and outbox (_appointments.lua)
-- ARGV[1] context (_appointments.lua), plus: date, starts (the day's slot starts)
-- Returns ok([{capacity, booked, held, checked_in, blocked (its reasons, JSON) | false}]).
local ctx = context()
local taken = hgetall(slots_key(ctx.date))
local closed = hgetall(blocks_key(ctx.date))
local cap = capacity(ctx.date)
local arrived = {}
for _, ref in ipairs(redis.call('ZRANGE', day_key(ctx.date), 0, -1)) do
  local got = redis.call('HMGET', booking_key(ref), 'status', 'appointment', 'ticket',
                        'slot_start')
  if got[1] == 'approved' and got[2] == '1' and (got[3] or '') ~= '' then
    arrived[got[4]] = (arrived[got[4]] or 0) + 1
  end
end
local out = {}
for i, start in ipairs(ctx.starts) do
  out[i] = {capacity = cap, booked = tonumber(taken[start]) or 0,
            held = tonumber(taken['held:' .. start]) or 0, checked_in = arrived[start] or 0,
            blocked = closed[start] or false}
end
return ok(out)
