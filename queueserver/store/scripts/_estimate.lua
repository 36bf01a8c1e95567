-- The wait-estimate model, appended after _lib.lua (whose helpers it uses) and before each
-- script, so a ticket's estimate and the board's are read in the same atomic step as the rest.
--
-- It plays the calling order of CONTRACT §1 forward from now, as `call` would: every open
-- counter becomes free when its current service should end, then takes the head of the first
-- service in its list that still has a waiting ticket, and is busy for its expected service
-- time. So a counter serving P before A takes P tickets first, priority tickets move A's
-- estimates only through the counters they share, a paused or closed counter takes nobody, and a
-- transferred ticket counts where it now waits (its new service's queue, at its kept place).
-- Tickets that arrive later are not foreseen: they queue behind, except in a service that a
-- shared counter lists first.

-- A service already running longer than expected is still given this share of the mean:
-- service times are skewed, and a long one tends to run on.
local MIN_REMAINING_SHARE = 0.25
-- A counter's own recent times are blended with its service's as if the service's mean had
-- been seen this many times: a new clerk's first few cases say little.
local COUNTER_PRIOR_WEIGHT = 5
-- A bound on the played calls, far above any hall's queue, so a script never runs long.
local MAX_STEPS = 10000
local BUSY = {called = true, accepted = true, paid = true}

local function counter_mean_s(n, service, cache)
  cache[n] = cache[n] or {}
  if cache[n][service] then return cache[n][service] end
  local base = mean_service_s(service)
  local mean = base
  local key = K.counter_service_times[tostring(n)]  -- none for n = 0, the counter supposed
  if key then
    local times = redis.call('LRANGE', key, 0, RECENT_SERVICES - 1)
    local sum = 0
    for _, t in ipairs(times) do sum = sum + tonumber(t) end
    mean = (sum + COUNTER_PRIOR_WEIGHT * base) / (#times + COUNTER_PRIOR_WEIGHT)
  end
  cache[n][service] = mean
  return mean
end

-- The open counters, each with the seconds from now until it is free and its call order.
local function open_counters(cache)
  local open = {}
  for n, services in pairs(CTX.counters) do
    local c = counter_state(n)
    if c.state == 'open' then
      local free_in = 0
      if c.ticket ~= '' then
        local t = hgetall(ticket_key(c.ticket))
        local called_ms = tonumber(t.called_ms or '')
        if BUSY[t.status] and called_ms then
          local mean = counter_mean_s(tonumber(n), t.service, cache)
          local spent = math.max(0, (CTX.now_ms - called_ms) / 1000)
          free_in = math.max(mean * MIN_REMAINING_SHARE, mean - spent)
        end
      end
      open[#open + 1] = {n = tonumber(n), free_in = free_in, services = services}
    end
  end
  return open
end

estimate_minutes = function(service, position)
  local cache = {}
  local counters = open_counters(cache)
  local served = false
  for _, c in ipairs(counters) do
    for _, s in ipairs(c.services) do if s == service then served = true end end
  end
  if not served then
    -- Nobody open serves it yet: as if one counter opened now for it alone.
    counters[#counters + 1] = {n = 0, free_in = 0, services = {service}}
  end
  local waiting, taken = {}, {}
  for _, c in ipairs(counters) do
    for _, s in ipairs(c.services) do
      if waiting[s] == nil then
        waiting[s] = redis.call('ZCARD', K.queue[s])
        taken[s] = 0
      end
    end
  end
  local target = position + 1
  -- A newcomer (position = the queue's length) is one more ticket at the back.
  waiting[service] = math.max(waiting[service], target)
  for _ = 1, MAX_STEPS do
    if #counters == 0 then break end
    local first = 1
    for i = 2, #counters do
      local a, b = counters[i], counters[first]
      if a.free_in < b.free_in or (a.free_in == b.free_in and a.n < b.n) then first = i end
    end
    local c = counters[first]
    local picked = nil
    for _, s in ipairs(c.services) do
      if taken[s] < waiting[s] then picked = s break end
    end
    if picked == nil then
      table.remove(counters, first)  -- nobody left for it: it takes no one before the target
    else
      taken[picked] = taken[picked] + 1
      if picked == service and taken[picked] == target then
        return math.floor(c.free_in / 60 + 0.5)
      end
      c.free_in = c.free_in + counter_mean_s(c.n, picked, cache)
    end
  end
  return math.floor(position * mean_service_s(service) / 60 + 0.5)
end
