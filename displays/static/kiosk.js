// The collection kiosk: receipt number and identity number in, the answer and the permit out.
// It keeps a copy of the centre's eligible feed and kiosk key, so while the server cannot be
// reached it still checks the person in front of it (the identity number against the receipt's
// 16-bit `id_verifier`, never the number itself) and reports its collections when the server is
// back. Nothing it keeps in the browser's storage holds an identity number (docs/screens.md).
//
// Its state is `window.__kiosk`.

import { ApiError, api, el, guarded, newKey, pageData, serverClock } from "/static/shared/api.js";
import { fromHex, hex, hmacSha256, utf8 } from "./sha256.js";

const page = pageData();
const centre = page.centre;
const clock = serverClock(page);
const $ = (id) => document.getElementById(id);
const STORE = `qs-kiosk:${centre.id}`;
const OUTBOX = `qs-kiosk-outbox:${centre.id}`;
// CONTRACT §5: the feed is today's or tomorrow's, so the copy holds the receipts due by
// tomorrow and no more (offline, someone a day early still hears "not yet, come on DATE").
const FEED_DAYS_AHEAD = 1;
// The verifier's length: 16 bits, as hex.
const VERIFIER_HEX = 4;
// Fresh enough that a receipt issued this morning is in the copy by the afternoon.
const FEED_REFRESH_MS = 2 * 60 * 1000;
// An answer stays on screen this long untouched, then the kiosk clears it for the next person.
const CLEAR_AFTER_MS = 60 * 1000;

// Receipt numbers as the server reads them (queueserver/rules/numbering.py): any case, no
// separators, O read as 0 and I or L as 1; the last symbol is a Damm check over GF(32).
const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const RANDOM_SYMBOLS = 8;

export function normaliseReceipt(raw) {
  return raw.replace(/[\s\-_.]+/g, "").toUpperCase().replace(/O/g, "0").replace(/[IL]/g, "1");
}

function timesAlpha(x) {
  const y = x << 1;
  return y & 0b100000 ? y ^ 0b100101 : y;
}

export function wellFormed(number) {
  if (number.length <= RANDOM_SYMBOLS + 1) return false;
  let r = 0;
  for (const ch of number) {
    const v = ALPHABET.indexOf(ch);
    if (v < 0) return false;
    r = timesAlpha(r) ^ v;
  }
  return r === 0;
}

// CONTRACT §5: upper case, no brackets or spaces (A123456(3) -> A1234563); an access-notice
// reference upper-cased with spaces removed. Which kind it is the kiosk cannot tell, so both.
function idCandidates(raw) {
  const plain = raw.replace(/\s+/g, "").toUpperCase();
  return Array.from(new Set([plain.replace(/[()]/g, ""), plain]));
}

function load(name, fallback) {
  try {
    return JSON.parse(localStorage.getItem(name) || "null") || fallback;
  } catch (e) {
    return fallback;
  }
}

const state = {
  cache: load(STORE, { key: null, receipts: {}, fetched_at: null, through: null }),
  // Collections made offline, to report when the server is back, each deleted as soon as the
  // server has it. Stored without the identity number: see `ids`.
  outbox: load(OUTBOX, []),
  // The identity number of each pending report (by its Idempotency-Key), which the server
  // checks in full: in this page's memory only, for as long as the report takes. A kiosk
  // restarted meanwhile reports without it, and the server flags that collection to the
  // supervisor instead of recording it.
  ids: new Map(),
  online: null,
  answer: null,
};
window.__kiosk = state;

// A copy written by an earlier version of this page may hold identity numbers in its outbox
// and whole verifiers in its feed: take the numbers into memory and cut the verifiers.
for (const c of state.outbox) {
  if (c.id_number) state.ids.set(c.key, c.id_number);
  delete c.id_number;
}
for (const r of Object.values(state.cache.receipts || {})) {
  r.id_verifier = String(r.id_verifier || "").slice(0, VERIFIER_HEX);
}

function save() {
  localStorage.setItem(STORE, JSON.stringify(state.cache));
  localStorage.setItem(OUTBOX, JSON.stringify(state.outbox));
}
save();

function setOnline(online) {
  state.online = online;
  $("offline").hidden = online;
}

