// The inquiry desk: a barcode scanner types like a keyboard and ends with Enter, so each field
// moves to the next on Enter and the last one submits. The issued number shows big, with its
// slip printed — on the thermal printer chosen here (remembered on this PC), or by the browser;
// every refusal says in both languages what to do next. The hall's notices show beside, and a
// closure of issuing in red above everything.

import { ApiError, api, bi, clockText, el, guarded, newKey, pageData } from "/static/shared/api.js";
import { LiveEvents, debounced } from "/static/shared/live.js";
import { STATUS, words } from "/static/shared/words.js";
import { clear, liveMark, message, printSlip, refusal } from "./staff.js";

const page = pageData();
const centre = page.centre;
const C = `/api/v1/centres/${encodeURIComponent(centre.id)}`;
const services = Object.fromEntries(centre.services.map((s) => [s.code, s]));
const fields = ["booking_ref", "id_number", "photo_barcode"].map((id) => document.getElementById(id));
const form = document.getElementById("checkin");
const box = document.getElementById("desk-message");
const state = { issued: [], refusals: [], lastTicket: null, printed: [], printerFailures: [] };
window.__desk = state;

// --- the printer: a thermal printer of the centre, or the browser's printing -------------------

const PRINTER_KEY = `queueserver.printer.${centre.id}`;
const printerChoice = document.getElementById("printer");
const printerBox = document.getElementById("printer-message");
const remembered = localStorage.getItem(PRINTER_KEY) || "";
if ([...printerChoice.options].some((o) => o.value === remembered)) printerChoice.value = remembered;
printerChoice.addEventListener("change", () => localStorage.setItem(PRINTER_KEY, printerChoice.value));

function thermal() {
  return printerChoice.value || null;
}

// Which field to fix after a refusal (the phone is not one of the three scanned fields).
const FIELD_OF = {
  booking_not_found: 0, booking_cancelled: 0, wrong_centre: 0, wrong_date: 0,
  invalid_id_number: 1, id_mismatch: 1, photo_receipt_unknown: 2, photo_receipt_used: 2,
};

fields.forEach((input, i) => {
  input.addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    event.preventDefault();
    if (!input.value.trim()) return;
    if (i < fields.length - 1) fields[i + 1].focus();
    else form.requestSubmit();
  });
});

document.addEventListener("keydown", (event) => {
  if (event.key === "Escape") {
    form.reset();
    clear(box);
    fields[0].focus();
  }
});

// One key per set of answers until the server answers: resubmitting after a lost reply
// cannot issue a second number.
let attempt = { values: null, key: null };
function keyFor(body) {
  const values = JSON.stringify(body);
  if (attempt.values !== values) attempt = { values, key: newKey() };
  return attempt.key;
}

function serviceText(code) {
  const s = services[code];
  return s ? `${s.code} ${s.name_zh} ${s.name_en}` : code;
}

// The QR code of the ticket's follow page (CONTRACT §9), asked for by number with the desk's own
// credential: the token itself never appears in a URL the desk requests.
function followQr(ticket) {
  return `${C}/tickets/${encodeURIComponent(ticket.number)}/follow-qr.svg`;
}

// The desk may type a Hong Kong number as people say it; the API takes E.164 only.
function phoneNumber(raw) {
  const bare = raw.replace(/[\s()-]/g, "");
  if (/^[4-9]\d{7}$/.test(bare)) return "+852" + bare;
  return bare;
}

// An estimate's words; null: no counter is open for the service, so there is no figure.
function waitText(minutes) {
  return minutes === null ? "暫停服務 No counter open" : `${minutes ?? 0} 分鐘 min`;
}

