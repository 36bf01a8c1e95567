-- standalone: one step of a job that sends a text message.
-- A text message's outcome, once: sent, given up, or dropped (its phone number went with its
-- day). Only a pending message changes; it leaves the pending set in the same step.
-- KEYS[1] the message (keys.notify_delivery); KEYS[2] the centre's pending messages
-- ARGV[1] outcome; ARGV[2] at (ms); ARGV[3] its member in KEYS[2]; ARGV[4] attempts
-- Answers {ok = 1} when this call settled it, {ok = 0} when it was settled already.
if redis.call('HGET', KEYS[1], 'state') ~= 'pending' then return cjson.encode({ok = 0}) end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'settled_ms', ARGV[2], 'attempts', ARGV[4])
redis.call('ZREM', KEYS[2], ARGV[3])
return cjson.encode({ok = 1})
