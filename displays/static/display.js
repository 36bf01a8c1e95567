// The hall display: the latest call large, now serving per counter, the last calls, waiting
// counts, and the supervisor's notices in a band of their own under them. A call flashes and
// plays its clips in order (chime first); calls that arrive during playback wait their turn, so
// none is cut off or skipped. An announced notice is said after the calls waiting; a call that
// comes while a notice is said cuts the notice short, and the notice is said again after it.
//
// Its state is `window.__display`, for people debugging a screen and for the tests.

import { api, clockText, el, pageData, serverClock } from "/static/shared/api.js";
import { LiveEvents, debounced } from "/static/shared/live.js";

const page = pageData();
const centre = page.centre;
const clock = serverClock(page);
// A clip that neither ends nor fails within this long is given up, so one broken clip cannot
// silence the hall for the rest of the day.
const CLIP_LIMIT_MS = 20000;
// A breath between two announcements, so two numbers are not heard as one.
const ANNOUNCEMENT_GAP_MS = 700;
// How long a call stays visibly flashing.
const FLASH_MS = 6000;
// Board details (waiting counts, estimates) are read again this long after a burst of events.
const REFRESH_AFTER_MS = 400;
// Announcements still waiting beyond this many (sound blocked for long) are dropped, oldest
// first: an hour of backlog helps nobody.
const MAX_PENDING = 30;
const RECENT_SHOWN = 8;
// With several notices, each is shown this long in turn.
const NOTICE_TURN_MS = 12000;
// A notice cut short by calls is said again, but not for ever on a busy morning.
const NOTICE_RETRIES = 3;
// The band's type shrinks in these steps until the notice fits (a long one still fits).
const NOTICE_SIZES_VH = [4.6, 4.0, 3.5, 3.0, 2.6, 2.2, 1.9];
// Below this, both languages at once would be too small to read across the hall: the band
// shows one language at a time instead, switching halfway through the notice's turn.
const NOTICE_READABLE_VH = 3.0;
// A call missed while offline and replayed on reconnect is announced only if this recent;
// older ones just update the board (their people have long been called).
const REPLAY_ANNOUNCE_MS = 60000;
// After a tap enables sound, calls that waited longer than this are not announced any more.
const STALE_AFTER_BLOCK_MS = 120000;
// An event this far ahead of the demo clock's reading means the demo clock has jumped.
const DEMO_JUMP_MS = 60000;

const services = Object.fromEntries(centre.services.map((s) => [s.code, s]));

const state = {
  connected: false,
  board: null,
  latest: null,          // the call shown large: {ticket, counter, recall}
  pending: [],           // announcements waiting to play: calls first, then notices
  notices: [],           // the hall's current notices, oldest first (a closure's shown first)
  closure: null,         // issuing closed: {text_en, text_zh, notice}, else null
  noticeShown: null,     // the id of the notice in the band now
  current: null,         // the announcement playing now
  played: [],            // finished announcements: {ticket, counter, recall, clips, started, ended}
  clipsPlayed: [],       // every clip started, in order: {ticket, url}
  soundBlocked: false,
  reconnects: 0,
  events: 0,
  player: null,          // replaced only by tests: (url) => Promise that settles when done
  setPlayer(fn) { state.player = fn; },
};
window.__display = state;

// --- audio --------------------------------------------------------------------------------

// What a browser says when it refuses sound until someone touches the page.
function soundBlocked(error) {
  return !!error && error.name === "NotAllowedError";
}

const audio = new Audio();
audio.preload = "auto";
// Ends the clip playing now (a call cuts a notice short).
let stopClip = null;

function playClip(url) {
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (ok, error) => {
      if (settled) return;
      settled = true;
      stopClip = null;
      clearTimeout(limit);
      audio.onended = audio.onerror = null;
      if (ok) resolve();
      else reject(error);
    };
    stopClip = () => {
      audio.pause();
      finish(true);
    };
    const limit = setTimeout(() => finish(false, new Error("clip took too long: " + url)), CLIP_LIMIT_MS);
    audio.onended = () => finish(true);
    audio.onerror = () => finish(false, new Error("clip failed: " + url));
    audio.src = url;
    const started = audio.play();
    if (started && started.catch) started.catch((e) => finish(false, e));
  });
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

let pumping = false;