function addDays(isoDate, days) {
  const d = new Date(isoDate + "T00:00:00Z");
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

async function refreshFeed() {
  const C = `/api/v1/centres/${encodeURIComponent(centre.id)}/collection`;
  try {
    const key = state.cache.key || (await api("GET", C + "/key")).key;
    const through = addDays(clock.today(), FEED_DAYS_AHEAD);
    const feed = await api("GET", `${C}/eligible?date=${through}`);
    const reported = new Set(state.outbox.map((c) => c.receipt_no));
    state.cache = {
      key,
      through,
      fetched_at: clock.now(),
      receipts: Object.fromEntries(feed.receipts.filter((r) => !reported.has(r.receipt_no))
        .map((r) => [r.receipt_no, r])),
    };
    save();
    setOnline(true);
    await sendOutbox();
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    if (e.unreachable) setOnline(false);
    else console.warn("kiosk feed refused", e.code);
  }
}

async function sendOutbox() {
  while (state.outbox.length) {
    const c = state.outbox[0];
    const body = { old_permit_surrendered: c.old_permit_surrendered, collected_at: c.collected_at };
    if (state.ids.has(c.key)) body.id_number = state.ids.get(c.key);
    try {
      await api("POST", `/api/v1/collection/${encodeURIComponent(c.receipt_no)}/collect`, body,
        { idempotencyKey: c.key });
    } catch (e) {
      if (!(e instanceof ApiError) || e.unreachable) return;
      // Refused (collected twice, a wrong or a lost identity number): the server flags it to the
      // supervisor; it is reported.
      console.warn("offline collection refused", c.receipt_no, e.code);
    }
    state.outbox.shift();
    state.ids.delete(c.key);
    save();
  }
}

// --- answering -----------------------------------------------------------------------------

function offlineAnswer(receiptNo, idNumber) {
  const answer = { eligible: false, reason: null, collection_date: null, surrender_old_permit: false, offline: true };
  if (!wellFormed(receiptNo)) return { ...answer, reason: "invalid_receipt_no" };
  if (state.outbox.some((c) => c.receipt_no === receiptNo)) return { ...answer, reason: "collected" };
  const r = state.cache.receipts[receiptNo];
  if (!r || !state.cache.key) return { ...answer, reason: "offline_unknown" };
  const key = fromHex(state.cache.key);
  // 16 bits: a wrong number passes once in 65,536; the server checks the whole number when the
  // collection is reported, and flags it.
  const matches = !!r.id_verifier && idCandidates(idNumber)
    .some((id) => hex(hmacSha256(key, utf8(id))).slice(0, VERIFIER_HEX) === r.id_verifier);
  if (!matches) return { ...answer, reason: "id_mismatch" };
  const known = { ...answer, collection_date: r.collection_date, surrender_old_permit: !!r.surrender_old_permit };
  if (r.collection_date > clock.today()) return { ...known, reason: "not_yet" };
  return { ...known, eligible: true, reason: "ready" };
}

const REASONS = {
  ready: ["ready", "可以取證", "Your permit is ready"],
  not_yet: ["wait", "未到取證日期", "Not ready yet"],
  collected: ["bad", "此證件已被領取", "This permit was already collected"],
  id_mismatch: ["bad", "身份證號碼與收據不符", "The identity number does not match this receipt"],
  wrong_centre: ["bad", "此收據屬於另一證件服務中心", "This receipt is for another service centre"],
  not_found: ["bad", "找不到此收據", "No receipt has this number"],
  invalid_receipt_no: ["bad", "收據編號不正確", "The receipt number is not valid"],
  offline_unknown: ["bad", "離線時未能核對此收據", "This receipt cannot be checked while offline"],
};
const NEXT = {
  not_yet: (a) => [`請於 ${a.collection_date} 或之後再來。`, `Please come back on or after ${a.collection_date}.`],
  collected: () => ["如有疑問，請到詢問窗口。", "If this is wrong, please ask at the inquiry counter."],
  id_mismatch: () => ["請核對身份證號碼後重新輸入。", "Check the identity number and type it again."],
  wrong_centre: () => ["請到收據上的證件服務中心取證。", "Please collect at the centre named on your receipt."],
  not_found: () => ["請核對收據編號後重新輸入。", "Check the receipt number and type it again."],
  invalid_receipt_no: () => ["請核對收據編號後重新輸入。", "Check the receipt number and type it again."],
  offline_unknown: () => ["請稍後再試，或到詢問窗口。", "Please try again shortly, or ask at the inquiry counter."],
};

function para(zh, en, cls) {
  return el("p", { class: cls || "" }, el("span", { lang: "zh-Hant", text: zh }), el("br"),
    el("span", { lang: "en", text: en }));
}

let clearTimer = null;

function showAnswer(answer, receiptNo, idNumber) {
  state.answer = answer;
  const [kind, zh, en] = REASONS[answer.reason] || ["bad", answer.reason, answer.reason];
  const box = el("div", { class: "k-result " + kind, id: "result", "data-reason": answer.reason,
    "data-offline": answer.offline ? "1" : "0" },
  el("h2", {}, el("span", { lang: "zh-Hant", text: zh }), el("br"), el("span", { lang: "en", text: en })));
  if (answer.collection_date && answer.reason !== "not_yet") {
    box.append(para("取證日期", "Collection date"), el("div", { class: "k-date", text: answer.collection_date }));
  }
  const next = NEXT[answer.reason];
  if (next) {
    const [nzh, nen] = next(answer);
    box.append(para(nzh, nen));
  }
  if (answer.eligible) box.append(collectForm(answer, receiptNo, idNumber));
  if (answer.offline) box.append(para("（離線核對）", "(checked offline)", "k-source"));
  $("answer").replaceChildren(box);
  clearTimeout(clearTimer);
  clearTimer = setTimeout(reset, CLEAR_AFTER_MS);
}

function collectForm(answer, receiptNo, idNumber) {
  const form = el("form", { id: "collect" });
  let surrendered = null;
  if (answer.surrender_old_permit) {
    surrendered = el("input", { type: "checkbox", id: "surrendered" });
    form.append(para("換發或補發（損毀）須交回舊證。", "For a renewal or a damaged permit, the old permit is surrendered."),
      el("label", { class: "k-check", for: "surrendered" }, surrendered,
        el("span", { lang: "zh-Hant", text: "我已交回舊證" }), " ",
        el("span", { lang: "en", text: "I have put my old permit in the slot" })));
  }
  const button = el("button", { type: "submit", class: "k-button primary", id: "collect-go" },
    el("span", { lang: "zh-Hant", text: "確認取證" }), " ", el("span", { lang: "en", text: "Collect my permit" }));
  form.append(el("div", { class: "k-actions" }, button));
  const key = newKey();
  form.addEventListener("submit", guarded(button, async () => {
    const given = surrendered ? surrendered.checked : false;
    if (answer.surrender_old_permit && !given) {
      form.append(para("請先交回舊證。", "Please surrender the old permit first.", "k-source"));
      return;
    }
    await collect(receiptNo, idNumber, given, key);
  }));
  return form;
}

async function collect(receiptNo, idNumber, surrendered, key) {
  const body = { id_number: idNumber, old_permit_surrendered: surrendered };
  let offline = false;
  try {
    await api("POST", `/api/v1/collection/${encodeURIComponent(receiptNo)}/collect`, body, { idempotencyKey: key });
    setOnline(true);
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    if (!e.unreachable) {
      showAnswer({ eligible: false, reason: e.code === "already_collected" ? "collected" : e.code }, receiptNo, idNumber);
      $("result").append(para(e.message_zh, e.message_en));
      return;
    }
    setOnline(false);
    offline = true;
    state.outbox.push({ receipt_no: receiptNo, old_permit_surrendered: surrendered,
      collected_at: new Date(clock.now()).toISOString(), key });
    state.ids.set(key, idNumber);
  }
  delete state.cache.receipts[receiptNo];
  save();
  $("ask").reset(); // clears the answer too, so before the new one is shown
  state.answer = { collected: true, offline };
  $("answer").replaceChildren(el("div", { class: "k-result ready", id: "result", "data-reason": "collected_now",
    "data-offline": offline ? "1" : "0" },
  el("h2", {}, el("span", { lang: "zh-Hant", text: "請取走您的證件" }), el("br"),
    el("span", { lang: "en", text: "Please take your permit" }))));
  clearTimeout(clearTimer);
  clearTimer = setTimeout(reset, CLEAR_AFTER_MS);
}

function reset() {
  $("ask").reset();
  $("answer").replaceChildren();
  state.answer = null;
  $("receipt_no").focus();
}

$("receipt_no").addEventListener("keydown", (event) => {
  if (event.key === "Enter") {
    event.preventDefault();
    $("id_number").focus();
  }
});

$("ask").addEventListener("reset", () => {
  $("answer").replaceChildren();
  state.answer = null;
});

$("ask").addEventListener("submit", guarded($("check"), async () => {
  const receiptNo = normaliseReceipt($("receipt_no").value);
  const idNumber = $("id_number").value.trim();
  if (!receiptNo || !idNumber) return;
  let answer;
  try {
    answer = await api("POST", "/api/v1/collection/eligibility", { receipt_no: receiptNo, id_number: idNumber });
    answer.offline = false;
    setOnline(true);
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    if (!e.unreachable) {
      showAnswer({ eligible: false, reason: e.code }, receiptNo, idNumber);
      $("result").append(para(e.message_zh, e.message_en));
      return;
    }
    setOnline(false);
    answer = offlineAnswer(receiptNo, idNumber);
  }
  showAnswer(answer, receiptNo, idNumber);
}));

refreshFeed();
setInterval(refreshFeed, FEED_REFRESH_MS);
state.refreshFeed = refreshFeed;
