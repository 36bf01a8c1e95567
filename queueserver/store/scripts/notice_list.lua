-- The current notices, oldest first, and whether issuing is open (read-only).
-- KEYS[1] the centre's event stream
-- ARGV[1] context
local ctx = context()
local closure = issuing_closure()
return ok({notices = current_notices(ctx.now_ms), issuing = closure == nil,
           closure = closure or cjson.null})
