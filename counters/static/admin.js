// The supervisor's screen: each centre's counters (open, paused, serving whom for how long) and
// queues with their oldest wait, live; its notices to the hall, posted (from ready-made texts or
// typed) and removed, and issuing closed and reopened; and the staff logins and device tokens,
// created and revoked here.

import { ApiError, api, bi, el, guarded, newKey, pageData, serverClock } from "/static/shared/api.js";
import { LiveEvents, debounced } from "/static/shared/live.js";
import { COUNTER_STATE, STATUS, words } from "/static/shared/words.js";
import { clear, liveMark, message, refusal } from "./staff.js";

const page = pageData();
const clock = serverClock(page);
const $ = (id) => document.getElementById(id);
const overviews = {};
window.__admin = { overviews };

function duration(isoTime) {
  const at = Date.parse(isoTime || "");
  if (!Number.isFinite(at)) return "";
  const seconds = Math.max(0, Math.floor((clock.now() - at) / 1000));
  const m = Math.floor(seconds / 60);
  return `${m}:${String(seconds % 60).padStart(2, "0")}`;
}

function renderCentre(centre) {
  const o = overviews[centre.id];
  if (!o) return;
  const section = document.querySelector(`section.centre[data-centre="${CSS.escape(centre.id)}"]`);
  const states = Object.fromEntries((o.board.counters || []).map((c) => [c.number, c.state]));
  const serving = Object.fromEntries((o.serving || []).map((s) => [s.counter, s]));
  section.querySelector("table.counters tbody").replaceChildren(...centre.counters.map((c) => {
    const st = states[c.number] || "closed";
    const s = serving[c.number];
    const [zh, en] = words(COUNTER_STATE, st);
    const status = s ? words(STATUS, s.status) : null;
    return el("tr", { "data-counter": c.number },
      el("td", { class: "number", text: String(c.number) }),
      el("td", {}, el("span", { class: "pill " + st }, bi(zh, en))),
      el("td", {}, s ? el("span", { class: "number", text: s.ticket }) : "—",
        status ? el("small", {}, " ", bi(status[0], status[1])) : null),
      el("td", { class: "since", "data-since": s ? s.called_at : "", text: s ? duration(s.called_at) : "" }));
  }));
  section.querySelector("table.queues tbody").replaceChildren(...centre.services.map((svc) => {
    const oldest = (o.oldest_waiting || {})[svc.code];
    return el("tr", { "data-service": svc.code },
      el("th", {}, `${svc.code} `, bi(svc.name_zh, svc.name_en)),
      el("td", { class: "number", text: String((o.board.waiting || {})[svc.code] ?? 0) }),
      el("td", { class: "since", "data-since": oldest ? oldest.issued_at : "",
        text: oldest ? `${oldest.ticket} · ${duration(oldest.issued_at)}` : "—" }),
      el("td", { text: (o.board.estimated_wait_minutes || {})[svc.code] === null
        ? "暫停服務 No counter open"  // no counter open for it: no figure to give
        : `${(o.board.estimated_wait_minutes || {})[svc.code] ?? 0} 分鐘 min` }));
  }));
  renderNotices(centre, section, o.board);
}

// --- notices and issuing ---------------------------------------------------------------------

function noticesPath(centre) {
  return `/api/v1/centres/${encodeURIComponent(centre.id)}`;
}

function renderNotices(centre, section, board) {
  const closure = board.issuing === false ? board.closure : null;
  const box = section.querySelector(".notice-message");
  const state = section.querySelector(".issuing-state");
  if (closure) {
    const reopen = el("button", { type: "button", class: "primary", "data-act": "reopen" }, bi("恢復派籌", "Reopen issuing"));
    reopen.addEventListener("click", guarded(reopen, async () => {
      try {
        await api("POST", noticesPath(centre) + "/issuing", { open: true }, { idempotencyKey: newKey() });
        message(box, "ok", "已恢復派籌", "Issuing is open again");
      } catch (e) {
        if (!(e instanceof ApiError)) throw e;
        refusal(box, e);
      }
    }));
    state.replaceChildren(el("div", { class: "message bad" }, bi("停止派籌中", "Issuing is closed")), reopen);
  } else {
    state.replaceChildren(el("div", { class: "message ok" }, bi("派籌中", "Issuing is open")));
  }
  section.querySelector("ul.notices").replaceChildren(...(board.notices || []).map((n) => {
    const isClosure = closure && closure.notice === n.id;
    const item = el("li", { "data-notice": n.id, class: isClosure ? "closure" : "" },
      el("div", { lang: "zh-Hant", text: n.text_zh }), el("div", { lang: "en", text: n.text_en }),
      n.until ? el("div", { class: "until", text: `至 ${new Date(Date.parse(n.until)).toTimeString().slice(0, 5)} until` }) : null);
    if (!isClosure) {
      const remove = el("button", { type: "button", class: "action danger", "data-remove": n.id }, bi("移除", "Remove"));
      remove.addEventListener("click", guarded(remove, async () => {
        try {
          await api("DELETE", `${noticesPath(centre)}/notices/${encodeURIComponent(n.id)}`);
          message(box, "ok", "已移除通告", "Notice removed");
        } catch (e) {
          if (!(e instanceof ApiError)) throw e;
          refusal(box, e);
        }
      }));
      item.append(el("div", { class: "actions" }, remove));
    }
    return item;
  }));
}

