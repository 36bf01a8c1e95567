// The follow page (CONTRACT §9): one ticket on the waiting person's phone, live over its own
// socket. Small and self-contained on purpose: a slow mobile network loads it once, and it
// never needs anything but this server. It reconnects by itself forever, with backoff, and says
// plainly when it is offline; when the ticket is called it says where to go in the largest
// type, vibrates and chimes (after a tap, as browsers require).

const page = JSON.parse(document.body.dataset.page || "{}");
const token = decodeURIComponent(location.pathname.split("/").pop() || "");
const $ = (id) => document.getElementById(id);

const FIRST_DELAY_MS = 1000;
// A phone that lost its network retries at least this often, so it is back soon after.
const MAX_DELAY_MS = 30000;
const STABLE_MS = 5000;
const ALERT_MIN = 1;
const ALERT_MAX = 30;
const VIBRATE_CALLED = [400, 150, 400, 150, 400];
const VIBRATE_NEAR = [250, 120, 250];

const STATUS = {
  waiting: ["等候中", "Waiting"],
  called: ["已叫號", "Called"],
  accepted: ["辦理中", "Being served"],
  paid: ["辦理中", "Being served"],
  done: ["已完成", "Done"],
  declined: ["不予受理：請向櫃位職員查詢", "Not accepted: please ask the counter staff"],
  no_show: ["過號：請到詢問窗口", "Missed your call: please go to the inquiry desk"],
};

const store = {
  get(name, fallback) {
    try {
      const raw = localStorage.getItem(`follow:${token}:${name}`);
      return raw === null ? fallback : JSON.parse(raw);
    } catch (e) {
      return fallback; // private mode: the page works, it just forgets
    }
  },
  set(name, value) {
    try { localStorage.setItem(`follow:${token}:${name}`, JSON.stringify(value)); } catch (e) { /* as above */ }
  },
};

const view = {
  state: page.state || null,
  lastTicket: null,
  connected: true,
  offlineSince: null,
  sound: false,
  alertOn: store.get("alert-on", false),
  alertN: store.get("alert-n", 3),
  alerted: store.get("alerted", false),
  rating: 0,
  feedbackGiven: store.get("feedback", false),
  messages: 0,
  gone: false,
};
window.__follow = view;

function both(zh, en) {
  const box = document.createElement("span");
  box.className = "bi";
  const a = document.createElement("span");
  a.className = "zh"; a.lang = "zh-Hant"; a.textContent = zh;
  const b = document.createElement("span");
  b.className = "en"; b.lang = "en"; b.textContent = en;
  box.append(a, " ", b);
  return box;
}

function minutes(n) {
  // null: no counter is open for the ticket's service, so there is no figure to give.
  if (n === null) return both("暫停服務", "No counter open");
  return n <= 0 ? both("即將", "any moment now") : both(`約 ${n} 分鐘`, `about ${n} min`);
}

// --- drawing the state -------------------------------------------------------------------------

function render() {
  const s = view.state;
  if (!s) return;
  const t = s.ticket;
  $("number").textContent = t.number;
  const service = (page.services || {})[t.service];
  $("service").replaceChildren(service ? both(service[0], service[1]) : document.createTextNode(t.service));
  const words = STATUS[t.status] || [t.status, t.status];
  $("status").dataset.status = t.status;
  $("status").replaceChildren(both(words[0], words[1]));
  $("waiting").hidden = t.status !== "waiting";
  $("ahead").textContent = String(t.position);
  $("wait").replaceChildren(minutes(t.estimated_wait_minutes));
  const called = t.status === "called" && t.counter !== null;
  $("called").hidden = !called;
  if (called) {
    $("called-counter-zh").textContent = String(t.counter);
    $("called-counter-en").textContent = String(t.counter);
    $("called-again").hidden = !t.recalls;
  }
  document.body.classList.toggle("is-called", called);
  const notices = s.notices || [];
  $("notices").hidden = notices.length === 0;
  $("notice-list").replaceChildren(...notices.map((n) => {
    const li = document.createElement("li");
    li.append(both(n.text_zh, n.text_en));
    return li;
  }));
  $("issuing-closed").hidden = s.issuing !== false;
  // Sound stays on offer until the call; "alert me when N are ahead" only while waiting.
  $("alerts").hidden = !["waiting", "called"].includes(t.status) || view.gone;
  document.querySelector(".f-alert").hidden = t.status !== "waiting";
  if (t.status !== "waiting") $("alerted").hidden = true;
  const ended = t.status === "done" || t.status === "declined";
  $("feedback").hidden = !ended;
  $("feedback-form").hidden = view.feedbackGiven;
  $("thanks").hidden = !view.feedbackGiven;
  document.title = t.status === "waiting" ? `(${t.position}) ${t.number} · 籌號` : `${t.number} · ${words[1]}`;
  $("updated").textContent = `更新 Updated ${new Date().toLocaleTimeString("en-GB")}`;
}

