-- standalone: runs before every request, so it carries no shared helpers.
-- Take one request from a credential's token bucket, in one round trip.
-- KEYS[1] the credential's bucket (a hash: tokens, at_us)
-- ARGV[1] refill per second; ARGV[2] the bucket's size (the burst)
-- Answers {ok = 0} when the request may go on, else {ok = milliseconds until one token is back}.
-- Redis's own TIME, not the injected clock: the allowance is about real seconds, and every web
-- process shares this one clock.
local rate = tonumber(ARGV[1])
local size = tonumber(ARGV[2])
local t = redis.call('TIME')
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local held = redis.call('HMGET', KEYS[1], 'tokens', 'at_us')
local tokens = tonumber(held[1]) or size
local at_us = tonumber(held[2]) or now_us
tokens = math.min(size, tokens + math.max(0, now_us - at_us) * rate / 1000000)
local wait_ms = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait_ms = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at_us', tostring(now_us))
-- A full bucket is the same as none: let an idle credential's bucket go.
redis.call('EXPIRE', KEYS[1], math.ceil(size / rate) + 1)
return cjson.encode({ok = wait_ms})
