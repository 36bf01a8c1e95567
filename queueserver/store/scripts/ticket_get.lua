-- Read one of today's tickets (read-only).
-- KEYS (K, see _lib.lua) the centre's day, plus ticket (the one named)
-- ARGV[1] context, plus ticket (number)
local ctx = context()
local t = load_ticket(ctx.ticket)
if not t then return refuse('not_found', {status = 404}) end
return ok(ticket_view(t))
