-- Keep or let go of a booking feed's sync lock, only while it is still the caller's: a sync
-- that stalled past the lock's life must not extend or delete the lock of the sync after it.
-- Not a centre's state: no event.
-- KEYS[1] the lock (keys.booking_feed_lock)
-- ARGV[1] 'keep' or 'release'
-- ARGV[2] the value the caller set when it took the lock
-- ARGV[3] keep: the lock's new life, in milliseconds
-- Returns ok(true), or refuse('lock_lost') when it expired or another sync holds it.
if redis.call('GET', KEYS[1]) ~= ARGV[2] then return refuse('lock_lost') end
if ARGV[1] == 'release' then
  redis.call('DEL', KEYS[1])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return ok(true)
