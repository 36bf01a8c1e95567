-- with: _appointments
-- with: _bucket
-- with: _gate
-- with: _admit

-- Free places of a centre's slots over many days, in one round trip (the booking page lists up
-- to 31 days at once, and every applicant of an opening rush asks).
-- KEYS (lua.declare): the centre's offers, capacity and outbox (_appointments.lua)
-- ARGV[1] context (_appointments.lua), plus: days = [{date, starts = ['HH:MM', ...]}, ...]
--   (the slots Python found bookable: working days, hours, horizon, notice; a day without
--   `starts` has all of the centre's, `starts` = ['HH:MM', ...])
-- On a single Redis the request's own checks come first, in this same step (_admit.lua), and
-- the days are those of an applicant without the privilege of a block's cancellation: one with
-- it is answered ok({app = ...}), for Python to list its days.
-- Returns ok([[free, ...] per start] per day), 0 for a blocked slot.
local ctx = context()
if ctx.admit then
  local app, answer = admit()
  if app == nil then return answer end
  if privileged(app) then return ok({app = app}) end
end
local out = {}
for i, day in ipairs(ctx.days) do
  local taken = hgetall(slots_key(day.date))
  local closed = hgetall(blocks_key(day.date))
  local cap = capacity(day.date)
  local free = {}
  for j, start in ipairs(day.starts or ctx.starts) do
    free[j] = free_of(taken, closed, cap, start)
  end
  out[i] = free
end
return ok(out)
