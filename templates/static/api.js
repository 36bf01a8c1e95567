// Calls to the server's API from every screen: the page's credential (a device's token, or a
// staff session's CSRF token beside its cookie), errors in both languages, no double submits.

export function pageData() {
  return JSON.parse(document.body.dataset.page || "{}");
}

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message_en || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || (status === 0 ? "unreachable" : "http_" + status);
    this.message_en = error.message_en || (status === 0
      ? "The server cannot be reached; it will be tried again."
      : `The server answered ${status}.`);
    this.message_zh = error.message_zh || (status === 0 ? "無法連接伺服器，稍後會再試。" : `伺服器回應 ${status}。`);
    this.body = body || {};
  }

  // No answer at all, or one saying the server itself is unwell: worth trying again later.
  get unreachable() {
    return this.status === 0 || this.status === 502 || this.status === 503 || this.status === 504;
  }
}

// Request ids that work without a secure context (crypto.randomUUID needs one; a centre's
// screens are often plain http on the local network).
export function newKey() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

const TIMEOUT_MS = 10000;

// The answer's JSON; with `options.accept` (another media type, such as "image/svg+xml") its
// text. An error comes as JSON either way.
export async function api(method, path, body, options = {}) {
  const page = pageData();
  const headers = { Accept: options.accept ? `${options.accept}, application/json` : "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (page.token) headers.Authorization = "Bearer " + page.token;
  else if (page.csrf && method !== "GET") headers["X-CSRF-Token"] = page.csrf;
  if (options.idempotencyKey) headers["Idempotency-Key"] = options.idempotencyKey;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), options.timeoutMs || TIMEOUT_MS);
  let response;
  try {
    response = await fetch(path, {
      method, headers, credentials: "same-origin", cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: controller.signal,
    });
  } catch (e) {
    throw new ApiError(0, null);
  } finally {
    clearTimeout(timer);
  }
  if (response.ok && options.accept) {
    try {
      return await response.text();
    } catch (e) {
      throw new ApiError(0, null);
    }
  }
  let data = null;
  try {
    data = await response.json();
  } catch (e) {
    data = null;
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// Runs `action` once per click: the button stays disabled until it is done, so a double click
// or a held key cannot send the same request twice.
// `after` runs once the button is released, for screens that decide again which buttons apply.
export function guarded(button, action, after) {
  return async (event) => {
    if (event) event.preventDefault();
    if (button.disabled || button.dataset.busy === "1") return;
    button.dataset.busy = "1";
    button.disabled = true;
    try {
      await action(event);
    } finally {
      delete button.dataset.busy;
      button.disabled = false;
      if (after) after();
    }
  };
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// Chinese and English side by side.
export function bi(zh, en) {
  return el("span", { class: "bi" }, el("span", { class: "zh", lang: "zh-Hant", text: zh }), " ",
    el("span", { class: "en", lang: "en", text: en }));
}

// The server's clock: a screen's own clock may be wrong (and in tests the server's is set).
// The demo's clock runs `clock_rate` times as fast as the real one.
export function serverClock(page) {
  const rate = page.clock_rate > 0 ? page.clock_rate : 1;
  const clock = {
    read: page.server_now_ms || Date.now(),  // the server's time ...
    at: Date.now(),                          // ... when this screen's clock read this
    now() { return clock.read + (Date.now() - clock.at) * rate; },
    // The centre's local date, YYYY-MM-DD.
    today() {
      return new Date(clock.now() + (page.utc_offset_minutes || 0) * 60000).toISOString().slice(0, 10);
    },
    resync(serverMs) {
      if (!Number.isFinite(serverMs)) return;
      clock.read = serverMs;
      clock.at = Date.now();
    },
  };
  return clock;
}

// On the demo's screens, a mark that the time shown is the demo's (CONTRACT §8).
export function demoMark(page, clock) {
  const mark = document.getElementById("demo-mark");
  if (!page.demo || !mark) return;
  const time = mark.querySelector(".demo-time");
  const tick = () => { if (time) time.textContent = clockText(page, clock.now()); };
  tick();
  setInterval(tick, 1000);
}

export function clockText(page, ms) {
  return new Intl.DateTimeFormat("en-GB", {
    hour: "2-digit", minute: "2-digit", hour12: false, timeZone: page.timezone || undefined,
  }).format(new Date(ms));
}
