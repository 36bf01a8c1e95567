// The counter clerk's panel: open, call, recall, no-show, transfer, pause, close; then the
// called applicant's acceptance or decline, payment and receipt as one guided flow. It follows
// the centre's live events, so another tab acting on the same counter shows here at once.

import { ApiError, api, bi, el, guarded as guardedBy, newKey, pageData } from "/static/shared/api.js";
import { LiveEvents, debounced } from "/static/shared/live.js";
import {
  APPLICATION_TYPE, COUNTER_STATE, DECLINE_REASON, PAYMENT_METHOD, STATUS, words,
} from "/static/shared/words.js";
import { clear, liveMark, message, refusal } from "./staff.js";

const page = pageData();
const centre = page.centre;
const N = page.counter_number;
const C = `/api/v1/centres/${encodeURIComponent(centre.id)}`;
const K = `${C}/counters/${N}`;
const $ = (id) => document.getElementById(id);
const counterBox = $("counter-message");
const serviceBox = $("service-message");
const UNFINISHED = new Set(["called", "accepted", "paid"]);
// Buttons are released, then the panel decides again which of them apply.
const guarded = (button, action) => guardedBy(button, action, () => render());

const state = {
  counterState: null,
  ticket: null,      // the counter's ticket as last read
  booking: null,
  receipt: null,     // the receipt issued here for the current ticket
  board: null,
};
window.__counter = state;

for (const option of $("decline-reason").options) {
  const [zh, en] = words(DECLINE_REASON, option.value);
  option.textContent = `${zh} ${en}`;
}
for (const option of $("pay-method").options) {
  const [zh, en] = words(PAYMENT_METHOD, option.value);
  option.textContent = `${zh} ${en}`;
}

// One Idempotency-Key per step of one ticket: a retry after a lost answer (or a second tab)
// records one acceptance, one payment, one receipt.
const stepKeys = new Map();
function stepKey(step, number) {
  const name = `${step}:${number}`;
  if (!stepKeys.has(name)) stepKeys.set(name, newKey());
  return stepKeys.get(name);
}

// --- reading the counter's state ---------------------------------------------------------------

async function readState() {
  const board = await api("GET", C + "/board");
  state.board = board;
  renderWaiting(board);
  const counter = (board.counters || []).find((c) => c.number === N);
  state.counterState = counter ? counter.state : "closed";
  const serving = (board.now_serving || []).find((s) => s.counter === N);
  if (serving) {
    const answer = await api("GET", `${C}/tickets/${encodeURIComponent(serving.ticket)}`);
    setTicket(answer.ticket);
  } else if (state.ticket && UNFINISHED.has(state.ticket.status)) {
    // Our ticket left the counter elsewhere (another tab): read how it ended.
    const answer = await api("GET", `${C}/tickets/${encodeURIComponent(state.ticket.number)}`);
    setTicket(answer.ticket);
  }
  render();
}

const refresh = debounced(readState, 250);

function setTicket(ticket) {
  const changed = !state.ticket || !ticket || state.ticket.number !== ticket.number;
  state.ticket = ticket;
  if (changed) {
    state.booking = null;
    state.receipt = null;
    if (ticket) loadBooking(ticket.number);
  }
}

async function loadBooking(number) {
  try {
    const answer = await api("GET", `${C}/tickets/${encodeURIComponent(number)}/booking`);
    if (state.ticket && state.ticket.number === number) {
      state.booking = answer.booking;
      render();
    }
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    state.booking = null;
  }
}

// --- rendering ---------------------------------------------------------------------------------

function fact(list, zh, en, value) {
  list.append(el("dt", {}, bi(zh, en)), el("dd", {}, value));
}

