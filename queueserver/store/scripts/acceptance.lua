-- Accept the application of the ticket called at this counter: 受理, with its acceptance number.
-- KEYS (K, see _lib.lua) the centre's day, plus ticket (the one named)
-- ARGV[1] context, plus ticket (number), acting (the counter the credential acts at, or null),
--         acceptance_no (40 random bits, made in Python)
local ctx = context()
local t, refusal = ticket_at_counter(ctx.ticket, ctx.acting)
if not t then return refusal end
if t.status ~= 'called' or not current_at_its_counter(t) then
  return refuse('invalid_state', {ticket = ticket_view(t)})
end
redis.call('HSET', ticket_key(t.number), 'status', 'accepted', 'acceptance_no', ctx.acceptance_no,
           'accepted_at', ctx.now_iso, 'accepted_ms', ctx.now_ms, 'accepted_by', ctx.by)
emit(K.events, 'ticket.accepted', ctx.now_iso,
     with_by({ticket = t.number, service = t.service, counter = tonumber(t.counter)}))
return ok({ticket = ticket_view(load_ticket(t.number)), acceptance_no = ctx.acceptance_no})
