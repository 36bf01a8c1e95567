-- The called application cannot be accepted: the ticket ends `declined`, the counter is free.
-- KEYS (K, see _lib.lua) the centre's day, plus ticket (the one named)
-- ARGV[1] context, plus ticket (number), acting (counter or null), reason (documents_missing |
--         photo_rejected | not_eligible | other), note (text, kept on the ticket, never in an
--         event: staff may write anything there)
local ctx = context()
local t, refusal = ticket_at_counter(ctx.ticket, ctx.acting)
if not t then return refusal end
if t.status ~= 'called' or not current_at_its_counter(t) then
  return refuse('invalid_state', {ticket = ticket_view(t)})
end
end_service(t, 'declined', {decline_reason = ctx.reason, decline_note = ctx.note or '',
                            declined_by = ctx.by})
emit(K.events, 'ticket.declined', ctx.now_iso,
     with_by({ticket = t.number, service = t.service, counter = tonumber(t.counter),
              reason = ctx.reason}))
return ok(ticket_view(load_ticket(t.number)))
