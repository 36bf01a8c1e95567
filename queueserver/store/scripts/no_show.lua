-- The called applicant did not come: the ticket ends `no_show`, the counter is free.
-- KEYS (K, see _lib.lua) the centre's day
-- ARGV[1] context, plus counter (number)
local ctx = context()
local n = ctx.counter
local t, refusal = called_at_counter(n)
if not t then return refusal end
redis.call('HSET', ticket_key(t.number), 'status', 'no_show', 'ended_at', ctx.now_iso,
           'ended_ms', ctx.now_ms)
set_counter(n, {ticket = ''})
emit(K.events, 'ticket.no_show', ctx.now_iso,
     with_by({ticket = t.number, service = t.service, counter = n}))
return ok(ticket_view(load_ticket(t.number)))
