-- The gate of a /book request (application_gate.lua, and on a single Redis the scripts that
-- answer the request in the same round trip: _admit.lua): the application a booking token
-- names, and one request taken from that token's allowance (a device credential's,
-- _bucket.lua). Returns the application's fields and the milliseconds to wait (0: go on), or
-- nil for an unknown token or a withdrawn application, which take nothing.
local function gate(app_key, rate_key, rate, size)
  local flat = redis.call('HGETALL', app_key)
  local app = {}
  for i = 1, #flat, 2 do app[flat[i]] = flat[i + 1] end
  if app.status ~= 'approved' then return nil, 0 end
  return app, take_token(rate_key, rate, size)
end