function render() {
  const st = state.counterState || "closed";
  const pill = $("counter-state");
  pill.className = "pill " + st;
  const [zh, en] = words(COUNTER_STATE, st);
  pill.replaceChildren(bi(zh, en));
  $("pause").hidden = st === "paused";
  $("resume").hidden = st !== "paused";

  const t = state.ticket;
  $("current-number").textContent = t ? t.number : "—";
  const facts = $("current-facts");
  facts.replaceChildren();
  if (t) {
    const status = words(STATUS, t.status);
    fact(facts, "狀態", "Status", el("span", { id: "current-status", "data-status": t.status }, bi(status[0], status[1])));
    if (t.called_at) fact(facts, "叫號時間", "Called at", t.called_at.slice(11, 16));
    if (t.recalls) fact(facts, "再次廣播", "Recalls", String(t.recalls));
    if (t.acceptance_no) fact(facts, "受理編號", "Acceptance number", t.acceptance_no);
  }
  const bf = $("booking-facts");
  bf.replaceChildren();
  const b = state.booking;
  if (t && b) {
    fact(bf, "姓名", "Name", `${b.surname}, ${b.given_names}`);
    const type = words(APPLICATION_TYPE, b.application_type);
    fact(bf, "申請類別", "Application", bi(type[0], type[1]));
    fact(bf, "身份證明", "Identity", el("span", { id: "id-masked", text: b.id_masked || "" }));
    fact(bf, "國籍", "Nationality", b.nationality || "");
    fact(bf, "護照", "Passport", b.passport_masked || "");
    fact(bf, "預約時段", "Booked slot", `${b.slot_start}–${b.slot_end}`);
    if (b.fee_hkd !== null && b.fee_hkd !== undefined) fact(bf, "費用", "Fee", `HK$ ${b.fee_hkd}`);
    if (b.surrender_old_permit) fact(bf, "舊證", "Old permit", bi("須交回", "to be surrendered at collection"));
  }
  const status = t ? t.status : null;
  const order = ["called", "accepted", "paid"];
  for (const li of $("steps").children) {
    const step = li.dataset.step;
    li.className = status === step ? "now"
      : (status && (order.indexOf(status) > order.indexOf(step) || status === "done") ? "done" : "");
  }
  $("step-called").hidden = status !== "called";
  $("step-accepted").hidden = status !== "accepted";
  $("step-paid").hidden = status !== "paid";
  $("step-done").hidden = status !== "done";
  if (status === "accepted" && b && !$("pay-amount").value) $("pay-amount").value = String(b.fee_hkd ?? "");
  const receiptNo = (state.receipt && state.receipt.receipt_no) || (t && t.receipt_no);
  const rf = $("receipt-facts");
  rf.replaceChildren();
  if (status === "done" && receiptNo) {
    fact(rf, "收據編號", "Receipt number", el("span", { id: "receipt-no", text: receiptNo }));
    if (state.receipt) {
      fact(rf, "取證日期", "Collection date", state.receipt.collection_date);
      if (state.receipt.surrender_old_permit) fact(rf, "舊證", "Old permit", bi("取證時須交回", "surrender at collection"));
    }
    $("slip-link").href = `/api/v1/receipts/${encodeURIComponent(receiptNo)}/slip`;
  }
  const busy = t && UNFINISHED.has(t.status);
  $("recall").disabled = !(t && t.status === "called");
  $("no-show").disabled = !(t && t.status === "called");
  $("transfer-go").disabled = !(t && t.status === "called");
  $("call-next").disabled = !!busy || st === "paused";
}

function renderWaiting(board) {
  const rows = centre.services.map((s) => el("tr", { "data-service": s.code },
    el("th", {}, `${s.code} `, bi(s.name_zh, s.name_en)),
    el("td", { class: "number", text: String((board.waiting || {})[s.code] ?? 0) }),
    el("td", { text: (board.estimated_wait_minutes || {})[s.code] === null
      ? "暫停服務 No counter open"  // no counter open for it: no figure to give
      : `${(board.estimated_wait_minutes || {})[s.code] ?? 0} 分鐘 min` })));
  $("waiting").replaceChildren(...rows);
}

// --- actions -----------------------------------------------------------------------------------

// Runs one action, shows its refusal if any, and reads the counter again either way.
async function act(box, run) {
  clear(box);
  try {
    return await run();
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    refusal(box, e);
    return null;
  } finally {
    await readState().catch(() => {});
  }
}

function counterAction(button, path, body) {
  button.addEventListener("click", guarded(button, () => act(counterBox, async () => {
    const answer = await api("POST", `${K}/${path}`, body ? body() : undefined, { idempotencyKey: newKey() });
    if (answer && "ticket" in answer && answer.ticket) setTicket(answer.ticket);
    return answer;
  })));
}

