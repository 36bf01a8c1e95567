-- with: _appointments

-- Offers from the waiting lists that lapsed unanswered: each place passes to the next in line
-- (or is free again), in one step per centre.
-- KEYS[1] the centre's open offers (keys.offers)
-- ARGV[1] context (_appointments.lua)
-- Returns ok(the number of offers that lapsed).
local ctx = context()
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ctx.now_ms)
for _, ref in ipairs(lapsed) do drop_offer(ref, true) end
return ok(#lapsed)
