-- A token bucket (rate_limit.lua, application_gate.lua): take one request from the bucket at
-- `key` (a hash: tokens, at_us), refilled at `rate` a second up to `size`. Returns 0 when the
-- request may go on, else the milliseconds until one token is back.
-- Redis's own TIME, not the injected clock: the allowance is about real seconds, and every web
-- process shares this one clock.
local function take_token(key, rate, size)
  local t = redis.call('TIME')
  local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local held = redis.call('HMGET', key, 'tokens', 'at_us')
  local tokens = tonumber(held[1]) or size
  local at_us = tonumber(held[2]) or now_us
  tokens = math.min(size, tokens + math.max(0, now_us - at_us) * rate / 1000000)
  local wait_ms = 0
  if tokens >= 1 then
    tokens = tokens - 1
  else
    wait_ms = math.ceil((1 - tokens) * 1000 / rate)
  end
  redis.call('HSET', key, 'tokens', tostring(tokens), 'at_us', tostring(now_us))
  -- A full bucket is the same as none: let an idle credential's bucket go.
  redis.call('EXPIRE', key, math.ceil(size / rate) + 1)
  return wait_ms
end
