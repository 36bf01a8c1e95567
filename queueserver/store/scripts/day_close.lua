-- End a day, once: tickets still waiting or called become `no_show` (reason `day_closed`), the
-- counters close, the day's events are copied to its archive with their ids, the live stream is
-- trimmed to the day's last few events and whatever came after, and the close is recorded.
-- A second run finds the record and changes nothing. A counter still serving an accepted or
-- paid application is left to finish it (the next day starts closed anyway).
-- KEYS (K, see _lib.lua) the centre's day, plus day_close (the day's close record) and archive
--         (the day's)
-- ARGV[1] context, whose date is the day being closed and whose now_iso / now_ms are the close's
--         time (at the latest the day's last second, so its events belong to that day), plus
--         live_tail (how many of the day's last events stay live, for screens that resume)
local ctx = context()
if redis.call('HEXISTS', K.day_close, 'closed_at') == 1 then
  return ok({closed = false, closed_at = redis.call('HGET', K.day_close, 'closed_at')})
end

local no_shows = 0
for _, number in ipairs(redis.call('LRANGE', K.day_tickets, 0, -1)) do
  local t = load_ticket(number)
  if t and (t.status == 'waiting' or t.status == 'called') then
    local data = {ticket = t.number, service = t.service, reason = 'day_closed'}
    if t.status == 'waiting' then
      -- (A service the config no longer lists has no queue here, and none is read again.)
      if K.queue[t.service] then redis.call('ZREM', K.queue[t.service], t.number) end
    else
      data.counter = tonumber(t.counter)
    end
    redis.call('HSET', ticket_key(t.number), 'status', 'no_show', 'ended_at', ctx.now_iso,
               'ended_ms', ctx.now_ms, 'no_show_reason', 'day_closed')
    emit(K.events, 'ticket.no_show', ctx.now_iso, with_by(data))
    no_shows = no_shows + 1
  end
end

local closed, still_serving = 0, {}
for n, _ in pairs(ctx.counters) do
  local c = counter_state(n)
  local t = c.ticket ~= '' and load_ticket(c.ticket) or nil
  if t and (t.status == 'accepted' or t.status == 'paid') then
    still_serving[#still_serving + 1] = tonumber(n)
  elseif c.state ~= 'closed' then
    set_counter(n, {state = 'closed', ticket = ''})
    emit(K.events, 'counter.closed', ctx.now_iso,
         with_by({counter = tonumber(n), state = 'closed', reason = 'day_closed'}))
    closed = closed + 1
  end
end

-- The hall starts the next day clean: a notice or a closure left up overnight (a typhoon
-- morning's) would stop the next morning's check-ins nobody remembers closing.
local notices_removed = 0
for _, id in ipairs(redis.call('ZRANGE', K.notice_order, 0, -1)) do
  if remove_notice(id, {reason = 'day_closed'}) then notices_removed = notices_removed + 1 end
end
if redis.call('DEL', K.issuing) == 1 then
  emit(KEYS[1], 'centre.issuing_opened', ctx.now_iso, {reason = 'day_closed'})
end

-- The day's events, in stream order, to its archive. A day closed late (the worker was down)
-- has its no-shows after the next day's first events: the whole live stream is read.
local PAGE = 500
local ids, older = {}, {}
local start = '-'
while true do
  local page = redis.call('XRANGE', K.events, start, '+', 'COUNT', PAGE)
  for _, entry in ipairs(page) do
    local id, flat = entry[1], entry[2]
    local at = ''
    for i = 1, #flat, 2 do if flat[i] == 'at' then at = flat[i + 1] end end
    local day = string.sub(at, 1, 10)
    if day == ctx.date then
      redis.call('XADD', K.archive, id, unpack(flat))
      ids[#ids + 1] = id
    elseif day < ctx.date then
      older[#older + 1] = id  -- an earlier day's tail, archived by that day's close
    end
  end
  if #page < PAGE then break end
  start = '(' .. page[#page][1]
end

-- The live stream keeps the day's last LIVE_TAIL events and whatever came after; a screen whose
-- `after` is older gets resync_required (api/events.py reads XINFO).
local gone = older
for i = 1, #ids - ctx.live_tail do gone[#gone + 1] = ids[i] end
for i = 1, #gone, PAGE do
  redis.call('XDEL', K.events, unpack(gone, i, math.min(#gone, i + PAGE - 1)))
end

redis.call('HSET', K.day_close, 'closed_at', ctx.now_iso, 'no_shows', no_shows,
           'counters_closed', closed, 'events', #ids)
return ok({closed = true, closed_at = ctx.now_iso, no_shows = no_shows,
           counters_closed = closed, events = #ids, still_serving = still_serving,
           notices_removed = notices_removed})
