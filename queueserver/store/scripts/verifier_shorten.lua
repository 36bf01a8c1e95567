-- standalone: one small step per booking or receipt, run by the maintenance job.
-- Cut a kiosk verifier stored before CONTRACT §5 made it 16 bits down to that length, in one
-- step, so an erasure that empties it at the same moment is never undone.
-- KEYS[1] a booking (keys.booking) or a receipt (keys.receipt)
-- ARGV[1] the verifier's length in hex characters (identity.VERIFIER_HEX)
-- Answers {ok = 1} when it was cut, else {ok = 0}.
local n = tonumber(ARGV[1])
local stored = redis.call('HGET', KEYS[1], 'id_verifier')
if not stored or #stored <= n then return cjson.encode({ok = 0}) end
redis.call('HSET', KEYS[1], 'id_verifier', string.sub(stored, 1, n))
return cjson.encode({ok = 1})
