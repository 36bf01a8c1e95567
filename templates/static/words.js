// The centre's words (GLOSSARY.md) for statuses and what to do after each refusal, in both
// languages, shared by the staff screens and the kiosk.

export const STATUS = {
  waiting: ["等候中", "Waiting"],
  called: ["已叫號", "Called"],
  accepted: ["已受理", "Accepted"],
  paid: ["已繳費", "Paid"],
  done: ["已完成", "Done"],
  declined: ["不予受理", "Not accepted"],
  no_show: ["過號", "No-show"],
};

export const COUNTER_STATE = {
  open: ["開放", "Open"],
  paused: ["暫停", "Paused"],
  closed: ["關閉", "Closed"],
};

export const APPLICATION_TYPE = {
  first: ["首次申請", "First application"],
  renewal: ["換發", "Renewal"],
  reissue_lost: ["補發（遺失）", "Replacement (lost)"],
  reissue_damaged: ["補發（損毀）", "Replacement (damaged)"],
};

export const PAYMENT_METHOD = {
  cash: ["現金", "Cash"],
  eps: ["易辦事", "EPS"],
  octopus: ["八達通", "Octopus"],
  card: ["信用卡", "Card"],
};

export const DECLINE_REASON = {
  documents_missing: ["欠缺文件", "Documents missing"],
  photo_rejected: ["相片不合格", "Photo rejected"],
  not_eligible: ["不符合資格", "Not eligible"],
  other: ["其他", "Other"],
};

// What the person at the desk does next, after each refusal.
export const NEXT_STEP = {
  issuing_closed: ["今天已停止派籌：請告知申請人另約日期；已取籌號人士仍會獲叫號。", "Issuing is closed: ask the applicant to book another day; those holding a number are still called."],
  unknown_printer: ["請從清單選擇打印機，或改用瀏覽器列印。", "Choose a printer from the list, or print from the browser."],
  closure_notice: ["請按「恢復派籌」移除此通告。", "Press \"Reopen issuing\" to remove this notice."],
  booking_not_found: ["請核對申請人的預約確認及預約編號。", "Check the booking reference against the applicant's confirmation."],
  booking_cancelled: ["此預約已取消，申請人須重新預約。", "The appointment was cancelled; the applicant needs a new booking."],
  wrong_centre: ["請指示申請人前往預約所屬的證件服務中心。", "Direct the applicant to the centre named in the booking."],
  wrong_date: ["請申請人於預約當日再來。", "Ask the applicant to come on the booked day."],
  invalid_id_number: ["請再次掃描或輸入身份證號碼。", "Scan or type the identity number again."],
  id_mismatch: ["請核對證件是否屬於預約申請人。", "Check that the card belongs to the person who booked."],
  already_checked_in: ["此預約已有籌號，可再列印。", "This booking already has a number; print it again if needed."],
  too_early: ["請申請人於預約時段前 30 分鐘內再來取號。", "Ask the applicant to come back within the arrival window."],
  too_late: ["已過取號時段，請主管批准。", "Past the arrival window: a supervisor may check in with an override."],
  photo_receipt_unknown: ["請申請人先到相片檢測站拍照。", "Send the applicant to the photo booth first."],
  photo_receipt_used: ["此回執已使用，請申請人重新拍照。", "This receipt was used; the applicant needs a new photo."],
  no_service: ["請通知主管。", "Call a supervisor."],
  photo_receipt_exists: ["此回執已登記，可再列印條碼。", "Already registered; print its barcode again if needed."],
  counter_busy: ["請先完成目前的籌號。", "Finish the current number first."],
  counter_paused: ["請先恢復櫃位。", "Resume the counter first."],
  no_current_ticket: ["請先叫號。", "Call a number first."],
  wrong_amount: ["請核對此申請類別的費用。", "Check the fee for this application type."],
  csrf_failed: ["請重新載入頁面。", "Reload the page."],
  unauthenticated: ["請重新登入。", "Sign in again."],
  unreachable: ["請稍後再試；如持續，請通知主管。", "Try again shortly; if it persists, call a supervisor."],
};

export function words(table, key) {
  return table[key] || [key, key];
}
