// The supervisor's view of a centre's appointment slots (CONTRACT §11): a day's slots filling
// (booked, held for an offer, checked in, blocked), refreshed every 15 seconds, and the form
// that blocks some of them, or on a typhoon day blocks and cancels them.

import { ApiError, api, bi, el, guarded, pageData } from "/static/shared/api.js";
import { clear, message, refusal } from "./staff.js";

const page = pageData();
const REFRESH_MS = 15000;

async function load(box) {
  const centre = box.dataset.centre;
  const date = box.querySelector(".slots-date").value;
  const answer = await api("GET", `/api/v1/centres/${encodeURIComponent(centre)}/appointments?date=${date}`);
  const body = box.querySelector("table.slots tbody");
  if (!answer.slots.length) {
    body.replaceChildren(el("tr", {}, el("td", { colspan: "6" }, bi("該日不設預約", "No slots on that day"))));
    return;
  }
  body.replaceChildren(...answer.slots.map((s) => el("tr", { "data-start": s.start, class: s.blocked ? "blocked" : "" },
    el("td", { text: `${s.start}–${s.end}` }),
    el("td", { class: "number", text: String(s.capacity) }),
    el("td", { class: "number booked", text: String(s.booked) }),
    el("td", { class: "number", text: String(s.held) }),
    el("td", { class: "number checked-in", text: String(s.checked_in) }),
    el("td", {}, s.blocked ? bi(s.reason_zh || "暫停", s.reason_en || "Blocked") : "—"))));
}

for (const box of document.querySelectorAll("div.appointments")) {
  const day = box.querySelector(".slots-date");
  day.value = page.today;
  const refresh = () => load(box).catch(() => {});
  day.addEventListener("change", refresh);
  refresh();
  setInterval(refresh, REFRESH_MS);
  const form = box.querySelector("form.block-form");
  form.addEventListener("submit", guarded(form.querySelector(".block-submit"), async () => {
    const out = box.querySelector(".block-message");
    clear(out);
    const body = {
      date: day.value, start: form.querySelector(".block-start").value,
      end: form.querySelector(".block-end").value,
      reason_zh: form.querySelector(".block-zh").value.trim(),
      reason_en: form.querySelector(".block-en").value.trim(),
      cancel: form.querySelector(".block-cancel").checked,
    };
    try {
      const answer = await api("POST", `/api/v1/centres/${encodeURIComponent(box.dataset.centre)}/appointments/blocks`, body);
      message(out, "ok", `已暫停 ${answer.blocked} 個時段，取消 ${answer.cancelled} 個預約。`,
        `${answer.blocked} slot(s) blocked, ${answer.cancelled} appointment(s) cancelled.`);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      refusal(out, e);
    }
    await refresh();
  }));
}
