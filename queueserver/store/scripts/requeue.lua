-- A no-show comes back: the ticket waits again, at the back of its service's queue.
-- KEYS (K, see _lib.lua) the centre's day, plus ticket (the one named)
-- ARGV[1] context, plus ticket (number)
local ctx = context()
local t = load_ticket(ctx.ticket)
if not t then return refuse('not_found', {status = 404}) end
if t.status ~= 'no_show' then return refuse('invalid_state', {ticket = ticket_view(t)}) end
local queue = K.queue[t.service]
-- A service the config no longer lists: no counter would ever call the ticket from it.
if not queue then return refuse('no_service') end
local place = place_at_back(queue)
redis.call('HSET', ticket_key(t.number), 'status', 'waiting', 'place', place, 'counter', '',
           'called_at', '', 'called_ms', '', 'ended_at', '', 'ended_ms', '')
redis.call('ZADD', queue, place, t.number)
t = load_ticket(t.number)
local view = ticket_view(t)
emit(K.events, 'ticket.requeued', ctx.now_iso,
     with_by({ticket = t.number, service = t.service, position = view.position}))
return ok(view)
