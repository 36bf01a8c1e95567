-- Put one centre back as a backup holds it, in one atomic step: every key the centre has now
-- is deleted, then each key of the backup restored with its remaining time to live. Appends no
-- event: the stream itself is put back, and screens that saw later events are sent a fresh
-- board when they reconnect (their `after=` is newer than the restored stream's last id).
-- Blocks Redis while it scans, like centre_backup.lua.
-- KEYS[1] the centre's event stream; KEYS[2] a scratch key of the centre, where each payload
--         is tried first: Redis does not undo a script's writes when a later command fails, so
--         a payload that cannot be restored (another Redis version) must be found before any
--         key is deleted; KEYS[3..] the backup's keys
-- ARGV[1] the centre's key prefix; ARGV[2] a SCAN MATCH pattern that selects it;
-- ARGV[3..] for each of KEYS[3..] in turn: pttl (-1: none), DUMP payload
-- Refuses with bad_request, changing nothing, when a key of the backup is not the centre's.
-- The keys the centre has now are found by SCAN, so they cannot be declared; they lie in the
-- declared keys' slot (the prefix holds the centre's hash tag).
local prefix = ARGV[1]
for i = 3, #KEYS do
  if string.sub(KEYS[i], 1, #prefix) ~= prefix then
    return refuse('bad_request', {key = KEYS[i]})
  end
end
for i = 3, #KEYS do
  local tried = redis.pcall('RESTORE', KEYS[2], 0, ARGV[2 * i - 2], 'REPLACE')
  redis.call('DEL', KEYS[2])
  if type(tried) == 'table' and tried.err then
    return refuse('bad_request', {key = KEYS[i], reason = tried.err})
  end
end
local deleted = 0
local cursor = '0'
repeat
  local page = redis.call('SCAN', cursor, 'MATCH', ARGV[2], 'COUNT', 1000)
  cursor = page[1]
  for _, key in ipairs(page[2]) do
    if string.sub(key, 1, #prefix) == prefix then
      deleted = deleted + redis.call('DEL', key)
    end
  end
until cursor == '0'
local restored = 0
for i = 3, #KEYS do
  local ttl = tonumber(ARGV[2 * i - 3])
  if ttl < 0 then ttl = 0 end
  redis.call('RESTORE', KEYS[i], ttl, ARGV[2 * i - 2], 'REPLACE')
  restored = restored + 1
end
return ok({deleted = deleted, restored = restored})
