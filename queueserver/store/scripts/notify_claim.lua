-- standalone: a text message is made once per ticket and kind, whoever asks (CONTRACT §9).
-- Make one text message of one ticket, once: only for a ticket that gave a phone number, and
-- only the first time, however many workers see the event that calls for it.
-- KEYS[1] the day's phone numbers (keys.phones); KEYS[2] the message (keys.notify_delivery);
-- KEYS[3] the centre's pending messages (keys.notify_pending)
-- ARGV[1] delivery id; ARGV[2] made at (ms); ARGV[3] counter ('' for none); ARGV[4] people
-- ahead ('' for none); ARGV[5] seconds the record is kept; ARGV[6] its member in KEYS[3];
-- ARGV[7] the ticket's number
-- Answers {ok = 1} when it made the message, else {ok = 0}.
if redis.call('HEXISTS', KEYS[1], ARGV[7]) == 0 or redis.call('EXISTS', KEYS[2]) == 1 then
  return cjson.encode({ok = 0})
end
redis.call('HSET', KEYS[2], 'state', 'pending', 'delivery', ARGV[1], 'created_ms', ARGV[2],
           'counter', ARGV[3], 'ahead', ARGV[4])
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[5]))
redis.call('ZADD', KEYS[3], tonumber(ARGV[2]), ARGV[6])
return cjson.encode({ok = 1})
