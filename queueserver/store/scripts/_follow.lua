-- What the follow fan-out reads of a centre's day (follow_state.lua whole, follow_page.lua a
-- page at a time): its tickets as the follow page shows them, and the stream id it is valid at.

-- [number, service, status, counter, called_at, recalls] for each of `numbers` that exists.
local function follow_rows(numbers)
  local rows = {}
  for _, number in ipairs(numbers) do
    local f = redis.call('HMGET', ticket_key(number), 'service', 'status', 'counter',
                         'called_at', 'recalls')
    if f[1] then
      rows[#rows + 1] = {number, f[1], f[2], f[3] or '', f[4] or '', tonumber(f[5] or '0')}
    end
  end
  return rows
end

-- The id of the centre's newest event ('0-0' before its first).
local function last_event_id()
  local last = redis.call('XREVRANGE', K.events, '+', '-', 'COUNT', 1)
  if #last == 1 then return last[1][1] end
  return '0-0'
end
