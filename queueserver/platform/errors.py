"""What the server answers: errors in the contract's shape (a code, and a message in English
and Traditional Chinese), and the base of every typed answer."""

from __future__ import annotations

import math
from typing import Any

from msgspec import Struct


class Answer(Struct, frozen=True, forbid_unknown_fields=True):
    """A JSON answer's model, from which `/openapi.json` describes it. A value read into it
    (a script's answer) must hold no field the model lacks: a field added to a script must be
    added to its model, or the answer fails loudly rather than lose it."""

# code -> (HTTP status, English, 繁體中文). Messages say what happened and what to do.
MESSAGES: dict[str, tuple[int, str, str]] = {
    "bad_request": (400, "The request is malformed.", "請求格式不正確。"),
    "unauthenticated": (401, "Sign in or send a valid credential.", "請登入或提供有效憑證。"),
    "forbidden": (403, "Your role may not do this here.", "您的角色無權在此執行此操作。"),
    "not_found": (404, "Not found.", "找不到。"),
    "method_not_allowed": (405, "This method is not allowed here.", "不允許此方法。"),
    "too_large": (413, "The request body is over 64 KiB.", "請求內容超過 64 KiB。"),
    "headers_too_large": (431, "The request's headers are over 32 KiB.", "請求標頭超過 32 KiB。"),
    "rate_limited": (429, "Too many requests; wait and try again.", "請求過多，請稍後再試。"),
    "in_progress": (409, "The same request is still being handled; retry shortly.",
                    "相同的請求仍在處理中，請稍後重試。"),
    "idempotency_mismatch": (422, "This Idempotency-Key was used with a different body.",
                             "此冪等鍵已用於不同的請求內容。"),
    "unavailable": (503, "The service is unavailable; it will retry by itself.",
                    "服務暫時無法使用，系統會自動重試。"),
    # inquiry desk
    "booking_not_found": (422, "No appointment has this booking reference.",
                          "找不到此預約編號的預約。"),
    "booking_cancelled": (422, "This appointment was cancelled.", "此預約已取消。"),
    "wrong_centre": (422, "This appointment is at another service centre.",
                     "此預約屬於另一證件服務中心。"),
    "wrong_date": (422, "This appointment is for another day.", "此預約不是今天。"),
    "invalid_id_number": (422, "The identity number is not valid; check it and type it again.",
                          "身份證號碼無效，請核對後重新輸入。"),
    "id_mismatch": (422, "The identity number does not match the appointment.",
                    "身份證號碼與預約不符。"),
    "already_checked_in": (409, "This appointment already has a queue number.",
                           "此預約已取號。"),
    "too_early": (422, "Too early for this appointment; come back within the arrival window.",
                  "未到預約的取號時間，請於指定時段內再來。"),
    "too_late": (422, "Too late for this appointment; a supervisor may override.",
                 "已過預約的取號時間，可由主管處理。"),
    "photo_receipt_unknown": (422, "This qualified-photo receipt was not issued here today.",
                              "此合格檢測回執並非本中心今天簽發。"),
    "photo_receipt_used": (422, "This qualified-photo receipt was already used.",
                           "此合格檢測回執已被使用。"),
    "photo_receipt_exists": (409, "This qualified-photo receipt is already registered.",
                             "此合格檢測回執已登記。"),
    "issuing_closed": (422, "No more numbers are issued today.", "今天已停止派籌。"),
    "unknown_printer": (422, "No printer of this centre has that name; choose one from the list.",
                        "本中心沒有此名稱的打印機，請從清單選擇。"),
    "no_service": (422, "No service of this centre handles this application type.",
                   "本中心沒有處理此申請類別的服務。"),
    # counters
    "no_current_ticket": (409, "This counter is serving no ticket.", "此櫃位沒有正在處理的籌號。"),
    "counter_closed": (409, "This counter is closed.", "此櫃位已關閉。"),
    "counter_busy": (409, "Finish the current ticket first.", "請先完成目前的籌號。"),
    "counter_paused": (409, "This counter is paused; resume it first.", "此櫃位已暫停，請先恢復。"),
    "invalid_state": (409, "This step does not fit the ticket's state.", "此步驟與籌號狀態不符。"),
    "ticket_not_waiting": (409, "That ticket is not waiting.", "該籌號不在等候中。"),
    "wrong_service": (409, "This counter does not serve that ticket's service.",
                      "此櫃位不處理該籌號的服務。"),
    "served_elsewhere": (403, "This ticket is served at another counter.",
                         "此籌號正在另一櫃位處理。"),
    # counter service: acceptance, payment, receipt
    "wrong_amount": (422, "The amount is not the fee for this application type; check the fee.",
                     "金額與此申請類別的費用不符，請核對費用。"),
    # collection kiosk
    "invalid_receipt_no": (422, "This receipt number is mistyped; check it and type it again.",
                           "收據回執號碼有誤，請核對後重新輸入。"),
    "already_collected": (409, "The permit of this receipt was already collected.",
                          "此收據回執的證件已被領取。"),
    "not_yet": (422, "The permit is not ready yet; come back on the collection date.",
                "證件尚未可領取，請於取證日期或之後再來。"),
    "old_permit_required": (422, "Surrender the old permit to collect the new one.",
                            "請交回舊證以領取新證。"),
    # the follow page and text messages (CONTRACT §9)
    "invalid_phone": (422, "The phone number must be in international form with its country "
                           "code, like +85291234567.",
                      "電話號碼須為連國家代碼的國際格式，例如 +85291234567。"),
    "follow_not_found": (404, "This link does not follow any ticket today. Your paper ticket "
                              "still counts: watch the hall displays for your number.",
                         "此連結今天沒有對應的籌號。您的籌號紙仍然有效，請留意大堂顯示屏。"),
    "already_given": (409, "Feedback for this visit was already given; thank you.",
                      "此籌號已提交意見，謝謝。"),
    "feedback_too_early": (409, "Feedback can be given once your visit at the counter is over.",
                           "櫃位辦理完成後方可提交意見。"),
    "id_not_reported": (422, "This offline collection came without the identity number; it is "
                             "flagged for the supervisor to check.",
                        "此離線取證報告沒有身份證號碼，已交主管核查。"),
    "bad_date": (422, "The date must be today or tomorrow.", "日期必須是今天或明天。"),
    # notices and closures (CONTRACT §10)
    "closure_notice": (409, "This notice says issuing is closed; reopen issuing to remove it.",
                       "此通告為停止派籌通告，請恢復派籌以移除。"),
    # the booking platform (CONTRACT §11)
    "slot_full": (409, "This slot has no free place left; choose another time, or join the "
                       "day's waiting list.",
                  "此預約時段已滿，請選擇其他時間，或加入該日的候補名單。"),
    "slot_unavailable": (422, "This is not a bookable slot (closed, blocked, or beyond the "
                              "days open for booking); choose another one.",
                         "此時段不可預約（休息、已暫停或超出可預約日期），請另選時段。"),
    "too_soon": (422, "This slot is too soon to book, change or cancel; choose a later one, or "
                      "call the centre.",
                 "此預約時段太近，不可預約、更改或取消；請選擇較後的時段，或致電中心。"),
    "no_changes_left": (422, "This appointment cannot be changed again; keep it, or cancel it "
                             "and book again when places free up.",
                        "此預約已不可再更改；請保留，或取消後於有名額時再預約。"),
    "day_not_full": (422, "This day still has free places; book one of them instead.",
                     "該日仍有名額，請直接預約。"),
    "waitlist_limit": (422, "You are on the waiting lists of 3 days already; wait for an offer "
                            "or book a free place.",
                       "你已在 3 日的候補名單上，請等候通知或預約其他有名額的時段。"),
    # staff logins and the supervisor's screen
    "csrf_failed": (403, "This page is out of date or came from elsewhere; reload it and try "
                         "again.", "此頁面已過期或來源不明，請重新載入後再試。"),
    "login_failed": (401, "The name or password is wrong; check them and try again.",
                     "用戶名稱或密碼不正確，請核對後再試。"),
    "already_exists": (409, "A login or credential with this name already exists; choose "
                            "another name.", "已有同名的登入帳戶或憑證，請另選名稱。"),
    "password_too_short": (422, "The password is too short; use at least 10 characters.",
                           "密碼太短，請使用最少 10 個字元。"),
}


class ApiError(Exception):
    """An answer in the contract's error shape."""

    def __init__(self, code: str, status: int | None = None, message_en: str | None = None,
                 extra: dict[str, Any] | None = None, message_zh: str | None = None) -> None:
        known = MESSAGES.get(code)
        self.code = code
        self.status = status or (known[0] if known else 400)
        self.message_en = message_en or (known[1] if known else code.replace("_", " "))
        self.message_zh = message_zh or (known[2] if known else self.message_en)
        self.extra = extra or {}
        super().__init__(f"{self.status} {code}: {self.message_en}")

    def body(self) -> dict[str, Any]:
        return {
            "error": {"code": self.code, "message_en": self.message_en,
                      "message_zh": self.message_zh},
            **self.extra,
        }


class RateLimited(ApiError):
    """429 `rate_limited`, with the whole seconds to wait for `Retry-After`."""

    def __init__(self, wait_ms: int) -> None:
        super().__init__("rate_limited")
        self.retry_after = max(1, math.ceil(wait_ms / 1000))
