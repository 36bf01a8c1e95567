-- with: _appointments

-- Free places of a centre's slots over many days, in one round trip (the booking page lists up
-- to 31 days at once, and every applicant of an opening rush asks).
-- KEYS (lua.declare): the centre's offers, capacity and outbox (_appointments.lua)
-- ARGV[1] context (_appointments.lua), plus: days = [{date, starts = ['HH:MM', ...]}, ...]
--   (the slots Python found bookable: working days, hours, horizon, notice)
-- Returns ok([[free, ...] per start] per day), 0 for a blocked slot.
local ctx = context()
local out = {}
for i, day in ipairs(ctx.days) do
  local taken = hgetall(slots_key(day.date))
  local closed = hgetall(blocks_key(day.date))
  local cap = capacity(day.date)
  local free = {}
  for j, start in ipairs(day.starts) do
    local f = 0
    if closed[start] == nil then
      f = math.max(0, cap - (tonumber(taken[start]) or 0) - (tonumber(taken['held:' .. start]) or 0))
    end
    free[j] = f
  end
  out[i] = free
end
return ok(out)
