-- Issue the receipt of a paid application: the ticket is `done`, the counter free, and the
-- receipt waits in the centre for collection from its collection date.
-- KEYS (K, see _lib.lua) the centre's day, plus ticket (the one named), payments (the day's),
--         receipt (keys.receipt) and receipts_uncollected
-- ARGV[1] context, plus ticket (number), acting (counter or null), centre_id, receipt_no
--         (made in Python, with its check symbol), collection_date (YYYY-MM-DD, worked out in
--         Python from today), surrender_types [application types that give the old permit back],
--         verifier_hex (the kiosks' id_verifier is this many hex characters: a booking stored
--         before it was cut short gives only that much), booking_prefix (keys.booking(centre,
--         ''): the booking is named by the ticket)
local ctx = context()
local t, refusal = ticket_at_counter(ctx.ticket, ctx.acting)
if not t then return refusal end
if t.status ~= 'paid' or not current_at_its_counter(t) then
  return refuse('invalid_state', {ticket = ticket_view(t)})
end
-- 40 random bits make this all but impossible; Python draws another number (no answer kept).
if redis.call('EXISTS', K.receipt) == 1 then return cjson.encode({error = 'receipt_no_taken'}) end

local surrender = false
for _, kind in ipairs(ctx.surrender_types) do
  if kind == t.application_type then surrender = true end
end
local b = hgetall(ctx.booking_prefix .. t.booking_ref)  -- key from data: the ticket names it
local payment = cjson.decode(redis.call('HGET', K.payments, t.payment_id))
redis.call('HSET', K.receipt, 'receipt_no', ctx.receipt_no, 'centre', ctx.centre_id,
           'ticket', t.number, 'date', ctx.date, 'issued_at', ctx.now_iso, 'issued_by', ctx.by,
           'counter', t.counter, 'acceptance_no', t.acceptance_no or '',
           'application_type', t.application_type, 'surrender', surrender and '1' or '0',
           'collection_date', ctx.collection_date, 'booking_ref', t.booking_ref,
           'id_kind', b.id_kind or '', 'id_hash', b.id_hash or '',
           'id_verifier', string.sub(b.id_verifier or '', 1, ctx.verifier_hex),
           'amount_hkd', payment.amount_hkd,
           'method', payment.method, 'payment_id', payment.id)
local day = string.gsub(ctx.collection_date, '-', '')
redis.call('ZADD', K.receipts_uncollected, tonumber(day), ctx.receipt_no)
end_service(t, 'done', {receipt_no = ctx.receipt_no})
emit(K.events, 'ticket.done', ctx.now_iso,
     with_by({ticket = t.number, service = t.service, counter = tonumber(t.counter)}))
return ok({receipt_no = ctx.receipt_no, collection_date = ctx.collection_date,
           centre = ctx.centre_id, surrender_old_permit = surrender,
           ticket = ticket_view(load_ticket(t.number))})
