-- with: _appointments

-- Join a full day's waiting list: refused while any of its slots still has a free place.
-- KEYS (lua.declare): the centre's offers, capacity and outbox (_appointments.lua)
-- ARGV[1] context (_appointments.lua), plus: ref, date, starts (the day's bookable starts)
-- Returns ok(place in line, from 1); refusal day_not_full.
local ctx = context()
local cap = capacity(ctx.date)
local taken = hgetall(slots_key(ctx.date))
local closed = hgetall(blocks_key(ctx.date))
for _, start in ipairs(ctx.starts) do
  local used = (tonumber(taken[start]) or 0) + (tonumber(taken['held:' .. start]) or 0)
  if closed[start] == nil and used < cap then return refuse('day_not_full') end
end
local line = waitlist_key(ctx.date)
redis.call('ZADD', line, 'NX', ctx.now_ms, ctx.ref)
return ok(redis.call('ZRANK', line, ctx.ref) + 1)
