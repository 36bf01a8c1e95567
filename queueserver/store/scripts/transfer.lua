-- Send the counter's called ticket to wait in another service, keeping its number and place.
-- KEYS (K, see _lib.lua) the centre's day
-- ARGV[1] context, plus counter (number), service (code)
local ctx = context()
local n = ctx.counter
local t, refusal = called_at_counter(n)
if not t then return refusal end
local key = ticket_key(t.number)
redis.call('HSET', key, 'status', 'waiting', 'service', ctx.service, 'counter', '',
           'called_at', '', 'called_ms', '')
redis.call('ZADD', K.queue[ctx.service], t.place, t.number)
set_counter(n, {ticket = ''})
t = load_ticket(t.number)
local view = ticket_view(t)
emit(K.events, 'ticket.transferred', ctx.now_iso,
     with_by({ticket = t.number, service = ctx.service, from_counter = n,
              position = view.position}))
return ok(view)
