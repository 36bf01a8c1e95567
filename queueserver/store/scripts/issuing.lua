-- Close or reopen issuing (CONTRACT §10). Closing stops new numbers and posts the supervisor's
-- texts as a notice; closing again replaces the texts (the signal changed); reopening removes
-- that notice. Everyone already waiting is still served: only check-in reads this.
-- KEYS (K, see _lib.lua) the notices' (keys.notice_keys): events, notices, notice_order,
--         notice_expiry, notice_sequence, issuing
-- ARGV[1] context, plus open (bool), text_en, text_zh, announcement (or null)
local ctx = context()
local closure = issuing_closure()
local key = K.issuing
if ctx.open then
  if closure then
    remove_notice(closure.notice, with_by({reason = 'issuing_opened'}))
    redis.call('DEL', key)
    emit(K.events, 'centre.issuing_opened', ctx.now_iso, with_by({}))
  end
  return ok({issuing = true, closure = cjson.null})
end
if closure then
  remove_notice(closure.notice, with_by({reason = 'replaced'}))
end
local announcement = nil
if type(ctx.announcement) == 'table' then announcement = ctx.announcement end
local id = post_notice({text_en = ctx.text_en, text_zh = ctx.text_zh}, announcement)
redis.call('DEL', key)
redis.call('HSET', key, 'text_en', ctx.text_en, 'text_zh', ctx.text_zh, 'notice', id,
           'closed_at', ctx.now_iso, 'closed_by', ctx.by)
local now = issuing_closure()
emit(K.events, 'centre.issuing_closed', ctx.now_iso,
     with_by({text_en = ctx.text_en, text_zh = ctx.text_zh, notice = id}))
return ok({issuing = false, closure = now})
