-- A person's rating of their visit, from the follow page (CONTRACT §9): once, and only after the
-- ticket ended at a counter (done or declined).
-- KEYS (K, see _lib.lua) the centre's day, the ticket, and feedback (the day's: keys.feedback)
-- ARGV[1] context, plus ticket (number), rating (1-5), comment (text or null)
local ctx = context()
local t = load_ticket(ctx.ticket)
if not t then return refuse('not_found', {status = 404}) end
if t.status ~= 'done' and t.status ~= 'declined' then
  return refuse('invalid_state', {because = 'feedback_too_early'})
end
if redis.call('HEXISTS', K.feedback, t.number) == 1 then return refuse('already_given') end
local counter = cjson.null
if (t.counter or '') ~= '' then counter = tonumber(t.counter) end
local entry = {ticket = t.number, service = t.service, counter = counter, rating = ctx.rating,
               comment = ctx.comment, at = ctx.now_iso}
redis.call('HSET', K.feedback, t.number, cjson.encode(entry))
return ok(entry)
