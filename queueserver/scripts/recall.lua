-- Announce the counter's called ticket again.
-- KEYS[1] the centre's event stream
-- ARGV[1] context, plus counter (number), texts {lang: template with #T#}, clips [URL],
--         voices (see call_clips in _lib.lua)
local ctx = context()
local n = ctx.counter
local c = counter_state(n)
local t = c.ticket ~= '' and load_ticket(c.ticket) or nil
if not t then return refuse('no_current_ticket') end
if t.status ~= 'called' then return refuse('invalid_state', {ticket = ticket_view(t)}) end
redis.call('HINCRBY', ticket_key(t.number), 'recalls', 1)
t = load_ticket(t.number)
announce('ticket.recalled', t, n, ctx.texts)
return ok(ticket_view(t))