counterAction($("open"), "open");
counterAction($("pause"), "pause");
counterAction($("resume"), "resume");
counterAction($("close"), "close");
counterAction($("recall"), "recall");
counterAction($("no-show"), "no-show");

$("call-next").addEventListener("click", guarded($("call-next"), () => act(counterBox, async () => {
  const answer = await api("POST", `${K}/call`, undefined, { idempotencyKey: newKey() });
  if (answer.ticket) setTicket(answer.ticket);
  else message(counterBox, "info", "目前沒有人等候。", "Nobody is waiting.");
  return answer;
})));

$("call-given").addEventListener("submit", guarded($("call-given-go"), () => act(counterBox, async () => {
  const number = $("given-number").value.trim().toUpperCase();
  if (!number) return null;
  const answer = await api("POST", `${K}/call`, { ticket: number }, { idempotencyKey: newKey() });
  if (answer.ticket) setTicket(answer.ticket);
  $("given-number").value = "";
  return answer;
})));

$("transfer").addEventListener("submit", guarded($("transfer-go"), () => act(counterBox, async () => {
  const answer = await api("POST", `${K}/transfer`, { service: $("transfer-service").value },
    { idempotencyKey: newKey() });
  message(counterBox, "ok", `${answer.ticket.number} 已轉至 ${answer.ticket.service}`,
    `${answer.ticket.number} transferred to ${answer.ticket.service}`);
  return answer;
})));

// Ticket steps name this panel's counter, so a supervisor at any counter's panel acts there.
function ticketPath(step) {
  return `${C}/tickets/${encodeURIComponent(state.ticket.number)}/${step}`;
}

$("accept").addEventListener("click", guarded($("accept"), () => act(serviceBox, async () => {
  if (!state.ticket) return null;
  const answer = await api("POST", ticketPath("acceptance"), { counter: N },
    { idempotencyKey: stepKey("acceptance", state.ticket.number) });
  setTicket(answer.ticket);
  return answer;
})));

$("decline").addEventListener("submit", guarded($("decline-go"), () => act(serviceBox, async () => {
  if (!state.ticket) return null;
  const body = { reason: $("decline-reason").value, note: $("decline-note").value.trim(), counter: N };
  const answer = await api("POST", ticketPath("decline"), body,
    { idempotencyKey: stepKey("decline", state.ticket.number) });
  setTicket(answer.ticket);
  $("decline-note").value = "";
  return answer;
})));

$("step-accepted").addEventListener("submit", guarded($("pay"), () => act(serviceBox, async () => {
  if (!state.ticket) return null;
  const body = { method: $("pay-method").value, amount_hkd: Number($("pay-amount").value), counter: N };
  const reference = $("pay-reference").value.trim();
  if (reference) body.reference = reference;
  const answer = await api("POST", ticketPath("payment"), body,
    { idempotencyKey: stepKey("payment", state.ticket.number) });
  setTicket(answer.ticket);
  $("pay-reference").value = "";
  $("pay-amount").value = "";
  return answer;
})));

$("receipt").addEventListener("click", guarded($("receipt"), () => act(serviceBox, async () => {
  if (!state.ticket) return null;
  const number = state.ticket.number;
  const answer = await api("POST", ticketPath("receipt"), { counter: N },
    { idempotencyKey: stepKey("receipt", number) });
  state.receipt = answer;
  const ticket = await api("GET", `${C}/tickets/${encodeURIComponent(number)}`);
  state.ticket = ticket.ticket;
  return answer;
})));

// --- keyboard shortcuts ------------------------------------------------------------------------

const SHORTCUTS = { n: "call-next", r: "recall", x: "no-show", a: "accept" };

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.altKey || event.metaKey || event.repeat) return;
  const target = event.target;
  if (target && ["INPUT", "SELECT", "TEXTAREA"].includes(target.tagName)) return;
  const key = event.key.toLowerCase();
  let id = SHORTCUTS[key];
  if (key === "p") id = state.counterState === "paused" ? "resume" : "pause";
  const button = id && $(id);
  if (!button || button.disabled || button.closest("[hidden]")) return;
  event.preventDefault();
  button.click();
});

new LiveEvents(centre.id, page.token, {
  onBoard: () => refresh(),
  onEvent: () => refresh(),
  onStatus: liveMark,
}).start();
render();
