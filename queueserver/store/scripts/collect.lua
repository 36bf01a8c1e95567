-- Collection at a kiosk: check a receipt against the identity number (mode `check`, the
-- eligibility answer) or hand the permit over, exactly once (mode `collect`). The reasons come
-- in the contract's order; Python has already refused mistyped, unknown and other centres'
-- receipt numbers.
-- KEYS (K, see _lib.lua) the centre's day, plus receipt, receipts_uncollected and
--         collection_flags
-- ARGV[1] context, plus id_hash {hkid = hash|false, access_notice = hash|false} (null: an
--         offline report that lost the identity number, see docs/screens.md), on_date (today,
--         or the local day an offline collection happened), offline (bool), collected_at (ISO),
--         old_permit_surrendered (bool)
-- ARGV[2] the mode: check | collect
local ctx = context()
local mode = ARGV[2]
local r = hgetall(K.receipt)
local function answer(eligible, reason, known)
  return ok({eligible = eligible, reason = reason, centre = r.centre or cjson.null,
             collection_date = known and r.collection_date or cjson.null,
             surrender_old_permit = known and r.surrender == '1'})
end
local function collected(rec)
  return {receipt_no = rec.receipt_no, centre = rec.centre, collected_at = rec.collected_at,
          collection_date = rec.collection_date, surrender_old_permit = rec.surrender == '1',
          old_permit_surrendered = rec.old_permit_surrendered == '1',
          offline = rec.collected_offline == '1'}
end

if r.receipt_no == nil then
  if mode == 'check' then return answer(false, 'not_found', false) end
  return refuse('not_found', {status = 404})
end
-- The supervisor looks into every flag (the list is never trimmed: each one matters).
local function flag(entry)
  entry.receipt_no = r.receipt_no
  entry.reported_at = ctx.now_iso
  entry.again = {collected_at = ctx.collected_at, by = ctx.by, offline = true}
  redis.call('LPUSH', K.collection_flags, cjson.encode(entry))
  emit(K.events, 'collection.flagged', ctx.now_iso,
       with_by({flags = redis.call('LLEN', K.collection_flags)}))
end

local reported = type(ctx.id_hash) == 'table'
local given = reported and ctx.id_hash[r.id_kind] or nil
if type(given) ~= 'string' or given ~= r.id_hash then
  if mode == 'check' then return answer(false, 'id_mismatch', false) end
  if ctx.offline then
    -- The kiosk handed the permit over on its 16-bit verifier; the whole number, checked only
    -- now, is wrong (or was lost): it is not recorded as a collection, and the supervisor knows.
    local why = reported and 'id_mismatch' or 'id_not_reported'
    flag({reason = why})
    return refuse(why, {flagged = true})
  end
  return refuse('id_mismatch')
end
if (r.collected_at or '') ~= '' then
  if mode == 'check' then return answer(false, 'collected', true) end
  if ctx.offline and r.collected_offline == '1' and r.collected_by == ctx.by
      and r.collected_at == ctx.collected_at then
    -- The same kiosk reporting the same offline collection again: one collection, not two.
    return ok(collected(r))
  end
  if ctx.offline then
    -- A kiosk handed this permit over while offline, but it had been collected already.
    flag({reason = 'collected_twice',
          first = {collected_at = r.collected_at, by = r.collected_by,
                   offline = r.collected_offline == '1'}})
    return refuse('already_collected', {flagged = true})
  end
  return refuse('already_collected')
end
if r.collection_date > ctx.on_date then
  if mode == 'check' then return answer(false, 'not_yet', true) end
  return refuse('not_yet', {collection_date = r.collection_date})
end
if mode == 'check' then return answer(true, 'ready', true) end
if r.surrender == '1' and not ctx.old_permit_surrendered then
  return refuse('old_permit_required')
end
redis.call('HSET', K.receipt, 'collected_at', ctx.collected_at, 'collected_by', ctx.by,
           'collected_offline', ctx.offline and '1' or '0', 'reported_at', ctx.now_iso,
           'old_permit_surrendered', ctx.old_permit_surrendered and '1' or '0')
redis.call('ZREM', K.receipts_uncollected, r.receipt_no)
emit(K.events, 'collection.collected', ctx.now_iso,
     with_by({offline = ctx.offline, old_permit_surrendered = ctx.old_permit_surrendered}))
return ok(collected(hgetall(K.receipt)))
