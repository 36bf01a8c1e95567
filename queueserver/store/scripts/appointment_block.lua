-- with: _appointments

-- Block slots of a day (no new bookings there); with `cancel` (a typhoon day) also cancel the
-- appointments booked in them on this platform, each applicant emailed to rebook. Places held
-- there for offers are withdrawn. Bookings imported from another platform are its to cancel.
-- KEYS (lua.declare): the centre's offers, capacity and outbox (_appointments.lua)
-- ARGV[1] context (_appointments.lua), plus: date, starts (the slots blocked), reason (JSON:
--   reason_en, reason_zh, by, at), cancel (bool)
-- Returns ok({blocked = N, cancelled = [booking references]}).
local ctx = context()
local within = {}
for _, start in ipairs(ctx.starts) do
  within[start] = true
  redis.call('HSET', blocks_key(ctx.date), start, ctx.reason)
end
local cancelled = {}
for _, ref in ipairs(redis.call('ZRANGE', K.offers, 0, -1)) do
  local o = redis.call('HMGET', offer_key(ref), 'date', 'start')
  if o[1] == ctx.date and within[o[2]] then drop_offer(ref, false) end
end
if ctx.cancel then
  for _, ref in ipairs(redis.call('ZRANGE', day_key(ctx.date), 0, -1)) do
    local key = booking_key(ref)
    local b = hgetall(key)
    if b.status == 'approved' and b.appointment == '1' and (b.ticket or '') == ''
        and within[b.slot_start] then
      redis.call('HSET', key, 'status', 'cancelled', 'updated_at', ctx.now_iso)
      local version = redis.call('HINCRBY', key, 'version', 1)
      history(history_key(ref), 'cancelled', {'status'}, {because = 'blocked'})
      local slots = slots_key(ctx.date)
      if (tonumber(redis.call('HGET', slots, b.slot_start)) or 0) > 0 then
        redis.call('HINCRBY', slots, b.slot_start, -1)
      end
      outbox({kind = 'rebook', key = 'rebook/' .. ref .. '/' .. ctx.centre .. '/' .. version,
              ref = ref, date = ctx.date, start = b.slot_start, ['end'] = b.slot_end})
      cancelled[#cancelled + 1] = ref
    end
  end
end
return ok({blocked = #ctx.starts, cancelled = cancelled})
