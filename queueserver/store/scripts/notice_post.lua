-- Post a notice to the hall (CONTRACT §10), with its event.
-- KEYS (K, see _lib.lua) the notices' (keys.notice_keys): events, notices, notice_order,
--         notice_expiry, notice_sequence, issuing
-- ARGV[1] context, plus text_en, text_zh, until (ISO or null), until_ms (or null),
--         announcement ({text, clips, pending} or null: carried by the event only)
local ctx = context()
local announcement = nil
if type(ctx.announcement) == 'table' then announcement = ctx.announcement end
local _, notice = post_notice({text_en = ctx.text_en, text_zh = ctx.text_zh,
                               ['until'] = ctx['until'], until_ms = ctx.until_ms}, announcement)
return ok(notice)
