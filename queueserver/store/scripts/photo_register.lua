-- Register a qualified-photo receipt printed in the centre today.
-- KEYS (K, see _lib.lua) the centre's day (unused: receipts are not screen events), plus
--         photo_receipt
-- ARGV[1] context; ARGV[2] barcode
local ctx = context()
local key = K.photo_receipt
if redis.call('EXISTS', key) == 1 then
  local p = hgetall(key)
  if p.date == ctx.date then return refuse('photo_receipt_exists') end
end
redis.call('HSET', key, 'barcode', ARGV[2], 'date', ctx.date, 'issued_at', ctx.now_iso,
           'used_by', '')
-- A receipt is good for the day it was printed; keep it a little longer for the audit.
redis.call('EXPIRE', key, 3 * 86400)
return ok({barcode = ARGV[2], issued_at = ctx.now_iso})
