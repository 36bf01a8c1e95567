-- with: _appointments

-- Offers from the waiting lists that lapsed unanswered: each place passes to the next in line
-- (or is free again), in one step per centre.
-- KEYS (lua.declare): the centre's offers, capacity and outbox (_appointments.lua)
-- ARGV[1] context (_appointments.lua)
-- Returns ok(the number of offers that lapsed).
local ctx = context()
local lapsed = redis.call('ZRANGEBYSCORE', K.offers, '-inf', ctx.now_ms)
for _, ref in ipairs(lapsed) do drop_offer(ref, true) end
return ok(#lapsed)
