// What every staff screen shares: messages in both languages, the live mark, printing slips.

import { bi, el } from "/static/shared/api.js";
import { NEXT_STEP } from "/static/shared/words.js";

export function message(box, kind, zh, en, next) {
  const children = [el("span", { lang: "zh-Hant", text: zh }), el("br"), el("span", { lang: "en", text: en })];
  if (next) {
    children.push(el("span", { class: "next" }, el("span", { lang: "zh-Hant", text: next[0] }), " ",
      el("span", { lang: "en", text: next[1] })));
  }
  box.replaceChildren(el("div", { class: "message " + kind }, ...children));
  return box.firstChild;
}

// An API refusal: what happened, then what to do next.
export function refusal(box, error) {
  const node = message(box, "bad", error.message_zh, error.message_en, NEXT_STEP[error.code]);
  node.dataset.code = error.code;
  return node;
}

export function clear(box) {
  box.replaceChildren();
}

export function liveMark(connected) {
  const mark = document.getElementById("live-mark");
  if (mark) mark.hidden = connected;
}

// Prints the page's slip once its images are loaded. Started with --kiosk-printing, Chromium
// prints to the default printer without a dialog (docs/screens.md).
export async function printSlip(slip) {
  const images = Array.from(slip.querySelectorAll("img"));
  await Promise.all(images.map((img) => (img.complete && img.naturalWidth) ? null
    : new Promise((resolve) => { img.onload = img.onerror = resolve; })));
  window.print();
  // Counted once the print dialog has returned: while it is open the page takes no input.
  window.__slips = (window.__slips || 0) + 1;
}

export { bi, el };