function noticeForm(centre) {
  const section = document.querySelector(`section.centre[data-centre="${CSS.escape(centre.id)}"]`);
  const form = section.querySelector("form.notice-form");
  const box = form.querySelector(".notice-message");
  const field = (name) => form.elements.namedItem(name);
  for (const button of form.querySelectorAll("[data-readymade]")) {
    button.addEventListener("click", () => {
      const t = (page.readymade || []).find((x) => x.key === button.dataset.readymade);
      if (!t) return;
      const counter = String(field("counter").value || 1);
      field("text_zh").value = t.text_zh.replaceAll("{counter}", counter);
      field("text_en").value = t.text_en.replaceAll("{counter}", counter);
      form.dataset.readymade = t.key;
      // Typhoon and rainstorm close issuing; the rest are notices.
      form.querySelector(t.closes_issuing ? '[data-act="close"]' : '[data-act="post"]').focus();
    });
  }
  function body() {
    const out = { text_zh: field("text_zh").value.trim(), text_en: field("text_en").value.trim(),
      announce: field("announce").checked };
    if (!out.text_zh || !out.text_en) {
      message(box, "bad", "請填寫中文及英文內容。", "Fill in both the Chinese and the English text.");
      return null;
    }
    return out;
  }
  const post = form.querySelector('[data-act="post"]');
  form.addEventListener("submit", guarded(post, async () => {
    const b = body();
    if (!b) return;
    const until = field("until").value;
    if (until) b.until = `${page.today}T${until}:00`;
    try {
      await api("POST", noticesPath(centre) + "/notices", b, { idempotencyKey: newKey() });
      message(box, "ok", "已發出通告", "Notice posted");
      form.reset();
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      refusal(box, e);
    }
  }));
  const close = form.querySelector('[data-act="close"]');
  close.addEventListener("click", guarded(close, async () => {
    const b = body();
    if (!b) return;
    if (!window.confirm("停止派籌？ Close issuing: no more numbers today?")) return;
    try {
      await api("POST", noticesPath(centre) + "/issuing", { open: false, ...b }, { idempotencyKey: newKey() });
      message(box, "ok", "已停止派籌", "Issuing closed");
      form.reset();
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      refusal(box, e);
    }
  }));
}

function tick() {
  for (const cell of document.querySelectorAll("td.since[data-since]")) {
    const since = cell.dataset.since;
    if (!since) continue;
    const text = cell.textContent;
    const head = text.includes(" · ") ? text.split(" · ")[0] + " · " : "";
    cell.textContent = head + duration(since);
  }
}

for (const centre of page.centres) {
  noticeForm(centre);
  const path = `/api/v1/centres/${encodeURIComponent(centre.id)}/overview`;
  const refresh = debounced(async () => {
    const o = await api("GET", path);
    clock.resync(Date.parse(o.now));
    overviews[centre.id] = o;
    renderCentre(centre);
  }, 300);
  new LiveEvents(centre.id, page.token, { onBoard: refresh, onEvent: refresh, onStatus: liveMark }).start();
}
setInterval(tick, 1000);

// --- feedback from the follow pages (CONTRACT §9): mean by counter, the day's comments --------

// Feedback raises no event: the panel asks again this often.
const FEEDBACK_REFRESH_MS = 60000;

function mean(values) {
  return values.length ? (values.reduce((a, b) => a + b, 0) / values.length).toFixed(2) : "–";
}

