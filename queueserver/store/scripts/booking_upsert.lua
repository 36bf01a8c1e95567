-- Write booking rows into one centre, or leave a tombstone there when a booking moves to
-- another centre. Compare and write happen together, so a row is applied exactly once. Never
-- touches the `ticket` field (check-in owns it), nor the centre's event stream (bookings are
-- not screen events). History entries name the changed fields, never their values.
--
-- Rows apply in order, a few a call, many calls a round trip. A call stays short, since every
-- centre on this Redis waits while it runs: given a budget (ARGV[7]), it stops once that much
-- time has passed, before a row of a booking it has not touched yet, and answers for the rows
-- it applied; the caller sends the rest again (store.py, `CALL_BUDGET_US`). A call writes one
-- centre's keys, all found under the prefixes it is given, so that on a cluster they share
-- the centre's slot.
--
-- A booking already checked in (a non-empty `ticket`) keeps what it was checked in with: a row
-- that differs is held, not applied. The hold is recorded once per distinct row (`held_fp`,
-- `held_fields` on the booking, a 'held' history entry), and withdrawn when a later row agrees
-- with the booking again.
--
-- KEYS[1..4] the centre's prefixes (keys.* with ''): the bookings (keys.booking), their
--         history lists (keys.booking_history), the day lists (keys.bookings_on) and the
--         identity indexes (keys.bookings_by_id)
-- ARGV[1] mode: 'upsert', or 'move_out' (one row; KEYS are the old centre's, the row names
--         the new one)
-- ARGV[2] the time (ISO 8601)
-- ARGV[3] the source: the file name, or 'feed'
-- ARGV[4] upsert of one row: the record it moves in from (JSON object, from move_out), or ''
-- ARGV[5] the stored fields' names, in their order, joined by ','
-- ARGV[6] the rows, JSON: an array of arrays, each the fingerprint of the file's last
--         row for this booking on its first row only (else ''), then the row's stored field
--         values in the names' order. A stored record (or hold) with that fingerprint means
--         the file was applied before.
-- ARGV[7] upsert: the call's budget in µs, or '' for none (a move's calls: one row each)
-- Returns ok({rows = [one outcome a row applied, in the rows' order: all of them, or the first
--         ones when the budget ran out], us = the µs they took}). An outcome: 'settled' when
--         the record already has the row's fingerprint, or an earlier row of this call found
--         its booking so (nothing written);
--         {outcome = 'held', ticket, fields, settled} for a checked-in booking the row would
--         change; else for upsert 'imported' | 'updated' | 'cancelled' | 'unchanged', for
--         move_out {before = the record before the move}.
local mode, at, source, moved_from = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local names = {}
for name in string.gmatch(ARGV[5], '[^,]+') do names[#names + 1] = name end
-- Where a field lies in a row (after its fingerprint).
local at_row = {}
for i, name in ipairs(names) do at_row[name] = i + 1 end
-- The bookings an earlier row of this call found settled: their later rows change nothing.
local settled_refs = {}
-- The row being applied: its values by name, and its booking's and history's keys.
local new, booking_key, history_key

local function record(change, changed, extra)
  local entry = {at = at, source = source, change = change, fields = changed}
  for key, value in pairs(extra) do entry[key] = value end
  redis.call('RPUSH', history_key, cjson.encode(entry))
end

-- The entry of a booking created by this call is the same for each (every field changed,
-- nothing extra): encoded once, on the first (a tenth of an import's time in this script).
local created
local function record_created()
  created = created or cjson.encode({at = at, source = source, change = 'created', fields = names})
  redis.call('RPUSH', history_key, created)
end

-- The same canonical form as bookings.store.fingerprint: name=byte length:value, joined by ';'.
local function fingerprint(fields)
  local parts = {}
  for i, name in ipairs(names) do
    local value = fields[name] or ''
    parts[i] = name .. '=' .. #value .. ':' .. value
  end
  return redis.sha1hex(table.concat(parts, ';'))
end

local function differing(record_)
  local changed = {}
  for _, name in ipairs(names) do
    if record_[name] ~= new[name] then changed[#changed + 1] = name end
  end
  return changed
end

local function live(b)
  return b.status ~= nil and b.status ~= 'moved'
end

-- The day list and the identity index hold the centre's live bookings; adding again is harmless
-- (and fills them in for records written before they existed).
local function day_list(date)
  return KEYS[3] .. date  -- key from data: a record's date
end

local function id_index(id_hash)
  return KEYS[4] .. id_hash  -- key from data: a record's identity hash
end

local function index_as(ref, date, slot_start, id_hash)
  local h, m = string.match(slot_start, '^(%d+):(%d+)$')
  redis.call('ZADD', day_list(date), tonumber(h) * 60 + tonumber(m), ref)
  redis.call('SADD', id_index(id_hash), ref)
end

local function index(b)
  index_as(b.ref, b.date, b.slot_start, b.id_hash)
end

local function unindex(b)
  if b.date then redis.call('ZREM', day_list(b.date), b.ref) end
  if b.id_hash then redis.call('SREM', id_index(b.id_hash), b.ref) end
end

local function split(text)
  local out = {}
  for name in string.gmatch(text or '', '[^,]+') do out[#out + 1] = name end
  return out
end

-- A checked-in booking's row not applied: what the import reports of it.
local function held(current, fields, settled)
  if settled then settled_refs[new.ref] = true end
  return {outcome = 'held', ticket = current.ticket, fields = fields, settled = settled}
end

-- The fields a row writes, as HSET takes them: the names, each row's values put in, then what
-- `tail` gives. Made once a call, when a row first needs them (not before: a call is a few rows
-- within its budget, and a settled row writes nothing).
local function with_names(tail)
  local fields = {}
  for i, name in ipairs(names) do fields[2 * i - 1] = name end
  for i, value in ipairs(tail) do fields[2 * #names + i] = value end
  return fields
end

local row_fields, created_fields

-- The row written with the time and the source; `created`: and when and from what the booking
-- was created, `created_at` and `created_source`, which on the record of a booking new here
-- stand for its history's first entry ('created', every field; bookings/history.py reads it
-- back as that entry). A list of one entry a booking was a key of its own: without it, an
-- imported booking takes a third less of Redis's memory.
local function write(row, created)
  local fields
  if created then
    created_fields = created_fields or with_names({'updated_at', at, 'source', source,
                                                   'created_at', at, 'created_source', source})
    fields = created_fields
  else
    row_fields = row_fields or with_names({'updated_at', at, 'source', source})
    fields = row_fields
  end
  for i = 1, #names do fields[2 * i] = row[i + 1] end
  redis.call('HSET', booking_key, unpack(fields))
end

-- A row whose booking this centre has never held (most of an import): written as it is, with
-- what `apply` below would write for it, without comparing anything. Its creation goes on its
-- record, unless it has a history already (then as the history's next entry, as before).
local function create(row)
  if redis.call('EXISTS', history_key) == 0 then
    write(row, true)
  else
    write(row)
    record_created()
  end
  index_as(row[at_row.ref], row[at_row.date], row[at_row.slot_start], row[at_row.id_hash])
  if row[at_row.status] == 'cancelled' then return 'cancelled' end
  return 'imported'
end

local function apply(row)
  local final = row[1]
  local ref = row[at_row.ref]
  if settled_refs[ref] then return 'settled' end
  booking_key = KEYS[1] .. ref  -- key from data: the row's booking
  history_key = KEYS[2] .. ref  -- key from data: the row's booking's history
  local current = hgetall(booking_key)
  if next(current) == nil then
    if mode == 'upsert' and moved_from == '' then return create(row) end
  -- (An empty record has no fingerprint worth computing: no row's is that of nothing.)
  elseif final ~= '' and current.held_fp == nil and fingerprint(current) == final then
    if live(current) then index(current) end
    settled_refs[ref] = true
    return 'settled'
  end
  new = {}
  for i, name in ipairs(names) do new[name] = row[i + 1] end

  local checked_in = live(current) and current.ticket ~= nil and current.ticket ~= ''
  if checked_in and final ~= '' and current.held_fp == final then
    return held(current, split(current.held_fields), true)
  end
  if checked_in then
    local changed = differing(current)
    if #changed == 0 then
      if current.held_fp ~= nil then
        redis.call('HDEL', booking_key, 'held_fp', 'held_fields')
        record('held_withdrawn', {}, {ticket = current.ticket})
      end
      index(current)
      return 'unchanged'
    end
    local fp = fingerprint(new)
    if current.held_fp ~= fp then
      redis.call('HSET', booking_key, 'held_fp', fp, 'held_fields', table.concat(changed, ','))
      local extra = {ticket = current.ticket}
      if new.centre ~= current.centre then extra.to = new.centre end
      if new.status ~= current.status then extra.status = new.status end
      record('held', changed, extra)
    end
    return held(current, changed, false)
  end

  if mode == 'move_out' then
    -- Already a tombstone (an earlier run stopped half-way): the copy is still to be written.
    if live(current) then
      redis.call('HSET', booking_key, 'status', 'moved', 'updated_at', at, 'source', source)
      record('moved_out', {'status'}, {to = new.centre})
      unindex(current)
    end
    current.ticket = nil
    return {before = current}
  end

  local moving = moved_from ~= ''
  local before = current
  if moving then before = cjson.decode(moved_from) end
  -- A tombstone counts as nothing: the booking lives elsewhere, or is being written again.
  local known = live(before)
  local was = known and before.status or nil

  -- What changed: every field of a booking new here (`names` itself: only read from here on).
  local changed = names
  if known then changed = differing(before) end
  if #changed == 0 and not moving then
    index(current)
    return 'unchanged'
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

  if live(current) then unindex(current) end
  write(row)
  index(new)
  if change == 'created' then record_created() else
    record(change, changed, {from = moving and before.centre or nil})
  end
  return outcome
end

-- Redis's own clock (TIME), in µs: the budget is about the time every other client waits.
local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

local rows = cjson.decode(ARGV[6])
local budget = tonumber(ARGV[7] or '')
-- Each booking's last row in the call: the call may stop before row n only when no row before
-- n has a booking with a row from n on (`reach`, the furthest of those last rows, is below n),
-- so that a booking's rows all apply in one call (it knows which bookings it found settled).
local last = {}
for n, row in ipairs(rows) do last[row[at_row.ref]] = n end
local started = now_us()
local outcomes, reach = {}, 0
for n, row in ipairs(rows) do
  if budget and reach < n and n > 1 and now_us() - started >= budget then break end
  outcomes[n] = apply(row)
  reach = math.max(reach, last[row[at_row.ref]])
end
return ok({rows = outcomes, us = now_us() - started})
