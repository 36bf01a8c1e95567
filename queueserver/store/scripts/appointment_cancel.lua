-- with: _appointments

-- An appointment ends before its visit, its place freed at once and offered to the day's
-- waiting list, in one step. Modes:
--   'cancel'   the applicant cancels (not inside the minimum notice); a cancellation email
--   'withdraw' the application was withdrawn: an appointment still ahead is cancelled (an
--              email says so), and its waiting lists and offers here are left
--   'release'  the second half of a move to another centre: this, the older place, is freed
--              and the booking left here as a tombstone (status `moved`), as an import's move
--   'undo'     the first half of such a move taken back (the older could not be freed)
-- KEYS (named in the context, lua.declare): booking (keys.booking), history
-- (keys.booking_history), and the centre's offers, capacity and outbox (_appointments.lua)
-- ARGV[1] context (_appointments.lua), plus: mode, ref, to (release: where it moved),
--   dates (withdraw: the days of this centre whose waiting lists it is on)
-- Returns ok('cancelled' | 'moved' | 'none'); refusals already_checked_in (409), too_soon.
local ctx = context()
local b = hgetall(K.booking)
local live = b.status == 'approved'
local mode = ctx.mode
local checked_in = (b.ticket or '') ~= ''
if mode == 'withdraw' then
  for _, date in ipairs(ctx.dates or {}) do redis.call('ZREM', waitlist_key(date), ctx.ref) end
  drop_offer(ctx.ref, true)
  if not live or checked_in or b.date .. ' ' .. b.slot_start <= ctx.now_local then
    return ok('none')
  end
elseif not live then
  return ok('none')
elseif checked_in then
  return refuse('already_checked_in', {status = 409})
elseif mode == 'cancel' and b.date .. ' ' .. b.slot_start < ctx.cutoff then
  return refuse('too_soon')
end

local moves = mode == 'release' or mode == 'undo'
local status = moves and 'moved' or 'cancelled'
redis.call('HSET', K.booking, 'status', status, 'updated_at', ctx.now_iso,
           'source', 'appointments')
local version = redis.call('HINCRBY', K.booking, 'version', 1)
if moves then unindex_booking(b) end
local change = ({cancel = 'cancelled', withdraw = 'cancelled', release = 'moved_out',
                 undo = 'move_undone'})[mode]
history(K.history, change, {'status'}, {to = ctx.to, because = mode == 'withdraw' and
                                      'withdrawn' or nil})
free_place(b.date, b.slot_start)
if not moves then
  outbox({kind = 'cancellation', key = 'cancellation/' .. ctx.ref .. '/' .. ctx.centre .. '/' ..
          version, ref = ctx.ref, date = b.date, start = b.slot_start, ['end'] = b.slot_end})
end
return ok(status)
