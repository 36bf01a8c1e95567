-- The hall display's board and the stream id it is valid at, read in one atomic step.
-- KEYS (K, see _lib.lua) the centre's day
-- ARGV[1] context, plus services [codes]
local ctx = context()
local now_serving = {}
local counters = {}
local numbers = {}
for n, _ in pairs(ctx.counters) do table.insert(numbers, tonumber(n)) end
table.sort(numbers)
for _, n in ipairs(numbers) do
  local c = counter_state(n)
  table.insert(counters, {number = n, state = c.state})
  if c.ticket ~= '' then
    local t = load_ticket(c.ticket)
    if t and t.status ~= 'waiting' and (t.called_at or '') ~= '' then
      table.insert(now_serving, {counter = n, ticket = t.number, called_at = t.called_at})
    end
  end
end
local recent = {}
for _, raw in ipairs(redis.call('LRANGE', K.recent_calls, 0, -1)) do
  table.insert(recent, cjson.decode(raw))
end
local waiting = {}
local estimates = {}
for _, service in ipairs(ctx.services) do
  local count = redis.call('ZCARD', K.queue[service])
  waiting[service] = count
  -- null: no open counter serves it, so the board has no figure to give (the screens say so)
  estimates[service] = estimate_minutes(service, count) or cjson.null
end
local last = redis.call('XREVRANGE', K.events, '+', '-', 'COUNT', 1)
local last_id = '0-0'
if #last == 1 then last_id = last[1][1] end
local closure = issuing_closure()
-- (cjson writes an empty table as {}: Python turns the empty lists back into [].)
return ok({date = ctx.date, now_serving = now_serving, recent_calls = recent,
           waiting = waiting, estimated_wait_minutes = estimates,
           counters = counters, last_event_id = last_id,
           notices = current_notices(ctx.now_ms), issuing = closure == nil,
           closure = closure or cjson.null})
