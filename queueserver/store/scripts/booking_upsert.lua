-- Write one booking row into one centre, or leave a tombstone there when the booking moves to
-- another centre. Compare and write happen together, so a row is applied exactly once. Never
-- touches the `ticket` field (check-in owns it), nor the centre's event stream (bookings are
-- not screen events). History entries name the changed fields, never their values.
--
-- A booking already checked in (a non-empty `ticket`) keeps what it was checked in with: a row
-- that differs is held, not applied. The hold is recorded once per distinct row (`held_fp`,
-- `held_fields` on the booking, a 'held' history entry), and withdrawn when a later row agrees
-- with the booking again.
--
-- KEYS[1] the booking hash (keys.booking)
-- KEYS[2] its history list (keys.booking_history)
-- KEYS[3] the day list of the row's date (keys.bookings_on)
-- KEYS[4] the identity index of the row's identity hash (keys.bookings_by_id)
-- ARGV[1] mode: 'upsert', or 'move_out' (KEYS are the old centre's; the row names the new one)
-- ARGV[2] the row's stored fields, a JSON array of [name, value] pairs in their order
-- ARGV[3] the time (ISO 8601)
-- ARGV[4] the source: the file name, or 'feed'
-- ARGV[5] upsert: the record it moves in from (JSON object, from move_out), or '' if none
-- ARGV[6] the fingerprint of the file's last row for this booking, on its first row only (else
--         ''): a stored record (or hold) with that fingerprint means the file was applied before
-- ARGV[7], ARGV[8] the prefixes of the day lists and identity indexes (keys.bookings_on and
--         keys.bookings_by_id with ''), for a stored record filed under another date or hash
-- Returns ok('settled') when the record already has ARGV[6]'s fingerprint (nothing written);
--         ok({outcome = 'held', ticket, fields, settled}) for a checked-in booking the row
--         would change; else for upsert ok('imported' | 'updated' | 'cancelled' | 'unchanged'),
--         for move_out ok({before = the record before the move}).
local mode, at, source = ARGV[1], ARGV[3], ARGV[4]
local row = cjson.decode(ARGV[2])
local current = hgetall(KEYS[1])
local new = {}
for _, pair in ipairs(row) do new[pair[1]] = pair[2] end

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

local function differing(record_)
  local names = {}
  for _, pair in ipairs(row) do
    if record_[pair[1]] ~= pair[2] then names[#names + 1] = pair[1] end
  end
  return names
end

local function live(b)
  return b.status ~= nil and b.status ~= 'moved'
end

-- The day list and the identity index hold the centre's live bookings; adding again is harmless
-- (and fills them in for records written before they existed). The row's are declared; a stored
-- record's date and identity hash are read here and may differ from the row's.
local function day_list(b)
  if b.date == new.date then return KEYS[3] end
  return ARGV[7] .. b.date  -- key from data: the stored record's date
end

local function id_index(b)
  if b.id_hash == new.id_hash then return KEYS[4] end
  return ARGV[8] .. b.id_hash  -- key from data: the stored record's identity hash
end

local function index(b)
  local h, m = string.match(b.slot_start, '^(%d+):(%d+)$')
  redis.call('ZADD', day_list(b), tonumber(h) * 60 + tonumber(m), b.ref)
  redis.call('SADD', id_index(b), b.ref)
end

local function unindex(b)
  if b.date then redis.call('ZREM', day_list(b), b.ref) end
  if b.id_hash then redis.call('SREM', id_index(b), b.ref) end
end

local function split(text)
  local out = {}
  for name in string.gmatch(text or '', '[^,]+') do out[#out + 1] = name end
  return out
end

local function held(fields, settled)
  return ok({outcome = 'held', ticket = current.ticket, fields = fields, settled = settled})
end

local checked_in = live(current) and current.ticket ~= nil and current.ticket ~= ''

if ARGV[6] ~= '' then
  if current.held_fp == nil and fingerprint(current) == ARGV[6] then
    if live(current) then index(current) end
    return ok('settled')
  end
  if checked_in and current.held_fp == ARGV[6] then
    return held(split(current.held_fields), true)
  end
end

if checked_in then
  local changed = differing(current)
  if #changed == 0 then
    if current.held_fp ~= nil then
      redis.call('HDEL', KEYS[1], 'held_fp', 'held_fields')
      record('held_withdrawn', {}, {ticket = current.ticket})
    end
    index(current)
    return ok('unchanged')
  end
  local fp = fingerprint(new)
  if current.held_fp ~= fp then
    redis.call('HSET', KEYS[1], 'held_fp', fp, 'held_fields', table.concat(changed, ','))
    local extra = {ticket = current.ticket}
    if new.centre ~= current.centre then extra.to = new.centre end
    if new.status ~= current.status then extra.status = new.status end
    record('held', changed, extra)
  end
  return held(changed, false)
end

if mode == 'move_out' then
  -- Already a tombstone (an earlier run stopped half-way): the copy is still to be written.
  if live(current) then
    redis.call('HSET', KEYS[1], 'status', 'moved', 'updated_at', at, 'source', source)
    record('moved_out', {'status'}, {to = new.centre})
    unindex(current)
  end
  current.ticket = nil
  return ok({before = current})
end

local moving = ARGV[5] ~= ''
local before = current
if moving then before = cjson.decode(ARGV[5]) end
-- A tombstone counts as nothing: the booking lives elsewhere, or is being written again.
local known = live(before)
local was = known and before.status or nil

local changed, flat = {}, {}
if known then changed = differing(before) else
  for _, pair in ipairs(row) do changed[#changed + 1] = pair[1] end
end
if #changed == 0 and not moving then
  index(current)
  return ok('unchanged')
end
for _, pair in ipairs(row) do
  flat[#flat + 1] = pair[1]
  flat[#flat + 1] = pair[2]
end

local status = new.status
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
if live(current) then unindex(current) end
redis.call('HSET', KEYS[1], unpack(flat))
index(new)
record(change, changed, {from = moving and before.centre or nil})
return ok(outcome)
