-- Put before every script (lua.py, `source`): how much work each step of Lua's incremental
-- garbage collector does. Redis takes a step inside every 50th script call, whichever script it
-- is, and with Lua's default (200) that step cost the script it fell in 100-450 µs, most of the
-- calls Redis's SLOWLOG showed over 500 µs under load (docs/benchmarks.md). At 100 each step does
-- half the work and collection still keeps pace (Lua's manual: below 100 it may not). The
-- setting is the Lua state's, which a restart or SCRIPT FLUSH resets: every script sets it again,
-- a call of a fraction of a microsecond.
local _ = collectgarbage('setstepmul', 100)
