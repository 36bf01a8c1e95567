-- Shared by the appointment scripts (CONTRACT §11): a slot's places, the waiting list's offers,
-- the booking an appointment is, and the emails a change asks for. Their context (ARGV[1],
-- read by context() in _lib.lua) holds, besides `prefix`:
--   keys (K.offers, K.capacity, K.outbox, and the script's own), prefixes (see below),
--   centre, now_iso, now_ms, now_local and cutoff (local 'YYYY-MM-DD HH:MM': now, and now
--   plus the minimum notice; such texts compare as the times they name), ends (each slot
--   start's end), capacity (people a slot) and capacity_auto (then a day keeps the figure it
--   was first booked with), hold_ms (how long a waiting list's offer holds its place).
--
-- A slot's places are counted in the day's hash (keys.slot_places): `HH:MM` booked and
-- `held:HH:MM` held for an offer; free is the capacity less both.

local function minutes_of(hhmm)
  local h, m = string.match(hhmm, '^(%d+):(%d+)$')
  return tonumber(h) * 60 + tonumber(m)
end

-- The keys of a day, of a booking or of an application that a script finds only while it runs
-- (the day of the appointment held, the next on a waiting list): named from the prefixes Python
-- built (keys.slot_places(centre, '') and so on, CTX.prefixes), which hold the centre's hash tag,
-- so each lies in the slot of the declared keys.
local function slots_key(date)
  return CTX.prefixes.slots .. date  -- key from data: the day of a booking or an offer
end

local function blocks_key(date)
  return CTX.prefixes.blocks .. date  -- key from data: the day of a freed place
end

local function waitlist_key(date)
  return CTX.prefixes.waitlist .. date  -- key from data: the day of a freed place
end

local function offer_key(ref)
  return CTX.prefixes.offer .. ref  -- key from data: who is next on a waiting list
end

local function day_key(date)
  return CTX.prefixes.bookings .. date  -- key from data: the day of the booking held
end

local function by_id_key(id_hash)
  return CTX.prefixes.by_id .. id_hash  -- key from data: the identity of the booking held
end

local function booking_key(ref)
  return CTX.prefixes.booking .. ref  -- key from data: a booking of a blocked day's list
end

local function history_key(ref)
  return CTX.prefixes.history .. ref  -- key from data: a booking of a blocked day's list
end

local function capacity(date)
  if not CTX.capacity_auto then return CTX.capacity end
  local key = K.capacity
  return tonumber(redis.call('HGET', key, date) or redis.call('HGET', key, 'auto'))
         or CTX.capacity
end

local function places(date, start)
  local got = redis.call('HMGET', slots_key(date), start, 'held:' .. start)
  return tonumber(got[1]) or 0, tonumber(got[2]) or 0
end

local function blocked(date, start)
  return redis.call('HEXISTS', blocks_key(date), start) == 1
end

-- A slot's free places, from its day's hashes (HGETALL of slots_key and blocks_key): 0 blocked.
local function free_of(taken, closed, cap, start)
  if closed[start] ~= nil then return 0 end
  return math.max(0, cap - (tonumber(taken[start]) or 0)
                         - (tonumber(taken['held:' .. start]) or 0))
end

-- The day's slots that can be booked now with a free place, as a listing of that day shows
-- them ({date, start, end, free}; calendar.bookable: after CTX.now_local and CTX.cutoff, which
-- a booking with the privilege of a block's cancellation has set to now). Only for a day Python
-- found bookable at all: a working day within the horizon.
local function day_listing(date)
  local taken, closed, cap = hgetall(slots_key(date)), hgetall(blocks_key(date)), capacity(date)
  local starts = {}
  for start in pairs(CTX.ends) do starts[#starts + 1] = start end
  table.sort(starts)
  local out = {}
  for _, start in ipairs(starts) do
    local at = date .. ' ' .. start
    if at >= CTX.cutoff and at > CTX.now_local then
      local f = free_of(taken, closed, cap, start)
      if f > 0 then
        out[#out + 1] = {date = date, start = start, ['end'] = CTX.ends[start], free = f}
      end
    end
  end
  return out
end

-- An email the change asks for, written with the change; the worker sends it (once: `key`).
local function outbox(entry)
  entry.centre = CTX.centre
  redis.call('RPUSH', K.outbox, cjson.encode(entry))
end

local function history(key, change, fields, extra)
  local entry = {at = CTX.now_iso, source = 'appointments', change = change, fields = fields}
  for name, value in pairs(extra or {}) do entry[name] = value end
  redis.call('RPUSH', key, cjson.encode(entry))
end

-- The day list and the identity index, as booking_upsert.lua keeps them.
local function index_booking(b)
  redis.call('ZADD', day_key(b.date), minutes_of(b.slot_start), b.ref)
  if (b.id_hash or '') ~= '' then redis.call('SADD', by_id_key(b.id_hash), b.ref) end
end

local function unindex_booking(b)
  redis.call('ZREM', day_key(b.date), b.ref)
  if (b.id_hash or '') ~= '' then redis.call('SREM', by_id_key(b.id_hash), b.ref) end
end

-- A free place of the slot goes to the first on the day's waiting list who holds no other offer
-- here: held for them until now + hold_ms, and an email tells them. A slot inside the minimum
-- notice, blocked or without a free place is offered to nobody. Returns who got it, or nil.
local function offer_next(date, start)
  if date .. ' ' .. start < CTX.cutoff or blocked(date, start) then return nil end
  local booked, held = places(date, start)
  if booked + held >= capacity(date) then return nil end
  local line = waitlist_key(date)
  for _, ref in ipairs(redis.call('ZRANGE', line, 0, -1)) do
    if redis.call('EXISTS', offer_key(ref)) == 0 then
      local until_ms = CTX.now_ms + CTX.hold_ms
      redis.call('ZREM', line, ref)
      redis.call('HINCRBY', slots_key(date), 'held:' .. start, 1)
      redis.call('HSET', offer_key(ref), 'date', date, 'start', start, 'end', CTX.ends[start],
                 'until_ms', until_ms)
      redis.call('ZADD', K.offers, until_ms, ref)
      outbox({kind = 'offer', key = 'offer/' .. ref .. '/' .. date .. '/' .. start .. '/' ..
              CTX.now_ms, ref = ref, date = date, start = start, ['end'] = CTX.ends[start],
              until_ms = until_ms})
      return ref
    end
  end
  return nil
end

-- One place of the slot is given back, and offered to the day's waiting list.
local function free_place(date, start)
  local key = slots_key(date)
  if (tonumber(redis.call('HGET', key, start)) or 0) > 0 then
    redis.call('HINCRBY', key, start, -1)
  end
  return offer_next(date, start)
end

-- An offer withdrawn (lapsed, its application withdrawn, its slot blocked): its place is no
-- longer held, and goes to the next in line unless `pass_on` is false.
local function drop_offer(ref, pass_on)
  local o = hgetall(offer_key(ref))
  redis.call('DEL', offer_key(ref))
  redis.call('ZREM', K.offers, ref)
  if o.date == nil then return nil end
  local key = slots_key(o.date)
  if (tonumber(redis.call('HGET', key, 'held:' .. o.start)) or 0) > 0 then
    redis.call('HINCRBY', key, 'held:' .. o.start, -1)
  end
  if pass_on then return offer_next(o.date, o.start) end
  return nil
end

local function appointment_of(b)
  return {booking_ref = b.ref, centre = b.centre, date = b.date, slot_start = b.slot_start,
          slot_end = b.slot_end}
end
