-- Check a booking in at the inquiry desk and issue its ticket: every check of CONTRACT §5 in
-- its order, then the number, the queue place and the event, together or not at all.
-- KEYS (K, see _lib.lua) the centre's day, plus booking, photo_receipt, sequence[code] (the
--         day's last number of each service), phones (the day's phone numbers, keys.phones) and,
--         on one Redis, follow_token (the new ticket's follow token's hash, keys.follow_token)
-- ARGV[1] context, plus: id_hash {hkid = hash|false, access_notice = hash|false},
--         override (bool), arrival_before, arrival_after (minutes), now_minutes (local),
--         type_services {application type: service code}, priority_service (code|null),
--         priority (bool); follow_salt (the ticket's follow token is made from it, CONTRACT
--         §9), phone (E.164 or null), phone_base (the URL its messages link to), day_left_s,
--         centre_id (for the follow token's record)
local ctx = context()
-- The booking's fields this reads, not the whole record.
local v = redis.call('HMGET', K.booking, 'ref', 'status', 'date', 'id_kind', 'id_hash',
                    'ticket', 'slot_start', 'application_type')
local b = {ref = v[1] or nil, status = v[2] or nil, date = v[3] or nil, id_kind = v[4] or nil,
           id_hash = v[5] or nil, ticket = v[6] or nil, slot_start = v[7] or nil,
           application_type = v[8] or nil}
-- Not a booking of this centre (none, or moved away): the caller looks it up in the index
-- (another centre's may hold it: wrong_centre, booking_cancelled). Nothing is kept: the answer
-- is the caller's to give.
if b.ref == nil or b.status == 'moved' then return cjson.encode({ok = {elsewhere = true}}) end
if b.status == 'cancelled' then return refuse('booking_cancelled') end
-- Issuing closed (a typhoon signal, a black rainstorm): no new number, in the supervisor's words,
-- and counted for the day's statistics.
local closure = issuing_closure()
if closure then
  emit(K.events, 'centre.checkin_refused', ctx.now_iso, with_by({reason = 'issuing_closed'}))
  return refuse('issuing_closed', {message_en = closure.text_en, message_zh = closure.text_zh})
end
if b.date ~= ctx.date then return refuse('wrong_date') end
local given = ctx.id_hash[b.id_kind]
if type(given) ~= 'string' then return refuse('invalid_id_number') end
if given ~= b.id_hash then return refuse('id_mismatch') end
if b.ticket and b.ticket ~= '' then
  local t = load_ticket(b.ticket)
  if t then return refuse('already_checked_in', {ticket = ticket_view(t)}) end
end
if not ctx.override then
  local h, m = string.match(b.slot_start, '^(%d+):(%d+)$')
  local start = tonumber(h) * 60 + tonumber(m)
  if ctx.now_minutes < start - ctx.arrival_before then return refuse('too_early') end
  if ctx.now_minutes > start + ctx.arrival_after then return refuse('too_late') end
end
local p = hgetall(K.photo_receipt)
if p.barcode == nil or p.date ~= ctx.date then return refuse('photo_receipt_unknown') end
if p.used_by ~= '' then return refuse('photo_receipt_used') end

local service = ctx.type_services[b.application_type]
if ctx.priority and type(ctx.priority_service) == 'string' then service = ctx.priority_service end
if type(service) ~= 'string' then return refuse('no_service') end

local seq = redis.call('INCR', K.sequence[service])
-- The day's numbers are kept two days (a number drawn later keeps the time set by the first).
if seq == 1 then redis.call('EXPIRE', K.sequence[service], 2 * 86400) end
local number = service .. string.format('%03d', seq)
local queue = K.queue[service]
local place = place_at_back(queue)
local t = {number = number, service = service, status = 'waiting', issued_at = ctx.now_iso,
           recalls = '0'}
redis.call('HSET', ticket_key(number), 'number', number, 'service', service,
           'status', t.status, 'issued_at', ctx.now_iso, 'issued_ms', ctx.now_ms,
           'place', place, 'booking_ref', b.ref, 'application_type', b.application_type,
           'priority', ctx.priority and '1' or '0', 'recalls', t.recalls, 'issued_by', ctx.by,
           'follow_salt', ctx.follow_salt)
-- The follow token names the ticket until the day ends (CONTRACT §9): made from the salt
-- before the number was drawn (follow/tokens.py); on a cluster Python registers it after.
if K.follow_token then
  redis.call('SET', K.follow_token,
             cjson.encode({centre = ctx.centre_id, date = ctx.date, ticket = number}),
             'EX', ctx.day_left_s)
end
-- The phone number lives apart from the ticket, and only until the ticket's day ends.
if type(ctx.phone) == 'string' then
  redis.call('HSET', K.phones, number, cjson.encode({phone = ctx.phone, base = ctx.phone_base}))
  redis.call('EXPIRE', K.phones, ctx.day_left_s)
end
redis.call('ZADD', queue, place, number)
redis.call('RPUSH', K.day_tickets, number)
redis.call('HSET', K.booking, 'ticket', number)
redis.call('HSET', K.photo_receipt, 'used_by', number)
local view = ticket_view(t)  -- the ticket as written: not read back
emit(K.events, 'ticket.issued', ctx.now_iso,
     with_by({ticket = number, service = service, position = view.position,
              priority = ctx.priority}))
return ok(view)
