// The photo booth station: each qualified-photo receipt is registered as it is printed, and its
// barcode slip printed for the applicant to take to the inquiry counter.

import { ApiError, api, guarded, newKey, pageData } from "/static/shared/api.js";
import { message, printSlip, refusal } from "./staff.js";

const page = pageData();
const C = `/api/v1/centres/${encodeURIComponent(page.centre.id)}`;
const $ = (id) => document.getElementById(id);
const box = $("photo-message");
const state = { registered: [] };
window.__photo = state;

// The barcode as Code 128, drawn by the server as it draws the receipt slip's number.
async function barcodeSvg(barcode) {
  const svg = await api("GET", `/photo/${encodeURIComponent(page.centre.id)}/barcode.svg?text=${encodeURIComponent(barcode)}`,
    undefined, { accept: "image/svg+xml" });
  const drawn = new DOMParser().parseFromString(svg, "image/svg+xml").documentElement;
  if (drawn.localName !== "svg") throw new ApiError(502, null);
  return document.importNode(drawn, true);
}

async function show(barcode, issuedAt) {
  const bars = await barcodeSvg(barcode);
  $("registered").hidden = false;
  $("registered-barcode").textContent = barcode;
  $("registered-bars").replaceChildren(bars);
  $("slip-bars").replaceChildren(bars.cloneNode(true));
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
    await show(answer.barcode, answer.issued_at);
    message(box, "ok", `已登記 ${answer.barcode}`, `Registered ${answer.barcode}`);
    $("barcode").value = "";
    $("barcode").focus();
    if ($("auto_print").checked) await printSlip($("slip"));
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    if (!e.unreachable) pending.delete(barcode);
    refusal(box, e);
    // Its slip, to print again; should the server not draw it now, the refusal above is what
    // the person needs, and scanning it again draws it.
    if (e.code === "photo_receipt_exists") await show(barcode, null).catch(() => {});
    $("barcode").select();
  }
}));

$("reprint").addEventListener("click", guarded($("reprint"), () => printSlip($("slip"))));