// What changed since the last state: a call (or a recall) and the chosen number ahead.
function react(before, after) {
  const t = after.ticket;
  const calledNow = t.status === "called" &&
    (!before || before.status !== "called" || t.recalls > before.recalls || t.counter !== before.counter);
  if (calledNow) {
    signal(VIBRATE_CALLED);
    return;
  }
  if (t.status === "waiting" && view.alertOn && !view.alerted && t.position <= view.alertN) {
    view.alerted = true;
    store.set("alerted", true);
    $("alerted").hidden = false;
    $("alerted").replaceChildren(both(`前面還有 ${t.position} 人，請返回大堂。`,
      `${t.position} ahead of you: please come back to the hall.`));
    signal(VIBRATE_NEAR);
  }
}

function take(state) {
  const before = view.lastTicket;
  view.state = state;
  view.lastTicket = { ...state.ticket };
  view.messages += 1;
  render();
  if (before) react(before, state);
}

// --- sound and vibration -----------------------------------------------------------------------

const chime = new Audio(page.chime || "/sounds/chime.wav");
chime.preload = "auto";

function signal(pattern) {
  if (navigator.vibrate) {
    try { navigator.vibrate(pattern); } catch (e) { /* not allowed yet: the screen says it */ }
  }
  if (view.sound) {
    chime.currentTime = 0;
    chime.play().catch(() => { view.sound = false; showSound(); });
  }
}

function showSound() {
  $("sound").hidden = view.sound;
  $("sound-on").hidden = !view.sound;
}

$("sound").addEventListener("click", () => {
  // The tap is what lets the page play and vibrate from now on: play once, quietly, now.
  chime.muted = true;
  chime.play().then(() => {
    chime.pause();
    chime.muted = false;
    view.sound = true;
    showSound();
  }).catch(() => { chime.muted = false; });
  if (navigator.vibrate) {
    try { navigator.vibrate(60); } catch (e) { /* ignored */ }
  }
});

// --- "alert me when N are ahead", kept in this phone ---------------------------------------------

function showAlert() {
  $("alert-on").checked = view.alertOn;
  $("alert-n").textContent = String(view.alertN);
  $("alert-less").disabled = view.alertN <= ALERT_MIN;
  $("alert-more").disabled = view.alertN >= ALERT_MAX;
}

function setAlert(on, n) {
  view.alertOn = on;
  view.alertN = Math.max(ALERT_MIN, Math.min(ALERT_MAX, n));
  view.alerted = false;
  $("alerted").hidden = true;
  store.set("alert-on", view.alertOn);
  store.set("alert-n", view.alertN);
  store.set("alerted", false);
  showAlert();
  if (view.state) react(view.lastTicket, view.state);
}

$("alert-on").addEventListener("change", () => setAlert($("alert-on").checked, view.alertN));
$("alert-less").addEventListener("click", () => setAlert(view.alertOn, view.alertN - 1));
$("alert-more").addEventListener("click", () => setAlert(view.alertOn, view.alertN + 1));

// --- feedback, once ------------------------------------------------------------------------------

const stars = Array.from(document.querySelectorAll(".f-star"));
stars.forEach((star) => star.addEventListener("click", () => {
  view.rating = Number(star.dataset.rating);
  stars.forEach((s) => {
    const on = Number(s.dataset.rating) <= view.rating;
    s.classList.toggle("on", on);
    s.setAttribute("aria-checked", String(Number(s.dataset.rating) === view.rating));
  });
  $("send").disabled = false;
}));