async function pump() {
  if (pumping) return;
  pumping = true;
  try {
    while (state.pending.length && !state.soundBlocked) {
      const a = state.pending.shift();
      state.current = a;
      a.interrupted = false;
      if (a.kind === "call") show(a);
      a.started = clock.now();
      for (const url of a.clips) {
        if (a.interrupted) break;
        state.clipsPlayed.push({ ticket: a.ticket, notice: a.notice, url });
        try {
          await (state.player || playClip)(url);
        } catch (e) {
          if (soundBlocked(e)) {
            blocked(a);
            return;
          }
          // A missing or broken clip: the rest of the announcement still plays.
          console.warn(e && e.message ? e.message : e);
        }
      }
      a.ended = clock.now();
      state.played.push(a);
      state.current = null;
      if (a.interrupted && a.retries < NOTICE_RETRIES && noticeStillUp(a.notice)) {
        state.pending.push({ ...a, retries: a.retries + 1, interrupted: false });
      }
      if (state.pending.length) await sleep(ANNOUNCEMENT_GAP_MS);
    }
  } finally {
    pumping = false;
  }
}

function blocked(announcement) {
  // The browser refuses sound until someone taps: keep the call to play after the tap.
  state.soundBlocked = true;
  state.current = null;
  state.clipsPlayed.pop();
  state.pending.unshift(announcement);
  document.getElementById("enable-sound").hidden = false;
}

document.getElementById("enable-sound").addEventListener("click", () => {
  state.soundBlocked = false;
  const now = clock.now();
  state.pending = state.pending.filter((a) => now - a.received < STALE_AFTER_BLOCK_MS);
  document.getElementById("enable-sound").hidden = true;
  pump();
});

function announce(event) {
  const data = event.data;
  const a = {
    kind: "call",
    ticket: data.ticket,
    counter: data.counter,
    recall: event.type === "ticket.recalled",
    clips: ((data.announcement && data.announcement.clips) || []).slice(),
    text: (data.announcement && data.announcement.text) || {},
    id: event.id,
    received: clock.now(),
  };
  // Calls go before any notice waiting to be said; one being said now is cut short.
  const firstNotice = state.pending.findIndex((p) => p.kind === "notice");
  if (firstNotice < 0) state.pending.push(a);
  else state.pending.splice(firstNotice, 0, a);
  while (state.pending.length > MAX_PENDING) state.pending.shift();
  if (state.current && state.current.kind === "notice") {
    state.current.interrupted = true;
    if (stopClip) stopClip();
  }
  if (state.soundBlocked) show(a); // no sound: at least the screen says it
  pump();
}

function noticeStillUp(id) {
  return state.notices.some((n) => n.id === id);
}

// A notice said aloud: after the calls, never in their way.
function announceNotice(id, announcement) {
  if (!announcement || !noticeStillUp(id)) return;
  if (state.pending.some((p) => p.notice === id) || (state.current && state.current.notice === id)) return;
  state.pending.push({
    kind: "notice", notice: id, clips: (announcement.clips || []).slice(),
    text: announcement.text || {}, retries: 0, received: clock.now(),
  });
  while (state.pending.length > MAX_PENDING) state.pending.shift();
  pump();
}

// --- the notice band --------------------------------------------------------------------------

let noticeTimer = null;

function bandNotices() {
  // The closure's notice first: it is what everyone arriving must read.
  const closureId = state.closure ? state.closure.notice : null;
  return [...state.notices].sort((a, b) => (b.id === closureId) - (a.id === closureId));
}

function fitNotice(box) {
  for (const size of NOTICE_SIZES_VH) {
    box.style.setProperty("--size", size + "vh");
    if (box.scrollHeight <= box.clientHeight + 1) return size;
  }
  return NOTICE_SIZES_VH[NOTICE_SIZES_VH.length - 1];
}

let languageTimer = null;

// Both languages when they fit large enough; else Chinese, then English, each large.
function fitLanguages() {
  const box = document.getElementById("notice-text");
  const zh = document.getElementById("notice-zh");
  const en = document.getElementById("notice-en");
  clearInterval(languageTimer);
  zh.hidden = en.hidden = false;
  if (fitNotice(box) >= NOTICE_READABLE_VH) return;
  en.hidden = true;
  fitNotice(box);
  languageTimer = setInterval(() => {
    zh.hidden = !zh.hidden;
    en.hidden = !en.hidden;
    fitNotice(box);
  }, NOTICE_TURN_MS / 2);
}

