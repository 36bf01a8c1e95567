-- A supervisor voids the payment of a paid ticket (before its receipt): the payment stays in
-- the day's record marked void, with who, when and why; the ticket is `accepted` again.
-- KEYS (K, see _lib.lua) the centre's day, plus ticket (the one named) and payments (the day's)
-- ARGV[1] context, plus ticket (number), reason (text: kept with the payment, not in the event)
local ctx = context()
local t = load_ticket(ctx.ticket)
if not t then return refuse('not_found', {status = 404}) end
if t.status ~= 'paid' then return refuse('invalid_state', {ticket = ticket_view(t)}) end
local payment = cjson.decode(redis.call('HGET', K.payments, t.payment_id))
payment.voided = true
payment.voided_at = ctx.now_iso
payment.voided_by = ctx.by
payment.void_reason = ctx.reason
redis.call('HSET', K.payments, payment.id, cjson.encode(payment))
redis.call('HSET', ticket_key(t.number), 'status', 'accepted', 'payment_id', '', 'paid_at', '')
emit(K.events, 'ticket.payment_voided', ctx.now_iso,
     with_by({ticket = t.number, service = t.service, counter = payment.counter,
              method = payment.method, amount_hkd = payment.amount_hkd}))
return ok({ticket = ticket_view(load_ticket(t.number)), payment = payment})