$("feedback-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!view.rating || $("send").dataset.busy) return;
  $("send").dataset.busy = "1";
  $("send").disabled = true;
  const comment = $("comment").value.trim();
  try {
    const answer = await fetch(`/api/v1/follow/${encodeURIComponent(token)}/feedback`, {
      method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" },
      cache: "no-store", body: JSON.stringify(comment ? { rating: view.rating, comment } : { rating: view.rating }),
    });
    const body = await answer.json().catch(() => ({}));
    const code = (body.error || {}).code;
    if (answer.ok || code === "already_given") {
      view.feedbackGiven = true;
      store.set("feedback", true);
      render();
    } else {
      const e = body.error || {};
      $("feedback-error").replaceChildren(both(e.message_zh || "未能提交，請再試。", e.message_en || "Not sent; please try again."));
    }
  } catch (e) {
    $("feedback-error").replaceChildren(both("未能連接，請稍後再試。", "No connection; please try again shortly."));
  } finally {
    delete $("send").dataset.busy;
    $("send").disabled = view.feedbackGiven;
  }
});

// --- the socket: forever, with backoff -----------------------------------------------------------

let attempt = 0;
let socket = null;
let retryTimer = null;

function setConnected(on) {
  if (view.connected === on) return;
  view.connected = on;
  if (!on) view.offlineSince = new Date();
  $("offline").hidden = on || view.gone;
  $("offline-since").textContent = on ? "" : `自 since ${view.offlineSince.toLocaleTimeString("en-GB")}`;
  $("link").dataset.state = on ? "live" : "offline";
  $("link").replaceChildren(on ? both("即時", "Live") : both("離線", "Offline"));
}

function ended() {
  view.gone = true;
  $("gone").hidden = false;
  $("offline").hidden = true;
  $("alerts").hidden = true;
  $("link").replaceChildren(both("已失效", "Expired"));
}

// Why the socket would not open: a token that no longer works (its day ended) stops the page;
// anything else (no network, a server restarting, too many tries) is tried again later.
async function whyClosed() {
  try {
    const answer = await fetch(`/api/v1/follow/${encodeURIComponent(token)}`, { cache: "no-store" });
    if (answer.status === 404) return { gone: true };
    if (answer.status === 429) return { wait: 1000 * Number(answer.headers.get("Retry-After") || 60) };
    if (answer.ok) take(await answer.json());
  } catch (e) {
    // offline: retried below
  }
  return {};
}

function connect() {
  clearTimeout(retryTimer);
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  let ws;
  let opened = false;
  try {
    ws = new WebSocket(`${scheme}//${location.host}/ws/follow/${encodeURIComponent(token)}`);
  } catch (e) {
    retry(0);
    return;
  }
  socket = ws;
  let stable = null;
  ws.onopen = () => {
    opened = true;
    setConnected(true);
    stable = setTimeout(() => { attempt = 0; }, STABLE_MS);
  };
  ws.onmessage = (m) => {
    try {
      const message = JSON.parse(m.data);
      if (message.type === "follow") take(message.data);
    } catch (e) {
      console.error("follow message not handled", e);
    }
  };
  ws.onclose = async () => {
    clearTimeout(stable);
    if (socket !== ws) return;
    socket = null;
    setConnected(false);
    const why = opened && navigator.onLine ? {} : await whyClosed();
    if (why.gone) ended();
    else retry(why.wait || 0);
  };
  ws.onerror = () => {};
}

function retry(atLeastMs) {
  const cap = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** attempt);
  attempt += 1;
  // Half fixed, half random: a hall of phones that lost the same server return spread out.
  retryTimer = setTimeout(connect, Math.max(atLeastMs, cap / 2 + Math.random() * cap / 2));
}

window.addEventListener("online", () => { if (!socket && !view.gone) { attempt = 0; connect(); } });
window.addEventListener("offline", () => { if (socket) socket.close(); });
// A phone wakes from sleep with a socket that may be long dead: check at once.
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && !socket && !view.gone) { attempt = 0; connect(); }
});

if (view.state) {
  view.lastTicket = { ...view.state.ticket };
  render();
}
showAlert();
showSound();
connect();