function renderNotices() {
  const band = document.getElementById("notices");
  const list = bandNotices();
  document.body.classList.toggle("has-notices", list.length > 0);
  if (!list.length) {
    band.hidden = true;
    state.noticeShown = null;
    clearInterval(languageTimer);
    return;
  }
  let index = list.findIndex((n) => n.id === state.noticeShown);
  if (index < 0) index = 0;
  const notice = list[index];
  state.noticeShown = notice.id;
  const isClosure = !!state.closure && state.closure.notice === notice.id;
  band.hidden = false;
  band.classList.toggle("closure", isClosure);
  band.dataset.notice = notice.id;
  const kind = document.getElementById("notice-kind");
  kind.replaceChildren(
    el("div", { lang: "zh-Hant", text: isClosure ? "停止派籌" : "通告" }),
    el("div", { lang: "en", text: isClosure ? "Issuing closed" : "Notice" }));
  document.getElementById("notice-zh").textContent = notice.text_zh;
  document.getElementById("notice-en").textContent = notice.text_en;
  document.getElementById("notice-count").textContent = list.length > 1 ? `${index + 1}/${list.length}` : "";
  fitLanguages();
}

function nextNotice() {
  const list = bandNotices();
  if (list.length > 1) {
    const index = list.findIndex((n) => n.id === state.noticeShown);
    state.noticeShown = list[(index + 1) % list.length].id;
  }
  renderNotices();
}

function setNotices(board) {
  state.notices = (board.notices || []).slice();
  state.closure = board.issuing === false ? board.closure : null;
  renderNotices();
  clearInterval(noticeTimer);
  noticeTimer = setInterval(nextNotice, NOTICE_TURN_MS);
}

// --- the board ------------------------------------------------------------------------------

let flashTimer = null;

function show(call) {
  state.latest = { ticket: call.ticket, counter: call.counter, recall: !!call.recall };
  renderLatest();
  const box = document.getElementById("latest");
  box.classList.remove("flash");
  void box.offsetWidth; // restart the animation for a call that follows another at once
  box.classList.add("flash");
  clearTimeout(flashTimer);
  flashTimer = setTimeout(() => box.classList.remove("flash"), FLASH_MS);
}

function renderLatest() {
  const latest = state.latest;
  document.getElementById("latest-ticket").textContent = latest ? latest.ticket : "—";
  document.getElementById("latest-counter").textContent = latest ? String(latest.counter) : "—";
  document.getElementById("latest-recall").hidden = !(latest && latest.recall);
}

function counterState(board, number) {
  const c = (board.counters || []).find((x) => x.number === number);
  return c ? c.state : "closed";
}

const STATE_WORDS = {
  paused: ["暫停", "Paused"],
  closed: ["關閉", "Closed"],
};

function renderBoard() {
  const board = state.board;
  if (!board) return;
  const serving = document.getElementById("serving");
  const byCounter = Object.fromEntries((board.now_serving || []).map((s) => [s.counter, s]));
  const rows = centre.counters.map((c) => {
    const st = counterState(board, c.number);
    const now = byCounter[c.number];
    let value;
    if (st !== "open" && STATE_WORDS[st] && !now) {
      value = el("span", { class: "state " + st },
        el("span", { lang: "zh-Hant", text: STATE_WORDS[st][0] }), " ",
        el("span", { lang: "en", text: STATE_WORDS[st][1] }));
    } else {
      value = el("span", { class: "ticket", text: now ? now.ticket : "—" });
    }
    return el("li", { class: "serving-row " + st, "data-counter": c.number },
      el("span", { class: "counter-number", text: String(c.number) }), value);
  });
  serving.replaceChildren(...rows);
  serving.style.setProperty("--rows", String(Math.max(rows.length, 4)));

  const recent = (board.recent_calls || []).slice(0, RECENT_SHOWN);
  document.getElementById("recent").replaceChildren(...recent.map((call) =>
    el("li", { class: "recent-row" },
      el("span", { class: "ticket", text: call.ticket }),
      el("span", { class: "arrow", "aria-hidden": "true", text: "→" }),
      el("span", { class: "counter-number", text: String(call.counter) }))));

  const waiting = board.waiting || {};
  const estimates = board.estimated_wait_minutes || {};
  document.getElementById("waiting").replaceChildren(...centre.services.map((s) =>
    el("li", { class: "waiting-row", "data-service": s.code },
      el("span", { class: "service" },
        el("span", { class: "code", text: s.code }), " ",
        el("span", { lang: "zh-Hant", text: s.name_zh }), " ",
        el("span", { lang: "en", text: s.name_en })),
      el("span", { class: "count", text: String(waiting[s.code] ?? 0) }),
      // null: no counter is open for the service, so there is no figure to give.
      estimates[s.code] === null
        ? el("span", { class: "minutes no-counter" },
          el("span", { lang: "zh-Hant", text: "暫停服務" }), " ",
          el("span", { lang: "en", text: "No counter open" }))
        : el("span", { class: "minutes" },
          el("span", { text: String(estimates[s.code] ?? 0) }), " ",
          el("span", { lang: "zh-Hant", text: "分鐘" }), " ",
          el("span", { lang: "en", text: "min" })))));

  if (!state.latest && recent.length) {
    state.latest = { ticket: recent[0].ticket, counter: recent[0].counter, recall: false };
    renderLatest();
  }
}

