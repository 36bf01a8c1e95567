-- Put around every script (lua.py, `source`, puts the script where this file says so): how much
-- work the steps of Lua's incremental garbage collector do. Lua takes a small step as a script
-- allocates; Redis takes a large one after every 50th script call, whichever script it is
-- (`lua_gc(LUA_GCSTEP, 50)`: fifty steps at once), and that one step cost the call it fell in
-- up to hundreds of µs, the calls Redis's SLOWLOG showed over 500 µs under load
-- (docs/benchmarks.md). So a script runs with the step of 100 (at which collection keeps pace:
-- Lua's manual, below 100 it may not), and leaves it at 10 when it returns, so that Redis's
-- step after it does a tenth of that work; the small steps taken as scripts run do the rest.
-- The setting is the Lua state's, which a restart or SCRIPT FLUSH resets: every script sets it
-- again, a call of a fraction of a microsecond. A script that raises an error leaves it at 100.
local _ = collectgarbage('setstepmul', 100)
local answer = (function(...)
-- the script --
end)(...)
_ = collectgarbage('setstepmul', 10)
return answer
