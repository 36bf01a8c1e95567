// The booking page (CONTRACT §11): one application's appointment, booked, changed or cancelled
// on a phone. Its credential is the booking token in the page's own address; every answer of
// the API comes in both languages, refusals with what to do next.

const page = JSON.parse(document.body.dataset.page);
const token = location.pathname.split("/").pop();
const api = `/api/v1/book/${token}`;
const $ = (id) => document.getElementById(id);
const WEEKDAYS_ZH = "日一二三四五六";
const WEEKDAYS_EN = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

let view = page.view;
let chosen = null;     // {date, start, end}
let slots = [];        // the chosen centre's free slots
let cancelArmed = false;

async function call(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(api + path, { method, headers, cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw { message_zh: "無法連接，請檢查網絡後再試。", message_en: "No connection: check your network and try again." };
  }
  if (response.status === 204) return null;
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    // A refusal may carry more beside its error: slot_full, the day's slots still free.
    throw { ...(answer.error || { message_zh: `錯誤 ${response.status}`, message_en: `Error ${response.status}` }),
            listing: answer.listing };
  }
  return answer;
}

function say(kind, zh, en) {
  const box = $("message");
  box.className = kind;
  box.textContent = `${zh} ${en}`;
  box.hidden = false;
  box.scrollIntoView({ block: "nearest" });
}

function dayLabel(iso) {
  const d = new Date(iso + "T00:00:00");
  return { zh: `${d.getMonth() + 1}月${d.getDate()}日（${WEEKDAYS_ZH[d.getDay()]}）`,
           en: `${WEEKDAYS_EN[d.getDay()]} ${d.getDate()}/${d.getMonth() + 1}` };
}

function centreOf(id) { return page.centres.find((c) => c.id === id); }

function showCurrent() {
  const a = view.appointment;
  $("current").hidden = !a;
  if (a) {
    const c = centreOf(a.centre);
    const day = dayLabel(a.date);
    $("current-text").textContent = `${day.zh} ${day.en} ${a.slot_start}–${a.slot_end}`;
    $("current-ref").textContent = `${c.name_zh} ${c.name_en} · 預約編號 Booking reference ${a.booking_ref}`;
    $("changes").textContent = `尚可更改 ${view.changes_left} 次 · ${view.changes_left} change(s) left`;
    $("change").disabled = view.changes_left === 0 || view.checked_in;
    $("cancel").disabled = view.checked_in;
  }
  $("choose").hidden = Boolean(a) && !$("choose").dataset.open;
  const o = view.offer;
  $("offer").hidden = !o;
  if (o) {
    const c = centreOf(o.centre);
    const day = dayLabel(o.date);
    const until = o.until.slice(11, 16);
    $("offer-text").textContent = `${c.name_zh} ${c.name_en} · ${day.zh} ${day.en} ${o.start}–${o.end} · 保留至 held until ${o.until.slice(0, 10)} ${until}`;
  }
  const list = $("waitlist");
  list.replaceChildren(...view.waitlist.map((w) => {
    const li = document.createElement("li");
    const c = centreOf(w.centre);
    const day = dayLabel(w.date);
    li.textContent = `${day.zh} ${day.en} · ${c.name_zh} ${c.name_en}`;
    return li;
  }));
  $("waiting").hidden = view.waitlist.length === 0;
}

async function refresh() {
  view = await call("GET", "");
  showCurrent();
}

async function loadSlots() {
  const centre = $("centre").value;
  const c = centreOf(centre);
  $("address").textContent = [c.address_zh, c.address_en].filter(Boolean).join(" · ");
  $("times-box").hidden = true;
  $("confirm-box").hidden = true;
  chosen = null;
  const days = $("days");
  days.replaceChildren();
  if (!c.days.length) return;
  // One listing spans at most 31 days: the horizon's first 31.
  const last = new Date(c.days[0] + "T00:00:00Z");
  last.setUTCDate(last.getUTCDate() + 30);
  const within = c.days.filter((d) => d <= last.toISOString().slice(0, 10));
  const answer = await call("GET", `/slots?centre=${encodeURIComponent(centre)}&from=${within[0]}&to=${within[within.length - 1]}`);
  slots = answer.slots;
  showDays(centre, within);
}

function showDays(centre, within) {
  const days = $("days");
  days.replaceChildren();
  for (const date of within) {
    const free = slots.filter((s) => s.date === date);
    const label = dayLabel(date);
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.date = date;
    if (free.length) {
      b.innerHTML = `${label.zh}<small>${label.en}</small>`;
      b.addEventListener("click", () => showTimes(date, b));
    } else {
      b.className = "full";
      b.innerHTML = `${label.zh}<small>已滿 · 候補 Full · wait</small>`;
      b.addEventListener("click", () => joinWaitlist(centre, date));
    }
    days.append(b);
  }
}

