-- Open, pause, resume or close a counter.
-- KEYS (K, see _lib.lua) the centre's day
-- ARGV[1] context, plus counter (number); ARGV[2] the action: open | pause | resume | close
local ctx = context()
local n = ctx.counter
local action = ARGV[2]
local c = counter_state(n)
local current = cjson.null
if c.ticket ~= '' then
  local t = load_ticket(c.ticket)
  if t then current = ticket_view(t) end
end
local function change(state, event_type)
  set_counter(n, {state = state})
  emit(K.events, event_type, ctx.now_iso, with_by({counter = n, state = state}))
end
-- Unfinished: the counter still owes this ticket its next step.
local function busy()
  return current ~= cjson.null and (current.status == 'called' or current.status == 'accepted'
                                    or current.status == 'paid')
end

if action == 'open' then
  if c.state == 'closed' then change('open', 'counter.opened')
  elseif c.state == 'paused' then change('open', 'counter.resumed') end
elseif action == 'pause' then
  if c.state == 'closed' then return refuse('counter_closed') end
  if c.state == 'open' then change('paused', 'counter.paused') end
elseif action == 'resume' then
  if c.state == 'closed' then return refuse('counter_closed') end
  if c.state == 'paused' then change('open', 'counter.resumed') end
elseif action == 'close' then
  if busy() then return refuse('counter_busy', {ticket = current}) end
  if c.state ~= 'closed' then
    set_counter(n, {state = 'closed', ticket = ''})
    emit(K.events, 'counter.closed', ctx.now_iso, with_by({counter = n, state = 'closed'}))
    current = cjson.null
  end
else
  return refuse('bad_request')
end
return ok(current)