// What a call changes is shown at once; counts and estimates come from the board just after.
function apply(event) {
  const board = state.board;
  const data = event.data || {};
  if (!board) return;
  if (event.type === "ticket.called" || event.type === "ticket.recalled") {
    board.now_serving = (board.now_serving || []).filter((s) => s.counter !== data.counter);
    board.now_serving.push({ counter: data.counter, ticket: data.ticket, called_at: event.at });
    board.recent_calls = [{ counter: data.counter, ticket: data.ticket, called_at: event.at },
      ...(board.recent_calls || [])].slice(0, 10);
    if (event.type === "ticket.called" && board.waiting && board.waiting[data.service] > 0) {
      board.waiting[data.service] -= 1;
    }
  } else if (event.type === "ticket.issued" && board.waiting) {
    board.waiting[data.service] = (board.waiting[data.service] || 0) + 1;
  } else if (event.type.startsWith("counter.")) {
    const c = (board.counters || []).find((x) => x.number === data.counter);
    if (c && data.state) c.state = data.state;
  } else if (event.type === "notice.posted") {
    const { announcement, pending, by, ...notice } = data;
    if (!state.notices.some((n) => n.id === notice.id)) state.notices.push(notice);
    state.noticeShown = notice.id; // a new notice is shown at once
    renderNotices();
  } else if (event.type === "notice.removed") {
    state.notices = state.notices.filter((n) => n.id !== data.id);
    state.pending = state.pending.filter((p) => p.notice !== data.id);
    if (state.current && state.current.notice === data.id && stopClip) {
      state.current.interrupted = true;
      stopClip();
    }
    renderNotices();
  } else if (event.type === "centre.issuing_closed") {
    state.closure = { text_en: data.text_en, text_zh: data.text_zh, notice: data.notice };
    state.noticeShown = data.notice;
    renderNotices();
  } else if (event.type === "centre.issuing_opened") {
    state.closure = null;
    renderNotices();
  }
  renderBoard();
}

const refresh = debounced(async () => {
  const board = await api("GET", `/api/v1/centres/${encodeURIComponent(centre.id)}/board`);
  state.board = board;
  renderBoard();
  state.notices = (board.notices || []).slice();
  state.closure = board.issuing === false ? board.closure : null;
  renderNotices();
}, REFRESH_AFTER_MS);

const live = new LiveEvents(centre.id, page.token, {
  onBoard(board) {
    state.board = board;
    renderBoard();
    setNotices(board);
  },
  onEvent(event) {
    state.events += 1;
    apply(event);
    const isCall = event.type === "ticket.called" || event.type === "ticket.recalled";
    const at = Date.parse(event.at);
    // The demo's day ends at five and the next begins at ten: its clock jumps, and events say so.
    if (page.demo && at > clock.now() + DEMO_JUMP_MS) clock.resync(at);
    const fresh = !(clock.now() - at > REPLAY_ANNOUNCE_MS);
    if (isCall && fresh) announce(event);
    const said = event.data && event.data.announcement;
    // A notice is said when all its clips are there: at once, or when the worker says so.
    if (fresh && event.type === "notice.posted" && said && !said.pending) announceNotice(event.data.id, said);
    if (fresh && event.type === "notice.announced") announceNotice(event.data.id, said);
    refresh();
  },
  onStatus(connected) {
    state.connected = connected;
    state.reconnects = live.reconnects;
    // The last board stays up while offline; a small mark says it may be out of date.
    document.getElementById("offline").hidden = connected;
    document.body.classList.toggle("is-offline", !connected);
  },
});
state.live = live;

function tick() {
  document.getElementById("clock").textContent = clockText(page, clock.now());
}

tick();
setInterval(tick, 1000);
live.start();
window.addEventListener("resize", () => renderNotices());
