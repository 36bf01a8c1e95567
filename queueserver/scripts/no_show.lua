-- The called applicant did not come: the ticket ends `no_show`, the counter is free.
-- KEYS[1] the centre's event stream
-- ARGV[1] context, plus counter (number)
local ctx = context()
local n = ctx.counter
local c = counter_state(n)
local t = c.ticket ~= '' and load_ticket(c.ticket) or nil
if not t then return refuse('no_current_ticket') end
if t.status ~= 'called' then return refuse('invalid_state', {ticket = ticket_view(t)}) end
redis.call('HSET', ticket_key(t.number), 'status', 'no_show', 'ended_at', ctx.now_iso,
           'ended_ms', ctx.now_ms)
set_counter(n, {ticket = ''})
emit(k('events'), 'ticket.no_show', ctx.now_iso,
     with_by({ticket = t.number, service = t.service, counter = n}))
return ok(ticket_view(load_ticket(t.number)))
