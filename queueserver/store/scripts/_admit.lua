-- A /book request's own checks, made by the script that answers it, in the same round trip: on
-- a single Redis, where the address's failures, the application and the centre's keys may meet
-- in one script (on a Redis Cluster they lie in different slots, and Python makes these checks
-- first, with application_gate.lua). Python declares K.failures (keys.token_failures_address),
-- K.application and K.rate (the token's), and puts in the context `admit` = {limit, window_s,
-- rate, burst, well_formed}.
-- In the contract's order (CONTRACT §11): the address past its failures (429), the token (404
-- alike for an unknown, withdrawn or malformed one, each counted as a failure of the address),
-- its allowance (429). Returns the application, or nil and the answer to give instead
-- ({limited_ms = N} for a 429: Python raises it with its Retry-After).
local function admit()
  local a = CTX.admit
  local failures = tonumber(redis.call('GET', K.failures)) or 0
  if failures >= a.limit then
    return nil, ok({limited_ms = math.max(1, redis.call('TTL', K.failures)) * 1000})
  end
  -- A malformed token is looked up as any other, so that it answers in the same time.
  local app, wait_ms = gate(K.application, K.rate, a.rate, a.burst)
  if app == nil or not a.well_formed then
    redis.call('INCR', K.failures)
    -- The window starts at the first failure and is not stretched by later ones.
    redis.call('EXPIRE', K.failures, a.window_s, 'NX')
    return nil, refuse('not_found')
  end
  if wait_ms > 0 then return nil, ok({limited_ms = wait_ms}) end
  return app, nil
end

-- Allowed to book inside the minimum notice: a block cancelled its appointment lately.
local function privileged(app)
  return (tonumber(app.rebook_until_ms) or 0) > CTX.now_ms
end
