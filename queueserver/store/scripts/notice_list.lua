-- The current notices, oldest first, and whether issuing is open (read-only).
-- KEYS (K, see _lib.lua) the notices' (keys.notice_keys): events, notices, notice_order,
--         notice_expiry, notice_sequence, issuing
-- ARGV[1] context
local ctx = context()
local closure = issuing_closure()
return ok({notices = current_notices(ctx.now_ms), issuing = closure == nil,
           closure = closure or cjson.null})
