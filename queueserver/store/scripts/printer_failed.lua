-- A print job gave up: tell the desk screens, once per job however often it is run.
-- KEYS (K, see _lib.lua) events, printer_failed (the job's mark, keys.printer_failed)
-- ARGV[1] context, plus printer, ticket, slip ('ticket' or 'receipt')
local ctx = context()
if not redis.call('SET', K.printer_failed, '1', 'NX', 'EX', 86400) then return ok(false) end
emit(K.events, 'printer.failed', ctx.now_iso,
     {printer = ctx.printer, ticket = ctx.ticket, slip = ctx.slip})
return ok(true)
