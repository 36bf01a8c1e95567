-- Call the next waiting ticket (or a given one) to a counter, opening a closed counter.
-- KEYS (K, see _lib.lua) the centre's day, plus ticket when one is named
-- ARGV[1] context, plus counter (number), ticket (a number or null), texts {lang: template
--         with #T# for the ticket}, clips [URL], voices (see call_clips in _lib.lua)
local ctx = context()
local n = ctx.counter
local c = counter_state(n)
if c.state == 'paused' then return refuse('counter_paused') end
if c.ticket ~= '' then
  local cur = load_ticket(c.ticket)
  if cur and (cur.status == 'called' or cur.status == 'accepted' or cur.status == 'paid') then
    return refuse('counter_busy', {ticket = ticket_view(cur)})
  end
end

local t = nil
if type(ctx.ticket) == 'string' then
  t = load_ticket(ctx.ticket)
  if not t then return refuse('not_found', {status = 404}) end
  if t.status ~= 'waiting' then return refuse('ticket_not_waiting', {ticket = ticket_view(t)}) end
else
  for _, service in ipairs(ctx.counters[tostring(n)]) do
    local first = redis.call('ZRANGE', K.queue[service], 0, 0)
    if #first == 1 then
      t = load_ticket(first[1])
      break
    end
  end
end

if c.state == 'closed' then
  set_counter(n, {state = 'open', ticket = ''})
  emit(K.events, 'counter.opened', ctx.now_iso, with_by({counter = n, state = 'open'}))
end
if not t then
  set_counter(n, {ticket = ''})
  return ok(cjson.null)
end

-- (A service the config no longer lists has no queue here.)
if K.queue[t.service] then redis.call('ZREM', K.queue[t.service], t.number) end
local key = ticket_key(t.number)
redis.call('HSET', key, 'status', 'called', 'counter', n, 'called_at', ctx.now_iso,
           'called_ms', ctx.now_ms)
if (t.first_called_ms or '') == '' then
  redis.call('HSET', key, 'first_called_at', ctx.now_iso, 'first_called_ms', ctx.now_ms)
end
set_counter(n, {ticket = t.number})
t = load_ticket(t.number)
announce('ticket.called', t, n, ctx.texts)
return ok(ticket_view(t))
