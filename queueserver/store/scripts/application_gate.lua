-- standalone: runs before every /book request, so it carries no shared helpers.
-- with: _bucket

-- The first step of every /book request: the application its booking token names, and one
-- request taken from that token's allowance (a device credential's, _bucket.lua), together.
-- KEYS[1] the application (keys.application); KEYS[2] its token's bucket (keys.application_rate)
-- ARGV[1] refill per second; ARGV[2] the bucket's size (the burst)
-- Answers {ok = {app = {...fields}, wait_ms = N}} for an approved application, else
-- {ok = {}}: an unknown token and a withdrawn application's look the same, and take nothing.
local flat = redis.call('HGETALL', KEYS[1])
local app = {}
for i = 1, #flat, 2 do app[flat[i]] = flat[i + 1] end
if app.status ~= 'approved' then return cjson.encode({ok = {}}) end
local wait_ms = take_token(KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]))
return cjson.encode({ok = {app = app, wait_ms = wait_ms}})
