-- Shared by every script: lua.py puts the statements of it that a script uses before the script.
-- Each script returns one JSON document: ok(value) or refuse(code, extra).
--
-- No script builds a key name (keys.py does): each gets the keys it touches in KEYS. Ticket and
-- counter scripts take a context as ARGV[1] (see queueserver/queue/tickets.py):
--   keys     where each of its keys lies in KEYS, by name (lua.declare), which context() turns
--            into K: the centre's day (keys.centre_day: K.events, K.day_tickets, K.recent_calls,
--            K.counter[n], K.queue[code], K.service_pace[code]),
--            K.idempotency when the answer is kept, and the script's own (its header names them)
--   ticket_prefix  keys.ticket(centre, date, ''): see ticket_key
--   date, now_iso, now_ms, by, counters {number: [service codes]}, default_service_s,
--   credential_generation  (with K.credential_generation), rate (with K.rate_bucket): see
--            context() below
--   idem_fp, idem_kept_s  the request's fingerprint, kept with the answer under K.idempotency
--            for idem_kept_s (store/idempotency.py), so no script's answer may hold personal
--            data or a secret (web/api/base.py, Post)

local CTX = nil
local K = {}

local function context()
  CTX = cjson.decode(ARGV[1])
  for name, at in pairs(CTX.keys) do
    if type(at) == 'table' then
      local group = {}
      for part, i in pairs(at) do group[part] = KEYS[i] end
      K[name] = group
    else
      K[name] = KEYS[at]
    end
  end
  -- A credential the web process kept in memory (store/generation.py): refused before any
  -- change when a credential was revoked since it was read; the process reads it again.
  if CTX.credential_generation and
      (redis.call('GET', K.credential_generation) or '0') ~= CTX.credential_generation then
    error({err = 'STALE_CREDENTIAL a credential was revoked since this one was read'})
  end
  -- Its rate limit, with the same credential (_bucket.lua): refused before any change.
  if CTX.rate then
    local wait_ms = take_token(K.rate_bucket, CTX.rate[1], CTX.rate[2])
    if wait_ms > 0 then error({err = 'RATE_LIMITED ' .. wait_ms}) end
  end
  return CTX
end

local function finish(doc)
  local encoded = cjson.encode(doc)
  if K.idempotency then
    redis.call('SET', K.idempotency,
               cjson.encode({state = 'done', fp = CTX.idem_fp, result = encoded}),
               'EX', CTX.idem_kept_s)
  end
  return encoded
end

local function ok(value)
  if value == nil then value = cjson.null end
  return finish({ok = value})
end

local function refuse(code, extra)
  local out = extra or {}
  out['error'] = code
  return finish(out)
end

local function hgetall(key)
  local flat = redis.call('HGETALL', key)
  local out = {}
  for i = 1, #flat, 2 do out[flat[i]] = flat[i + 1] end
  return out
end

-- Append an event to the centre's stream: the stream is what screens see and the audit log.
local function emit(stream, event_type, at, data)
  return redis.call('XADD', stream, '*', 'type', event_type, 'at', at,
                    'data', cjson.encode(data))
end

local function null_if_empty(v)
  if v == nil or v == '' then return cjson.null end
  return v
end

-- A counter's state today: every counter is closed at the start of each day. A counter the
-- config no longer lists (a ticket served there before a restart) is closed.
local function counter_state(n)
  local key = K.counter[tostring(n)]
  local c = key and hgetall(key) or {}
  if c.date ~= CTX.date then
    return {state = 'closed', ticket = ''}
  end
  c.state = c.state or 'closed'
  c.ticket = c.ticket or ''
  return c
end

