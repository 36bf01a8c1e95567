-- with: _appointments
-- with: _bucket
-- with: _gate
-- with: _admit

-- Book a slot for an application, or move the appointment it holds in this centre to another
-- slot here: the new place taken and the old one freed (and offered to its day's waiting list)
-- in this one step, so however many race for a slot's last places, no more than it has are
-- given. Also the first half of a move from another centre (`moving_from`): the place here is
-- taken first, the old centre's freed after (appointment_cancel.lua, mode 'release').
-- The booking is a booking of CONTRACT §2 (the record booking_upsert.lua writes), so check-in
-- takes it unchanged; `appointment` = '1' marks it as booked here (an import's update of its
-- fields keeps that), `changes` counts the moves, `version` every change (an email's key).
-- KEYS (named in the context, lua.declare): booking (keys.booking), history
-- (keys.booking_history), and the centre's offers, capacity and outbox (_appointments.lua)
-- ARGV[1] context (_appointments.lua), plus: ref, date, start (the slot wanted; Python checked
--   that it is one of the centre's and that its notice allows it), fields (the application's
--   §2 fields, [[name, value], ...]), max_changes, moving_from ('' or the centre it moves from),
--   changes (moving in: the changes it made so far), move_id ('' or the move's id)
-- On a single Redis the request's own checks come first, in this same step (_admit.lua): then
-- the context has `admit`, no ref, fields or booking keys (the application gives them), and
-- `refusal` / `refusal_privileged`: what Python found wrong with the slot wanted ('' or a code),
-- answered only once the token is known good; the booking index (K.index, keys.booking_index)
-- names this centre in the same step, and an application held at another centre is answered
-- ok({app = ...}) for Python to move it (service.py, `_move`).
-- Returns ok({appointment = APPOINTMENT, changes_left = N, changed = bool}); refusals
-- already_checked_in (409), too_soon (the slot held), no_changes_left, slot_unavailable
-- (blocked), slot_full (409, with `listing`: the day's slots still free, as a listing of that
-- day answers; Python makes an empty `slots` a list).
local ctx = context()
if ctx.admit then
  local app, answer = admit()
  if app == nil then return answer end
  local rebook = privileged(app)
  local refusal = rebook and ctx.refusal_privileged or ctx.refusal
  if refusal ~= '' then return refuse(refusal) end
  if redis.call('HSETNX', K.index, app.ref, ctx.centre) == 0
      and redis.call('HGET', K.index, app.ref) ~= ctx.centre then
    return ok({app = app})
  end
  local verifiers = cjson.decode((app.verifiers or '') ~= '' and app.verifiers or '{}')
  local fields = {}
  for i, name in ipairs(ctx.field_names) do
    local value = app[name] or ''
    if name == 'id_verifier' then value = tostring(verifiers[ctx.centre] or '') end
    fields[i] = {name, value}
  end
  ctx.ref, ctx.fields = app.ref, fields
  if rebook then ctx.cutoff = ctx.now_local end
  K.booking, K.history = booking_key(app.ref), history_key(app.ref)
end
local b = hgetall(K.booking)
local held = b.status == 'approved'
local date, start = ctx.date, ctx.start
local changes = tonumber(b.changes) or 0
if held then
  if (b.ticket or '') ~= '' then return refuse('already_checked_in', {status = 409}) end
  if b.date == date and b.slot_start == start then
    return ok({appointment = appointment_of(b), changed = false,
               changes_left = math.max(0, ctx.max_changes - changes)})
  end
  if b.date .. ' ' .. b.slot_start < ctx.cutoff then return refuse('too_soon') end
  if changes >= ctx.max_changes then return refuse('no_changes_left') end
elseif ctx.moving_from ~= '' then
  changes = ctx.changes
  if changes >= ctx.max_changes then return refuse('no_changes_left') end
end
if blocked(date, start) then return refuse('slot_unavailable') end

local slots = slots_key(date)
local offered = hgetall(offer_key(ctx.ref))
local cap = capacity(date)
if offered.date == date and offered.start == start then
  -- The place held for this application from the waiting list: it is theirs to take.
  redis.call('DEL', offer_key(ctx.ref))
  redis.call('ZREM', K.offers, ctx.ref)
  redis.call('HINCRBY', slots, 'held:' .. start, -1)
else
  local booked, on_hold = places(date, start)
  if booked + on_hold >= cap then
    -- With what the day still has, so the page need not list it again (CONTRACT §11).
    return refuse('slot_full', {status = 409, listing = {centre = ctx.centre,
                                                         slots = day_listing(date)}})
  end
end
redis.call('HINCRBY', slots, start, 1)
if ctx.capacity_auto then redis.call('HSETNX', K.capacity, date, cap) end
redis.call('ZREM', waitlist_key(date), ctx.ref)

local change = 'created'
if held then
  changes = changes + 1
  change = 'moved'
  unindex_booking(b)
  free_place(b.date, b.slot_start)
elseif ctx.moving_from ~= '' then
  changes = changes + 1
  change = 'moved_in'
end

local flat, names = {}, {}
for _, pair in ipairs(ctx.fields) do
  flat[#flat + 1] = pair[1]
  flat[#flat + 1] = pair[2]
  names[#names + 1] = pair[1]
end
local now = {ref = ctx.ref, centre = ctx.centre, date = date, slot_start = start,
             slot_end = CTX.ends[start], status = 'approved', updated_at = ctx.now_iso,
             source = 'appointments', appointment = '1', changes = changes,
             move_id = ctx.move_id}
for _, name in ipairs({'ref', 'centre', 'date', 'slot_start', 'slot_end', 'status',
                       'updated_at', 'source', 'appointment', 'changes', 'move_id'}) do
  flat[#flat + 1] = name
  flat[#flat + 1] = now[name]
end
redis.call('HSET', K.booking, unpack(flat))
local version = redis.call('HINCRBY', K.booking, 'version', 1)
local b2 = hgetall(K.booking)
index_booking(b2)
if change == 'created' then
  names[#names + 1] = 'date'
  names[#names + 1] = 'slot_start'
end
history(K.history, change, change == 'created' and names or {'date', 'slot_start', 'slot_end'},
        {from = ctx.moving_from ~= '' and ctx.moving_from or nil})
outbox({kind = 'confirmation', key = 'confirmation/' .. ctx.ref .. '/' .. ctx.centre .. '/' ..
        version, ref = ctx.ref, date = date, start = start, ['end'] = CTX.ends[start],
        moved = change ~= 'created', version = version})
return ok({appointment = appointment_of(b2), changed = true,
           changes_left = math.max(0, ctx.max_changes - changes)})
