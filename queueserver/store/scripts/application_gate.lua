-- standalone: runs before every /book request, so it carries no shared helpers.
-- with: _bucket
-- with: _gate

-- The first step of every /book request (on a Redis Cluster, and for the routes that do not
-- answer in one script): the application its booking token names, and one request taken from
-- that token's allowance, together (_gate.lua).
-- KEYS[1] the application (keys.application); KEYS[2] its token's bucket (keys.application_rate)
-- ARGV[1] refill per second; ARGV[2] the bucket's size (the burst)
-- Answers {ok = {app = {...fields}, wait_ms = N}} for an approved application, else
-- {ok = {}}: an unknown token and a withdrawn application's look the same, and take nothing.
local app, wait_ms = gate(KEYS[1], KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]))
if app == nil then return cjson.encode({ok = {}}) end
return cjson.encode({ok = {app = app, wait_ms = wait_ms}})