function showIssued(ticket) {
  state.lastTicket = ticket;
  document.getElementById("issued").hidden = false;
  document.getElementById("issued-number").textContent = ticket.number;
  document.getElementById("issued-service").textContent = serviceText(ticket.service);
  document.getElementById("issued-position").textContent = String(ticket.position);
  document.getElementById("issued-wait").textContent = waitText(ticket.estimated_wait_minutes);
  const issuedAt = Date.parse(ticket.issued_at);
  document.getElementById("issued-time").textContent = clockText(page, issuedAt);
  document.getElementById("slip-number").textContent = ticket.number;
  document.getElementById("slip-service").textContent = serviceText(ticket.service);
  document.getElementById("slip-wait").textContent = ticket.estimated_wait_minutes === null
    ? "暫停服務 · No counter open"
    : `約等候 ${ticket.estimated_wait_minutes} 分鐘 · About ${ticket.estimated_wait_minutes} min`;
  document.getElementById("slip-time").textContent =
    new Intl.DateTimeFormat("en-GB", { dateStyle: "medium", timeStyle: "short", timeZone: page.timezone })
      .format(new Date(issuedAt));
  const follow = Boolean(ticket.follow_url);
  document.getElementById("issued-follow").hidden = !follow;
  document.getElementById("slip-qr").hidden = !follow;
  document.getElementById("slip-qr-text").hidden = !follow;
  if (follow) {
    document.getElementById("issued-qr").src = followQr(ticket);
    document.getElementById("slip-qr").src = followQr(ticket);
  }
}

async function browserPrint() {
  await printSlip(document.getElementById("slip"));
}

// "Print again": the chosen thermal printer, else the browser.
async function print() {
  const printer = thermal();
  if (!printer || !state.lastTicket) return browserPrint();
  try {
    await api("POST", `${C}/tickets/${encodeURIComponent(state.lastTicket.number)}/print`, { printer },
      { idempotencyKey: newKey() });
    state.printed.push(state.lastTicket.number);
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    refusal(printerBox, e);
  }
}

// The worker could not print on a thermal printer for two minutes: print it here instead.
async function printerFailed(data) {
  state.printerFailures.push(data);
  if (data.slip !== "ticket") {
    message(printerBox, "bad", `打印機 ${data.printer} 未能列印收據回執 (${data.ticket})，請在櫃位以瀏覽器列印。`,
      `Printer ${data.printer} could not print the receipt of ${data.ticket}; print it from the counter's browser.`);
    return;
  }
  const node = message(printerBox, "bad", `打印機 ${data.printer} 未能列印籌號 ${data.ticket}。`,
    `Printer ${data.printer} could not print number ${data.ticket}.`,
    ["請檢查打印機（電源、紙張），或以瀏覽器列印。", "Check the printer (power, paper), or print from the browser."]);
  node.dataset.code = "printer_failed";
  const button = el("button", { type: "button", class: "action", id: "print-in-browser" },
    bi("以瀏覽器列印", "Print from the browser"));
  button.addEventListener("click", guarded(button, async () => {
    const answer = await api("GET", `${C}/tickets/${encodeURIComponent(data.ticket)}`);
    showIssued(answer.ticket);
    await browserPrint();
  }));
  node.append(el("div", { class: "actions" }, button));
}

form.addEventListener("submit", guarded(document.getElementById("issue"), async () => {
  const body = {
    booking_ref: fields[0].value.trim(),
    id_number: fields[1].value.trim(),
    photo_barcode: fields[2].value.trim(),
    priority: document.getElementById("priority").checked,
  };
  const override = document.getElementById("override_window");
  if (override && override.checked) body.override_window = true;
  const phone = document.getElementById("phone").value.trim();
  if (phone) body.phone = phoneNumber(phone);
  const printer = thermal();
  if (printer && document.getElementById("auto_print").checked) body.printer = printer;
  const empty = fields.findIndex((f) => !f.value.trim());
  if (empty >= 0) {
    message(box, "bad", "請填寫所有欄位。", "Fill in every field.");
    fields[empty].focus();
    return;
  }
  try {
    const answer = await api("POST", C + "/tickets", body, { idempotencyKey: keyFor(body) });
    attempt = { values: null, key: null };
    state.issued.push(answer.ticket.number);
    showIssued(answer.ticket);
    message(box, "ok", `已發出籌號 ${answer.ticket.number}`, `Number ${answer.ticket.number} issued`);
    form.reset();
    if (override) override.checked = false;
    fields[0].focus();
    if (body.printer) state.printed.push(answer.ticket.number);
    else if (document.getElementById("auto_print").checked) await browserPrint();
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    if (!e.unreachable) attempt = { values: null, key: null };
    state.refusals.push(e.code);
    refusal(box, e);
    if (e.code === "already_checked_in" && e.body.ticket) showIssued(e.body.ticket);
    if (e.code === "invalid_phone") {
      document.getElementById("phone").select();
      document.getElementById("phone").focus();
    }
    const again = FIELD_OF[e.code];
    if (again !== undefined) {
      fields[again].select();
      fields[again].focus();
    }
  }
}));

