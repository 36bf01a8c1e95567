-- The wait-estimate model, appended after _lib.lua (whose helpers it uses) and before each
-- script, so a ticket's estimate and the board's are read in the same atomic step as the rest.
--
-- Its cost is O(counters + services) whatever the queue's length: Redis runs one script at a
-- time for every centre, so no script may play a queue forward call by call (issue 20).
--
-- The calls of a service: each open counter that lists it calls for it from the moment it is
-- free — when its current service should end, and, on a counter that lists other services
-- first, at its first call after their waiting tickets have been called — and then once every
-- one of its own mean service times. The ticket at `position` is called at the (position + 1)-th of those
-- calls, which `nth_call` finds by halving the time rather than by playing the calls. With no
-- open counter for the service there is no figure: the screens say that no counter is open.
-- Tickets that arrive later are not foreseen: they queue behind, except in a service that a
-- shared counter lists first.
--
-- The pace: K.service_pace[code], one small hash a service, which end_service keeps (learn_pace):
--   prior, prior_n  the mean service time of the recent days (seconds) and how many services
--                   it stands for (the config's default_service_minutes until a day is seen)
--   date, n, sum    the day's ended services and their times' sum, each time clipped (below)
--   n:N, sum:N      the same at counter N: clerks differ
-- The service's mean blends the prior with the day's times, so that one outlier moves it little.

-- The prior counts as this many of the day's services: a morning's few dozen outweigh it.
local DAY_PRIOR_WEIGHT = 8
-- A time counts as at most this many times the prior, and at least the prior over it: a
-- 30-second "service" (a wrong ticket sent back) or a two-hour one teaches only that much.
local OUTLIER_FACTOR = 3
-- The recent days' history is worth at most this many services, so that it keeps moving.
local HISTORY_SERVICES = 500
-- A counter's own times are blended with its service's as if the service's mean had been
-- seen this many times: a new clerk's first few cases say little (and an outlier, which the
-- service's mean has taken in already, is not counted twice over).
local COUNTER_PRIOR_WEIGHT = 10
-- A service already running longer than expected is still given this share of the mean:
-- service times are skewed, and a long one tends to run on.
local MIN_REMAINING_SHARE = 0.25
-- A bound on nth_call's halvings (each halves the span; 40 reach a second from decades).
local MAX_HALVINGS = 60

-- The prior of a pace hash as of today: a day gone by is folded into it.
local function prior_of(p)
  local prior, weight = tonumber(p.prior or ''), tonumber(p.prior_n or '')
  if not prior or not weight then prior, weight = CTX.default_service_s, DAY_PRIOR_WEIGHT end
  local n = tonumber(p.n or '0')
  if p.date ~= CTX.date and n > 0 then
    weight = math.min(weight, HISTORY_SERVICES - math.min(n, HISTORY_SERVICES - 1))
    prior = (prior * weight + tonumber(p.sum)) / (weight + n)
    weight = math.min(HISTORY_SERVICES, weight + n)
  end
  return prior, weight
end

-- The pace of a service today: {prior, n, sum, counters = {[N] = {n, sum}}}.
local function pace(service, cache)
  if cache[service] then return cache[service] end
  local key = K.service_pace[service]
  local p = key and hgetall(key) or {}
  local out = {prior = prior_of(p), n = 0, sum = 0, counters = {}}
  if p.date == CTX.date then
    out.n, out.sum = tonumber(p.n or '0'), tonumber(p.sum or '0')
    for field, value in pairs(p) do
      local n = string.match(field, '^n:(%d+)$')
      if n then out.counters[n] = {n = tonumber(value), sum = tonumber(p['sum:' .. n] or '0')} end
    end
  end
  cache[service] = out
  return out
end

local function service_mean(p)
  return (DAY_PRIOR_WEIGHT * p.prior + p.sum) / (DAY_PRIOR_WEIGHT + p.n)
end

-- Whole seconds, never under one: the fan-out plays the same figures in Python
-- (follow/estimates.py), and whole numbers cross cjson exactly.
local function whole(seconds)
  return math.max(1, math.floor(seconds + 0.5))
end

local function counter_mean_s(n, service, cache)
  local p = pace(service, cache)
  local base = service_mean(p)
  local own = p.counters[tostring(n)]
  if not own then return whole(base) end
  return whole((COUNTER_PRIOR_WEIGHT * base + own.sum) / (COUNTER_PRIOR_WEIGHT + own.n))
end

-- A service ended at counter `n` after `took` seconds: its pace learns it (end_service).
learn_pace = function(service, n, took)
  local key = K.service_pace[service]
  if not key then return end  -- a service the config no longer lists teaches nothing
  local p = hgetall(key)
  local prior, weight = prior_of(p)
  if p.date ~= CTX.date then
    redis.call('DEL', key)
    redis.call('HSET', key, 'date', CTX.date, 'prior', prior, 'prior_n', weight, 'n', 0,
               'sum', 0)
  end
  local counted = math.floor(math.min(prior * OUTLIER_FACTOR,
                                      math.max(prior / OUTLIER_FACTOR, took)) + 0.5)
  redis.call('HINCRBY', key, 'n', 1)
  redis.call('HINCRBY', key, 'sum', counted)
  if n and n ~= '' then
    redis.call('HINCRBY', key, 'n:' .. n, 1)
    redis.call('HINCRBY', key, 'sum:' .. n, counted)
  end
end

-- The open counters, each with the whole seconds until it is free and its call order: from the
-- day's open counters (K.open_counters, which set_counter keeps: no ticket is read) once kept
-- today, else (no counter has changed today) from each counter's own state.
local function open_counters(cache)
  local kept = hgetall(K.open_counters)
  local from_each = kept.kept == nil
  local open = {}
  for n, services in pairs(CTX.counters) do
    local value = kept[n]
    if from_each then
      local c = counter_state(n)
      value = c.state == 'open' and open_counter_value(c) or nil
    end
    if value ~= nil then
      local free_in = 0
      local service, called = string.match(value, '^%S+ (%S+) (%S+)$')
      local called_ms = tonumber(called or '')
      if called_ms and K.service_pace[service] then
        local mean = counter_mean_s(n, service, cache)
        local spent = math.max(0, (CTX.now_ms - called_ms) / 1000)
        free_in = math.floor(math.max(mean * MIN_REMAINING_SHARE, mean - spent) + 0.5)
      end
      open[#open + 1] = {n = n, free_in = free_in, services = services}
    end
  end
  return open
end

-- How many calls counters free at a[i], then every m[i] seconds, make by `t` (inclusive).
local function calls_by(a, m, t)
  local count = 0
  for i = 1, #a do
    if a[i] <= t then count = count + math.floor((t - a[i]) / m[i]) + 1 end
  end
  return count
end

-- The time of the (p + 1)-th call among counters free at a[i] and then every m[i] seconds: the
-- (p + 1)-th smallest of {a[i] + j * m[i] : j = 0, 1, ...}. Halving finds a span (lo, hi] too
-- short for any counter to call twice in it, holding that call; the calls in it, in order,
-- give it. (follow/estimates.py lists the same calls in order for every place at once.)
local function nth_call(a, m, p)
  local lo, hi, step = math.huge, math.huge, math.huge
  local rate, offset, latest = 0, 0, -math.huge
  for i = 1, #a do
    lo = math.min(lo, a[i] - 1)           -- before any call
    hi = math.min(hi, a[i] + p * m[i])    -- that counter alone has made p + 1 calls
    step = math.min(step, m[i])
    rate, offset, latest = rate + 1 / m[i], offset + a[i] / m[i], math.max(latest, a[i])
  end
  -- Once every counter calls, the calls by t number between t * rate - offset and that plus
  -- #a: the sought call lies in a span of about one mean service, where the halving starts
  -- (so a long queue costs no more halvings than a short one). Each end is kept only where
  -- it holds.
  local below, above = (p - #a + offset) / rate, (p + 1 + offset) / rate
  if below >= latest and below > lo and calls_by(a, m, below) <= p then lo = below end
  if above >= latest and above < hi and calls_by(a, m, above) > p then hi = above end
  for _ = 1, MAX_HALVINGS do
    if hi - lo < step then break end
    local mid = (lo + hi) / 2
    if calls_by(a, m, mid) > p then hi = mid else lo = mid end
  end
  if hi - lo >= step then return hi end  -- not reached with whole seconds; an upper bound
  local calls = {}
  for i = 1, #a do
    local j = 0
    if a[i] <= lo then j = math.floor((lo - a[i]) / m[i]) + 1 end
    local at = a[i] + j * m[i]
    if at <= hi then calls[#calls + 1] = at end
  end
  table.sort(calls)
  return calls[p + 1 - calls_by(a, m, lo)] or hi
end

-- Where `service` stands in a counter's call order (nil: not listed).
local function rank(services, service)
  for i, s in ipairs(services) do if s == service then return i end end
  return nil
end

-- When each open counter starts calling for `service` ({a}) and its pace for it ({m}), or nil
-- when no open counter serves it. A counter that lists other services first calls for this one
-- at its own first call after their last waiting ticket is called (or at that moment, if it is
-- free then and another counter takes that ticket): each such service's calls are worked out
-- over the open counters that list it, from when they are free, less those that list `service`
-- before it (they call for `service` meanwhile).
local function calls_for(service, counters, cache)
  local a, m = {}, {}
  local last = {}
  -- The last waiting ticket's call of `before`, and how many more counters call at that moment.
  local function last_call(before)
    if last[before] == nil then
      local waiting = K.queue[before] and redis.call('ZCARD', K.queue[before]) or 0
      last[before] = false
      if waiting > 0 then
        local ba, bm = {}, {}
        for _, c in ipairs(counters) do
          local at = rank(c.services, before)
          if at and (rank(c.services, service) or at) >= at then
            ba[#ba + 1] = c.free_in
            bm[#bm + 1] = counter_mean_s(c.n, before, cache)
          end
        end
        local at = nth_call(ba, bm, waiting - 1)
        last[before] = {at = at, spare = calls_by(ba, bm, at) - waiting}
      end
    end
    return last[before]
  end
  for _, c in ipairs(counters) do
    if rank(c.services, service) then
      local from = c.free_in
      for _, s in ipairs(c.services) do
        if s == service then break end
        local until_ = last_call(s)
        if until_ and from <= until_.at then
          local pace_s = counter_mean_s(c.n, s, cache)
          local k = math.floor((until_.at - from) / pace_s)
          if from + k * pace_s == until_.at and until_.spare > 0 then
            until_.spare = until_.spare - 1   -- free then, with nobody of `s` left to take
            from = until_.at
          else
            from = from + (k + 1) * pace_s
          end
        end
      end
      a[#a + 1] = from
      m[#m + 1] = counter_mean_s(c.n, service, cache)
    end
  end
  if #a == 0 then return nil end
  return {a = a, m = m}
end

local function minutes(seconds)
  return math.floor(seconds / 60 + 0.5)
end

-- Minutes until the ticket at `position` of `service` is called (position = the queue's length:
-- a newcomer), or nil when no open counter serves it.
estimate_minutes = function(service, position)
  local cache = {}
  local calls = calls_for(service, open_counters(cache), cache)
  if not calls then return nil end
  return minutes(nth_call(calls.a, calls.m, position))
end

-- What the follow page's fan-out needs to estimate every waiting place at once
-- (follow/estimates.py lists the calls in the web process, so that a long queue costs Redis
-- nothing more): for each service that an open counter serves, when each such counter starts
-- calling for it and its pace, as `calls_for` gives them; and each queue's length.
estimate_inputs = function(services)
  local cache = {}
  local counters = open_counters(cache)
  local calls, lengths = {}, {}
  for _, s in ipairs(services) do
    lengths[s] = redis.call('ZCARD', K.queue[s])
    calls[s] = calls_for(s, counters, cache)
  end
  return {calls = calls, lengths = lengths}
end