async function loadFeedback(centre) {
  const section = document.querySelector(`section.centre[data-centre="${CSS.escape(centre.id)}"]`);
  const answer = await api("GET", `/api/v1/centres/${encodeURIComponent(centre.id)}/feedback`);
  const entries = answer.feedback || [];
  window.__admin.feedback = { ...(window.__admin.feedback || {}), [centre.id]: entries };
  const ratings = entries.map((e) => e.rating);
  section.querySelector(".fb-summary").replaceChildren(entries.length
    ? bi(`${entries.length} 個回應，平均 ${mean(ratings)} 分`, `${entries.length} answers, mean ${mean(ratings)} of 5`)
    : bi("暫未有意見", "No feedback yet"));
  const byCounter = {};
  for (const e of entries) {
    if (e.counter !== null && e.counter !== undefined) (byCounter[e.counter] ||= []).push(e.rating);
  }
  const table = section.querySelector("table.fb-counters");
  table.hidden = Object.keys(byCounter).length === 0;
  table.querySelector("tbody").replaceChildren(...Object.keys(byCounter).sort((a, b) => a - b).map((n) =>
    el("tr", { "data-counter": n }, el("td", { class: "number", text: n }),
      el("td", { text: String(byCounter[n].length) }), el("td", { class: "mean", text: mean(byCounter[n]) }))));
  section.querySelector(".fb-comments").replaceChildren(...entries.filter((e) => e.comment).reverse().map((e) =>
    el("li", {}, el("span", { class: "number", text: e.ticket }),
      ` · ${e.counter ? `櫃位 counter ${e.counter} · ` : ""}${"★".repeat(e.rating)} — `,
      el("q", { text: e.comment }))));
}

for (const centre of page.centres) {
  const load = () => loadFeedback(centre).catch((e) => console.warn("feedback not loaded", e));
  load();
  setInterval(load, FEEDBACK_REFRESH_MS);
}

// --- logins and tokens -------------------------------------------------------------------------

// Short in a table: the centre's id, with its names on hover.
function centreCell(id) {
  const c = page.centres.find((x) => x.id === id);
  return el("td", { text: id || "—", title: c ? `${c.name_zh} ${c.name_en}` : null });
}

function revokeButton(kind, name, box) {
  const button = el("button", { type: "button", class: "action danger", "data-revoke": name }, bi("撤銷", "Revoke"));
  button.addEventListener("click", guarded(button, async () => {
    if (!window.confirm(`撤銷 ${name}？ Revoke ${name}?`)) return;
    try {
      await api("POST", `/api/v1/${kind}/${encodeURIComponent(name)}/revoke`);
      message(box, "ok", `已撤銷 ${name}`, `${name} revoked`);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      refusal(box, e);
    }
    await loadStaff();
  }));
  return button;
}

function rows(list, kind, box) {
  return list.map((x) => el("tr", { "data-name": x.name },
    el("td", { text: x.name }), el("td", { text: x.role }), centreCell(x.centre),
    el("td", { text: x.counter ? String(x.counter) : "" }),
    el("td", {}, revokeButton(kind, x.name, box))));
}

async function loadStaff() {
  const staff = await api("GET", "/api/v1/staff");
  $("users").querySelector("tbody").replaceChildren(...rows(staff.users, "users", $("user-message")));
  $("tokens").querySelector("tbody").replaceChildren(...rows(staff.tokens, "tokens", $("token-message")));
}

function binding(prefix) {
  const body = { role: $(`${prefix}-role`).value };
  const centre = $(`${prefix}-centre`).value;
  if (centre && body.role !== "admin") body.centre = centre;
  const counter = $(`${prefix}-counter`).value;
  if (counter && body.role === "clerk") body.counter = Number(counter);
  return body;
}

$("new-user").addEventListener("submit", guarded($("user-create"), async () => {
  const box = $("user-message");
  clear(box);
  const body = { name: $("user-name").value.trim(), password: $("user-password").value, ...binding("user") };
  try {
    await api("POST", "/api/v1/users", body);
    message(box, "ok", `已新增登入帳戶 ${body.name}`, `Login ${body.name} created`);
    $("new-user").reset();
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    refusal(box, e);
  }
  await loadStaff();
}));

$("new-token").addEventListener("submit", guarded($("token-create"), async () => {
  const box = $("token-message");
  clear(box);
  const body = binding("token");
  const name = $("token-name").value.trim();
  if (name) body.name = name;
  try {
    const answer = await api("POST", "/api/v1/tokens", body);
    const c = answer.credential;
    // Only these two screens take a token in their URL (CONTRACT §5); the photo booth signs in.
    const screen = { display: "display", kiosk: "kiosk" }[c.role];
    const node = message(box, "ok", `已發出 ${c.name}：此憑證只顯示一次，請即複製。`,
      `${c.name} created: this token is shown once only; copy it now.`);
    node.append(el("div", { class: "token-once", id: "new-token-value", text: answer.token }));
    if (screen && c.centre) {
      node.append(el("div", { class: "token-once",
        text: `${location.origin}/${screen}/${c.centre}?token=${answer.token}` }));
    }
    $("new-token").reset();
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    refusal(box, e);
  }
  await loadStaff();
}));

loadStaff();
