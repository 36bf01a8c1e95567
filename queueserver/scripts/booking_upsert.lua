-- Write one booking row into one centre, or leave a tombstone there when the booking moves to
-- another centre. Compare and write happen together, so a row is applied exactly once. Never
-- touches the `ticket` field (check-in owns it), nor the centre's event stream (bookings are
-- not screen events). History entries name the changed fields, never their values.
-- KEYS[1] the booking hash (keys.booking)
-- KEYS[2] its history list (keys.booking_history)
-- ARGV[1] mode: 'upsert', or 'move_out' (KEYS are the old centre's; the row names the new one)
-- ARGV[2] the row's stored fields, a JSON array of [name, value] pairs in their order
-- ARGV[3] the time (ISO 8601)
-- ARGV[4] the source: the file name, or 'feed'
-- ARGV[5] upsert: the record it moves in from (JSON object, from move_out), or '' if none
-- ARGV[6] the fingerprint of the file's last row for this booking, on its first row only (else
--         ''): a stored record with that fingerprint means the file was applied before
-- Returns ok('settled') when the record already has ARGV[6]'s fingerprint (nothing written);
--         else for upsert ok('imported' | 'updated' | 'cancelled' | 'unchanged'),
--         for move_out ok({before = the record before the move}).
local mode, at, source = ARGV[1], ARGV[3], ARGV[4]
local row = cjson.decode(ARGV[2])
local current = hgetall(KEYS[1])

local function record(change, names, extra)
  local entry = {at = at, source = source, change = change, fields = names}
  for key, value in pairs(extra) do entry[key] = value end
  redis.call('RPUSH', KEYS[2], cjson.encode(entry))
end

-- The same canonical form as BookingStore.fingerprint: name=byte length:value, joined by ';'.
local function fingerprint(fields)
  local parts = {}
  for _, pair in ipairs(row) do
    local value = fields[pair[1]] or ''
    parts[#parts + 1] = pair[1] .. '=' .. #value .. ':' .. value
  end
  return redis.sha1hex(table.concat(parts, ';'))
end

if ARGV[6] ~= '' and fingerprint(current) == ARGV[6] then return ok('settled') end

if mode == 'move_out' then
  -- Already a tombstone (an earlier run stopped half-way): the copy is still to be written.
  if current.ref ~= nil and current.status ~= 'moved' then
    local to = nil
    for _, pair in ipairs(row) do if pair[1] == 'centre' then to = pair[2] end end
    redis.call('HSET', KEYS[1], 'status', 'moved', 'updated_at', at, 'source', source)
    record('moved_out', {'status'}, {to = to})
  end
  current.ticket = nil
  return ok({before = current})
end

local moving = ARGV[5] ~= ''
local before = current
if moving then before = cjson.decode(ARGV[5]) end
-- A tombstone counts as nothing: the booking lives elsewhere, or is being written again.
local known = before.status ~= nil and before.status ~= 'moved'
local was = known and before.status or nil

local status, changed, flat = nil, {}, {}
for _, pair in ipairs(row) do
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
