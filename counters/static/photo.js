// The photo booth station: each qualified-photo receipt is registered as it is printed, and its
// barcode slip printed for the applicant to take to the inquiry counter.

import { ApiError, api, guarded, newKey, pageData } from "/static/displays/api.js";
import { code128Svg } from "./code128.js";
import { message, printSlip, refusal } from "./staff.js";

const page = pageData();
const C = `/api/v1/centres/${encodeURIComponent(page.centre.id)}`;
const $ = (id) => document.getElementById(id);
const box = $("photo-message");
const state = { registered: [] };
window.__photo = state;

function show(barcode, issuedAt) {
  $("registered").hidden = false;
  $("registered-barcode").textContent = barcode;
  $("registered-bars").replaceChildren(code128Svg(barcode));
  $("slip-bars").replaceChildren(code128Svg(barcode));
  $("slip-barcode").textContent = barcode;
  $("slip-time").textContent = issuedAt
    ? new Intl.DateTimeFormat("en-GB", { dateStyle: "medium", timeStyle: "short", timeZone: page.timezone })
      .format(new Date(Date.parse(issuedAt)))
    : "";
}

// A retry after a lost answer keeps its key, so it registers the barcode once; any answer
// ends the attempt, so scanning the same barcode again is a new request (and refused).
const pending = new Map();

$("register").addEventListener("submit", guarded($("register-go"), async () => {
  const barcode = $("barcode").value.trim();
  if (!barcode) return;
  if (!/^[\x20-\x7e]+$/.test(barcode)) {
    message(box, "bad", "條碼只可包含英文字母、數字及符號。", "A barcode holds letters, digits and symbols only.");
    return;
  }
  if (!pending.has(barcode)) pending.set(barcode, newKey());
  try {
    const answer = await api("POST", C + "/photo-receipts", { barcode }, { idempotencyKey: pending.get(barcode) });
    pending.delete(barcode);
    state.registered.push(answer.barcode);
    show(answer.barcode, answer.issued_at);
    message(box, "ok", `已登記 ${answer.barcode}`, `Registered ${answer.barcode}`);
    $("barcode").value = "";
    $("barcode").focus();
    if ($("auto_print").checked) await printSlip($("slip"));
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    if (!e.unreachable) pending.delete(barcode);
    refusal(box, e);
    if (e.code === "photo_receipt_exists") show(barcode, null);
    $("barcode").select();
  }
}));

$("reprint").addEventListener("click", guarded($("reprint"), () => printSlip($("slip"))));