-- A ticket's key. The ticket a request names is declared (K.ticket); every other one a script
-- finds only while it runs (a counter's current ticket, a queue's head, the number just drawn,
-- the day's list), so it is named from the day's ticket prefix that Python built
-- (keys.ticket(centre, date, '')), which holds the centre's hash tag: the key lies in the slot
-- of the declared keys.
local function ticket_key(number)
  if number == CTX.ticket and K.ticket then return K.ticket end
  return CTX.ticket_prefix .. number  -- key from data: a ticket found while the script runs
end

-- A ticket in these states keeps its counter busy.
local BUSY = {called = true, accepted = true, paid = true}

-- The day's open counters (K.open_counters) follow every change of a counter's state, so that
-- a wait estimate reads one key whatever the number of counters (open_counters,
-- _estimate.lua): each open counter's number to '' when it is free, else to what the estimate
-- needs of the ticket it serves, 'NUMBER SERVICE CALLED_MS' (written when the counter takes the
-- ticket; accepting and paying keep it busy, and every end of its service frees the counter).
-- The day's first change writes every counter's, and `kept`: a counter may have opened before
-- the key was kept.
local function open_counter_value(c)
  if c.ticket == '' then return '' end
  local t = redis.call('HMGET', ticket_key(c.ticket), 'status', 'service', 'called_ms')
  if not BUSY[t[1]] or not t[3] or t[3] == '' then return '' end
  return table.concat({c.ticket, t[2], t[3]}, ' ')
end

local function keep_open_counter(n)
  local c = counter_state(n)
  if c.state == 'open' then
    redis.call('HSET', K.open_counters, tostring(n), open_counter_value(c))
  else
    redis.call('HDEL', K.open_counters, tostring(n))
  end
end

local function set_counter(n, fields)
  local flat = {'date', CTX.date}
  for name, value in pairs(fields) do
    flat[#flat + 1] = name
    flat[#flat + 1] = value
  end
  redis.call('HSET', K.counter[tostring(n)], unpack(flat))
  if redis.call('HSETNX', K.open_counters, 'kept', '1') == 0 then
    keep_open_counter(n)
    return
  end
  redis.call('EXPIRE', K.open_counters, 2 * 86400)  -- a day's key, kept past its day's close
  for m in pairs(K.counter) do keep_open_counter(m) end
end

local function serves(n, service)
  for _, code in ipairs(CTX.counters[tostring(n)] or {}) do
    if code == service then return true end
  end
  return false
end

-- Minutes until the ticket at `position` of `service` (position = the queue's length: a newcomer)
-- is called, or nil when no open counter serves it. The model is in _estimate.lua, which lua.py
-- appends after this prelude: it needs the helpers below, and ticket_view needs it.
local estimate_minutes
-- What the follow page's fan-out needs to estimate every waiting place at once.
local estimate_inputs
-- A service ended: its pace (the model's per-service state) learns how long it took.
local learn_pace

local function ticket_view(t)
  local position = 0
  local estimate = 0
  -- (A service the config no longer lists has no queue here: nobody calls from it.)
  if t.status == 'waiting' and K.queue[t.service] then
    position = redis.call('ZRANK', K.queue[t.service], t.number) or 0
    estimate = estimate_minutes(t.service, position)
    if estimate == nil then estimate = cjson.null end  -- no counter open for it
  end
  local counter = cjson.null
  if t.counter and t.counter ~= '' then counter = tonumber(t.counter) end
  return {
    number = t.number, service = t.service, status = t.status,
    issued_at = t.issued_at, position = position, estimated_wait_minutes = estimate,
    counter = counter, called_at = null_if_empty(t.called_at),
    recalls = tonumber(t.recalls or '0'),
    acceptance_no = null_if_empty(t.acceptance_no), receipt_no = null_if_empty(t.receipt_no),
  }
end

local function load_ticket(number)
  local t = hgetall(ticket_key(number))
  if t.number == nil then return nil end
  return t
end

-- A place in a queue after every ticket already in it (requeue, and the tie-breaker of issue).
local function place_at_back(queue_key)
  local place = CTX.now_ms * 1000
  local last = redis.call('ZRANGE', queue_key, -1, -1, 'WITHSCORES')
  if #last == 2 and tonumber(last[2]) >= place then place = tonumber(last[2]) + 1 end
  return place
end

local function with_by(data)
  if CTX.by and CTX.by ~= '' then data.by = CTX.by end
  return data
end

-- The clips a call plays: CTX.clips (the chime), then one spoken clip per language in CTX.voices
-- (play order). Each language lists candidate voices, best first, holding only segments that
-- exist (Python read the index just before): the first with every segment this ticket needs
-- names the clip, which lists its segments, so any web process can serve it. A language whose
-- segments are missing is left out: the call never waits for audio.
local function call_clips(number)
  local clips = {}
  for _, url in ipairs(CTX.clips or {}) do clips[#clips + 1] = url end
  local letter, digits = string.match(number, '^(%u)(%d+)$')
  if not letter then return clips end
  for _, language in ipairs(CTX.voices or {}) do
    for _, voice in ipairs(language.candidates) do
      local ids = {}
      for _, id in ipairs(voice.before) do ids[#ids + 1] = id end
      local complete = voice.letters[letter] ~= nil
      ids[#ids + 1] = voice.letters[letter]
      for digit in string.gmatch(digits, '%d') do
        if voice.digits[digit] == nil then complete = false end
        ids[#ids + 1] = voice.digits[digit]
      end
      if complete then
        for _, id in ipairs(voice.after) do ids[#ids + 1] = id end
        clips[#clips + 1] = voice.prefix .. table.concat(ids, '.') .. voice.suffix
        break
      end
    end
  end
  return clips
end

local RECENT_CALLS = 10
local function announce(event_type, t, counter, texts)
  local text = {}
  for lang, template in pairs(texts) do
    text[lang] = string.gsub(template, '#T#', t.number)
  end
  local data = with_by({ticket = t.number, counter = tonumber(counter), service = t.service,
                        announcement = {text = text, clips = call_clips(t.number)}})
  redis.call('LPUSH', K.recent_calls, cjson.encode({counter = tonumber(counter),
                                                   ticket = t.number, called_at = CTX.now_iso}))
  redis.call('LTRIM', K.recent_calls, 0, RECENT_CALLS - 1)
  return emit(K.events, event_type, CTX.now_iso, data)
end

-- A ticket addressed by number (the acceptance, payment and receipt routes), or nil and the
-- refusal: unknown today, or served at another counter than `acting` (a number, or nil when
-- the credential may act at any counter of the centre).
local function ticket_at_counter(number, acting)
  local t = load_ticket(number)
  if not t then return nil, refuse('not_found', {status = 404}) end
  if type(acting) == 'number' and (t.counter or '') ~= '' and tonumber(t.counter) ~= acting then
    return nil, refuse('forbidden', {status = 403, because = 'served_elsewhere',
                                     counter = tonumber(t.counter)})
  end
  return t
end

-- The counter's current ticket while it is called (recall, no-show and transfer need one), or
-- nil and the refusal to return.
local function called_at_counter(n)
  local c = counter_state(n)
  local t = c.ticket ~= '' and load_ticket(c.ticket) or nil
  if not t then return nil, refuse('no_current_ticket') end
  if t.status ~= 'called' then return nil, refuse('invalid_state', {ticket = ticket_view(t)}) end
  return t
end

-- The ticket is the one its counter is serving now: no other step is in flight there.
local function current_at_its_counter(t)
  return (t.counter or '') ~= '' and counter_state(t.counter).ticket == t.number
end

-- The service ended (done or declined): the counter is free, and the time it took teaches the
-- wait estimates (learn_pace, _estimate.lua).
local function end_service(t, status, fields)
  local key = ticket_key(t.number)
  redis.call('HSET', key, 'status', status, 'ended_at', CTX.now_iso, 'ended_ms', CTX.now_ms)
  for name, value in pairs(fields or {}) do redis.call('HSET', key, name, value) end
  if current_at_its_counter(t) then set_counter(tonumber(t.counter), {ticket = ''}) end
  local called_ms = tonumber(t.called_ms or '')
  if not called_ms then return end
  learn_pace(t.service, t.counter, math.max(0, math.floor((CTX.now_ms - called_ms) / 1000)))
end

-- Notices (CONTRACT §10): each is JSON under its id in K.notices, with its posting order in
-- K.notice_order and, when it has an `until`, that instant in K.notice_expiry.
local function notice_view(raw)
  local n = cjson.decode(raw)
  n.until_ms = nil
  return n
end

-- The notices still current at now_ms, oldest first (one past its `until` is gone for readers
-- even before a sweeper has removed it).
local function current_notices(now_ms)
  local out = {}
  for _, id in ipairs(redis.call('ZRANGE', K.notice_order, 0, -1)) do
    local raw = redis.call('HGET', K.notices, id)
    if raw then
      local n = cjson.decode(raw)
      if n.until_ms == cjson.null or n.until_ms == nil or n.until_ms > now_ms then
        table.insert(out, notice_view(raw))
      end
    end
  end
  return out
end

-- Post a notice made of `texts` {text_en, text_zh, until, until_ms}: its id, the NOTICE, and the
-- event's id. `announcement` (or nil) rides on the event only.
local function post_notice(texts, announcement)
  local id = 'n' .. redis.call('INCR', K.notice_sequence)
  local notice = {id = id, text_en = texts.text_en, text_zh = texts.text_zh,
                  created_at = CTX.now_iso, ['until'] = texts['until'] or cjson.null}
  local stored = {id = id, text_en = texts.text_en, text_zh = texts.text_zh,
                  created_at = CTX.now_iso, ['until'] = notice['until'],
                  until_ms = texts.until_ms or cjson.null}
  redis.call('HSET', K.notices, id, cjson.encode(stored))
  redis.call('ZADD', K.notice_order, CTX.now_ms, id)
  if type(texts.until_ms) == 'number' then
    redis.call('ZADD', K.notice_expiry, texts.until_ms, id)
  end
  local data = {id = id, text_en = notice.text_en, text_zh = notice.text_zh,
                created_at = notice.created_at, ['until'] = notice['until']}
  if announcement then data.announcement = announcement end
  emit(K.events, 'notice.posted', CTX.now_iso, with_by(data))
  return id, notice
end

-- Remove a notice if it is still there, with its event: false when it was gone already, so
-- however many processes try, one removal and one `notice.removed`.
local function remove_notice(id, extra)
  if redis.call('HDEL', K.notices, id) == 0 then return false end
  redis.call('ZREM', K.notice_order, id)
  redis.call('ZREM', K.notice_expiry, id)
  local data = {id = id}
  for name, value in pairs(extra or {}) do data[name] = value end
  emit(K.events, 'notice.removed', CTX.now_iso, data)
  return true
end

-- Issuing is closed while K.issuing exists: the supervisor's texts and their notice.
local function issuing_closure()
  local c = hgetall(K.issuing)
  if c.notice == nil then return nil end
  return {text_en = c.text_en, text_zh = c.text_zh, notice = c.notice, closed_at = c.closed_at}
end
