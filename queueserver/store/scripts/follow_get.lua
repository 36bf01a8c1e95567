-- One ticket as its follow page sees it (CONTRACT §9), with the hall's notices (read-only).
-- KEYS (K, see _lib.lua) the centre's day and the ticket
-- ARGV[1] context, plus ticket (number)
local ctx = context()
local t = load_ticket(ctx.ticket)
if not t then return refuse('not_found', {status = 404}) end
local v = ticket_view(t)
return ok({ticket = {number = v.number, service = v.service, status = v.status,
                     position = v.position, estimated_wait_minutes = v.estimated_wait_minutes,
                     counter = v.counter, called_at = v.called_at, recalls = v.recalls},
           notices = current_notices(ctx.now_ms), issuing = issuing_closure() == nil})
