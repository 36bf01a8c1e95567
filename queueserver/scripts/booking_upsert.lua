-- Write one booking row into one centre, or leave a tombstone there when the booking moves to
-- another centre. Compare and write happen together, so a row is applied exactly once. Never
-- touches the `ticket` field (check-in owns it), nor the centre's event stream (bookings are
-- not screen events). History entries name the changed fields, never their values.
-- KEYS[1] the booking hash (keys.booking)
-- KEYS[2] its history list (keys.booking_history)
-- ARGV[1] mode: 'upsert' or 'move_out'
-- ARGV[2] upsert: the stored fields, a JSON array of [name, value] pairs in their order;
--         move_out: the centre the booking moves to
-- ARGV[3] the time (ISO 8601)
-- ARGV[4] the source: the file name, or 'feed'
-- ARGV[5] upsert: the record it moves in from (JSON object, from move_out), or '' if none
-- Returns ok(outcome) for upsert: 'imported' | 'updated' | 'cancelled' | 'unchanged';
--         ok(the record before the move) for move_out ({} when there was none).
local mode, at, source = ARGV[1], ARGV[3], ARGV[4]
local current = hgetall(KEYS[1])

local function record(change, names, extra)
  local entry = {at = at, source = source, change = change, fields = names}
  for key, value in pairs(extra) do entry[key] = value end
  redis.call('RPUSH', KEYS[2], cjson.encode(entry))
end

if mode == 'move_out' then
  -- Already a tombstone (an earlier run stopped half-way): the copy is still to be written.
  if current.ref ~= nil and current.status ~= 'moved' then
    redis.call('HSET', KEYS[1], 'status', 'moved', 'updated_at', at, 'source', source)
    record('moved_out', {'status'}, {to = ARGV[2]})
  end
  current.ticket = nil
  return ok(current)
end

local moving = ARGV[5] ~= ''
local before = current
if moving then before = cjson.decode(ARGV[5]) end
-- A tombstone counts as nothing: the booking lives elsewhere, or is being written again.
local known = before.status ~= nil and before.status ~= 'moved'
local was = known and before.status or nil

local status, changed, flat = nil, {}, {}
for _, pair in ipairs(cjson.decode(ARGV[2])) do
  local name, value = pair[1], pair[2]
  if name == 'status' then status = value end
  if not known or before[name] ~= value then changed[#changed + 1] = name end
  flat[#flat + 1] = name
  flat[#flat + 1] = value
end
if #changed == 0 and not moving then return ok('unchanged') end

local cancels = status == 'cancelled' and was ~= 'cancelled'
local outcome, change = 'updated', 'updated'
if cancels then outcome = 'cancelled' elseif not known then outcome = 'imported' end
if moving then change = 'moved_in'
elseif not known then change = 'created'
elseif cancels then change = 'cancelled'
elseif was == 'cancelled' and status == 'approved' then change = 'reinstated'
end

flat[#flat + 1] = 'updated_at'
flat[#flat + 1] = at
flat[#flat + 1] = 'source'
flat[#flat + 1] = source
redis.call('HSET', KEYS[1], unpack(flat))
record(change, changed, {from = moving and before.centre or nil})
return ok(outcome)
