-- Take the fee of an accepted application: one payment per application, whatever the retries.
-- KEYS (K, see _lib.lua) the centre's day, plus ticket (the one named) and payments (the day's)
-- ARGV[1] context, plus ticket (number), acting (counter or null), method (cash | eps | octopus
--         | card), amount_hkd, reference (text or null), fees {application type: HK$}
local ctx = context()
local t, refusal = ticket_at_counter(ctx.ticket, ctx.acting)
if not t then return refusal end
if t.status ~= 'accepted' or not current_at_its_counter(t) then
  return refuse('invalid_state', {ticket = ticket_view(t)})
end
local fee = ctx.fees[t.application_type]
if type(fee) ~= 'number' or ctx.amount_hkd ~= fee then
  return refuse('wrong_amount', {fee_hkd = fee})
end
-- Ids count the ticket's payments, so a payment after a void never reuses a voided one's id.
local seq = redis.call('HINCRBY', ticket_key(t.number), 'payments', 1)
local payment = {
  id = t.number .. '-' .. seq, ticket = t.number, counter = tonumber(t.counter),
  method = ctx.method, amount_hkd = ctx.amount_hkd, reference = ctx.reference or cjson.null,
  paid_at = ctx.now_iso, by = ctx.by, voided = false,
}
redis.call('HSET', K.payments, payment.id, cjson.encode(payment))
redis.call('HSET', ticket_key(t.number), 'status', 'paid', 'payment_id', payment.id,
           'paid_at', ctx.now_iso)
emit(K.events, 'ticket.paid', ctx.now_iso,
     with_by({ticket = t.number, service = t.service, counter = payment.counter,
              method = payment.method, amount_hkd = payment.amount_hkd}))
return ok({ticket = ticket_view(load_ticket(t.number)), payment = payment})
