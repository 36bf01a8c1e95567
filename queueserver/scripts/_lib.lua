-- Shared by every script (prepended by queueserver/lua.py). Each script returns one JSON
-- document: ok(value) or refuse(code, extra).

local function ok(value)
  return cjson.encode({ok = value})
end

local function refuse(code, extra)
  local out = extra or {}
  out["error"] = code
  return cjson.encode(out)
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