function showTimes(date, button) {
  for (const b of $("days").children) b.setAttribute("aria-pressed", String(b === button));
  const label = dayLabel(date);
  $("times-title").textContent = `${label.zh} ${label.en}`;
  const times = $("times");
  times.replaceChildren(...slots.filter((s) => s.date === date).map((s) => {
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.start = s.start;
    b.innerHTML = `${s.start}<small>餘 ${s.free} left</small>`;
    b.addEventListener("click", () => {
      for (const t of times.children) t.setAttribute("aria-pressed", String(t === b));
      chosen = s;
      $("confirm-text").textContent = `${label.zh} ${label.en} ${s.start}–${s.end}`;
      $("confirm-box").hidden = false;
      $("confirm").scrollIntoView({ block: "nearest" });
    });
    return b;
  }));
  $("times-box").hidden = false;
  $("confirm-box").hidden = true;
}

// A slot taken meanwhile: its refusal lists that day's slots still free, shown at once
// without asking again (the page lists the centre again only if the refusal came without them).
async function showFull(listing) {
  const centre = $("centre").value;
  const within = [...$("days").children].map((b) => b.dataset.date);
  const date = chosen && chosen.date;
  if (!listing || listing.centre !== centre || !within.includes(date)) return loadSlots();
  slots = slots.filter((s) => s.date !== date).concat(listing.slots)
    .sort((a, b) => (a.date + a.start).localeCompare(b.date + b.start));
  showDays(centre, within);
  const button = [...$("days").children].find((b) => b.dataset.date === date);
  chosen = null;
  if (listing.slots.length) {
    showTimes(date, button);
  } else {
    $("times-box").hidden = true;
    $("confirm-box").hidden = true;
  }
}

async function bookSlot(centre, date, start) {
  const answer = await call("POST", "/appointment", { centre, date, start });
  delete $("choose").dataset.open;
  await refresh();
  await loadSlots();
  const a = answer.appointment;
  say("ok", `已預約 ${a.date} ${a.slot_start}，確認電郵稍後寄出。`, `Booked for ${a.date} at ${a.slot_start}; a confirmation email is on its way.`);
}

async function joinWaitlist(centre, date) {
  const answer = await call("POST", "/waitlist", { centre, date });
  await refresh();
  say("ok", `已加入候補名單（第 ${answer.position} 位），有名額時會以電郵通知你。`, `You are on the waiting list (number ${answer.position}); an email tells you when a place frees.`);
}

function guarded(action) {
  return async (...args) => {
    const buttons = document.querySelectorAll("button");
    buttons.forEach((b) => { b.dataset.was = b.disabled; b.disabled = true; });
    try {
      await action(...args);
    } catch (error) {
      say("error", error.message_zh, error.message_en);
      // A slot taken meanwhile: show what is still free.
      if (error.code === "slot_full") await showFull(error.listing).catch(() => {});
    } finally {
      buttons.forEach((b) => { if (b.dataset.was === "false") b.disabled = false; });
      showCurrent();
    }
  };
}

function start() {
  const select = $("centre");
  for (const c of page.centres) {
    const option = document.createElement("option");
    option.value = c.id;
    option.textContent = `${c.name_zh} ${c.name_en}`;
    select.append(option);
  }
  if (view.appointment) select.value = view.appointment.centre;
  select.addEventListener("change", guarded(loadSlots));
  $("confirm").addEventListener("click", guarded(() => bookSlot($("centre").value, chosen.date, chosen.start)));
  $("take-offer").addEventListener("click", guarded(() => bookSlot(view.offer.centre, view.offer.date, view.offer.start)));
  $("change").addEventListener("click", () => {
    $("choose").dataset.open = "1";
    $("choose").hidden = false;
    $("choose").scrollIntoView({ block: "start" });
  });
  $("cancel").addEventListener("click", guarded(async () => {
    if (!cancelArmed) {
      cancelArmed = true;
      say("error", "再按一次「取消預約」以確認。", "Tap Cancel again to confirm.");
      setTimeout(() => { cancelArmed = false; }, 5000);
      return;
    }
    cancelArmed = false;
    await call("DELETE", "/appointment");
    await refresh();
    await loadSlots();
    say("ok", "預約已取消，名額已釋出。", "Your appointment is cancelled and its place freed.");
  }));
  showCurrent();
  guarded(loadSlots)();
}

start();
