-- Empty a booking's personal fields, leaving what the statistics need (date, slot, type,
-- status), and take it out of the identity index; with a collected receipt, its identity hash
-- and verifier go too. Not a screen event: the caller's audit stream records it.
-- KEYS[1] the booking hash (keys.booking); KEYS[2] its history (keys.booking_history);
-- KEYS[3] the audit stream (keys.privacy_log); KEYS[4] optional: a receipt (keys.receipt)
-- ARGV[1] the identity indexes' prefix (keys.bookings_by_id with ''); ARGV[2] the time
--         (ISO 8601); ARGV[3] why: 'purge' | 'erase'
-- ARGV[4] the acting credential's id; ARGV[5] the booking reference's keyed hash (for the log)
-- Returns ok('erased'), or ok('none') when there was nothing personal left to remove.
local at, why, by = ARGV[2], ARGV[3], ARGV[4]
local PERSONAL = {'surname', 'given_names', 'id_hash', 'id_masked', 'id_verifier',
                  'passport_no', 'nationality'}
local b = hgetall(KEYS[1])
local removed = {}
for _, name in ipairs(PERSONAL) do
  if (b[name] or '') ~= '' then table.insert(removed, name) end
end
if b.id_hash and b.id_hash ~= '' then
  redis.call('SREM', ARGV[1] .. b.id_hash, b.ref)  -- key from data: the booking's identity hash
end
-- Emptied, not deleted: every reader of a booking or receipt expects its fields to be there.
if KEYS[4] then redis.call('HSET', KEYS[4], 'id_hash', '', 'id_verifier', '') end
if #removed == 0 then return ok('none') end
for _, name in ipairs(removed) do redis.call('HSET', KEYS[1], name, '') end
redis.call('HSET', KEYS[1], 'personal_removed_at', at, 'personal_removed_because', why)
redis.call('RPUSH', KEYS[2], cjson.encode({at = at, source = why, change = 'personal_removed',
                                           fields = removed}))
redis.call('XADD', KEYS[3], '*', 'type', 'personal_data.' .. why, 'at', at,
           'data', cjson.encode({by = by, ref_hash = ARGV[5], fields = removed}))
return ok('erased')
