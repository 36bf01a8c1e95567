-- Announce the counter's called ticket again.
-- KEYS (K, see _lib.lua) the centre's day
-- ARGV[1] context, plus counter (number), texts {lang: template with #T#}, clips [URL],
--         voices (see call_clips in _lib.lua)
local ctx = context()
local n = ctx.counter
local t, refusal = called_at_counter(n)
if not t then return refusal end
redis.call('HINCRBY', ticket_key(t.number), 'recalls', 1)
t = load_ticket(t.number)
announce('ticket.recalled', t, n, ctx.texts)
return ok(ticket_view(t))
