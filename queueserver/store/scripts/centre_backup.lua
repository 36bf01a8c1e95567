-- Dump every key of one centre in one atomic step, so a backup never mixes two moments.
-- Not a state change: it reads only. Blocks Redis while it scans (about a second per million
-- keys in the whole database), so run it off-peak.
-- KEYS[1] the centre's event stream (it names the centre's slot)
-- ARGV[1] the centre's key prefix; ARGV[2] a SCAN MATCH pattern that selects it
-- The keys are found by SCAN, so they cannot be declared; they lie in KEYS[1]'s slot (the prefix
-- holds the centre's hash tag).
-- Returns a flat list: key, pttl (-1: none), DUMP payload, key, pttl, payload, ...
local out = {}
local prefix = ARGV[1]
local cursor = '0'
repeat
  local page = redis.call('SCAN', cursor, 'MATCH', ARGV[2], 'COUNT', 1000)
  cursor = page[1]
  for _, key in ipairs(page[2]) do
    if string.sub(key, 1, #prefix) == prefix then
      out[#out + 1] = key
      out[#out + 1] = redis.call('PTTL', key)
      out[#out + 1] = redis.call('DUMP', key)
    end
  end
until cursor == '0'
return out