document.getElementById("reprint").addEventListener("click", guarded(document.getElementById("reprint"), print));

// --- look up and requeue -----------------------------------------------------------------------

const lookupBox = document.getElementById("lookup-result");

function showTicket(ticket) {
  const status = words(STATUS, ticket.status);
  const facts = el("dl", { class: "facts" },
    el("dt", {}, bi("籌號", "Number")), el("dd", { class: "number", text: ticket.number }),
    el("dt", {}, bi("狀態", "Status")), el("dd", { "data-status": ticket.status }, bi(status[0], status[1])),
    el("dt", {}, bi("服務", "Service")), el("dd", { text: serviceText(ticket.service) }));
  if (ticket.status === "waiting") {
    facts.append(el("dt", {}, bi("前面人數", "Ahead")), el("dd", { text: String(ticket.position) }));
  }
  if (ticket.counter) facts.append(el("dt", {}, bi("櫃位", "Counter")), el("dd", { text: String(ticket.counter) }));
  const children = [facts];
  if (ticket.status === "no_show") {
    const requeue = el("button", { type: "button", class: "primary", id: "requeue" }, bi("重新排隊", "Requeue"));
    const key = newKey();
    requeue.addEventListener("click", guarded(requeue, async () => {
      try {
        const answer = await api("POST", `${C}/tickets/${encodeURIComponent(ticket.number)}/requeue`,
          undefined, { idempotencyKey: key });
        showTicket(answer.ticket);
        message(box, "ok", `${ticket.number} 已重新排隊`, `${ticket.number} is waiting again`);
      } catch (e) {
        if (!(e instanceof ApiError)) throw e;
        refusal(lookupBox, e);
      }
    }));
    children.push(el("div", { class: "actions" }, requeue));
  }
  lookupBox.replaceChildren(...children);
}

document.getElementById("lookup").addEventListener("submit", guarded(document.getElementById("lookup-go"), async () => {
  const number = document.getElementById("lookup_number").value.trim().toUpperCase();
  if (!number) return;
  try {
    const answer = await api("GET", `${C}/tickets/${encodeURIComponent(number)}`);
    showTicket(answer.ticket);
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    refusal(lookupBox, e);
  }
}));

// --- waiting counts, live ----------------------------------------------------------------------

function renderWaiting(board) {
  const table = document.getElementById("waiting");
  const rows = centre.services.map((s) => el("tr", { "data-service": s.code },
    el("th", {}, `${s.code} `, bi(s.name_zh, s.name_en)),
    el("td", { class: "number", text: String((board.waiting || {})[s.code] ?? 0) }),
    el("td", { text: waitText((board.estimated_wait_minutes || {})[s.code]) })));
  table.replaceChildren(...rows);
}

// --- notices and the closure ---------------------------------------------------------------------

function renderNotices(board) {
  const closure = board.issuing === false ? board.closure : null;
  const banner = document.getElementById("closure");
  banner.hidden = !closure;
  document.getElementById("closure-zh").textContent = closure ? closure.text_zh : "";
  document.getElementById("closure-en").textContent = closure ? closure.text_en : "";
  document.body.classList.toggle("issuing-closed", !!closure);
  const notices = board.notices || [];
  document.getElementById("notices-card").hidden = !notices.length;
  document.getElementById("notices").replaceChildren(...notices.map((n) =>
    el("li", { "data-notice": n.id, class: closure && closure.notice === n.id ? "closure" : "" },
      el("div", { lang: "zh-Hant", text: n.text_zh }), el("div", { lang: "en", text: n.text_en }),
      n.until ? el("div", { class: "until", text: `至 ${clockText(page, Date.parse(n.until))} until` }) : null)));
}

function renderBoard(board) {
  renderWaiting(board);
  renderNotices(board);
}

const refresh = debounced(async () => renderBoard(await api("GET", C + "/board")), 300);
new LiveEvents(centre.id, page.token, {
  onBoard: renderBoard,
  onEvent: (event) => {
    if (event.type === "printer.failed") printerFailed(event.data);
    refresh();
  },
  onStatus: liveMark,
}).start();
