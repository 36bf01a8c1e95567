// The centre's live events (CONTRACT §6) for every screen: connects, resumes with `after=` from
// the last event seen, takes a fresh board on `resync_required`, and reconnects by itself,
// forever, with backoff and jitter. One bad event never stalls a screen.

const FIRST_DELAY_MS = 500;
// Long enough to spare a server that is starting again, short enough that a hall display is
// back within half a minute of it.
const MAX_DELAY_MS = 20000;
// A socket can look open on a dead network path: a health check this often finds out.
const WATCHDOG_MS = 25000;
const WATCHDOG_TIMEOUT_MS = 5000;
// A connection that stays up this long counts as working: the next failure starts the backoff
// afresh. (A server that accepts and drops at once must not be hammered.)
const STABLE_MS = 5000;

// Event ids are Redis stream ids, `<ms>-<seq>`: compared as two integers, never as strings.
export function parseId(id) {
  const m = /^(\d+)-(\d+)$/.exec(id || "");
  return m ? [Number(m[1]), Number(m[2])] : null;
}

export function compareIds(a, b) {
  const x = parseId(a);
  const y = parseId(b);
  if (!x || !y) return 0;
  return x[0] - y[0] || x[1] - y[1];
}

export class LiveEvents {
  // handlers: onBoard(board), onEvent(event), onStatus(connected: bool)
  constructor(centre, token, handlers) {
    this.centre = centre;
    this.token = token;
    this.handlers = handlers;
    this.lastId = null;
    this.socket = null;
    this.attempt = 0;
    this.connected = null; // not yet known: the first answer or failure says
    this.reconnects = 0;
    this.resyncs = 0;
    this.timer = null;
    this.stopped = false;
  }

  url() {
    const params = new URLSearchParams();
    if (this.token) params.set("token", this.token);
    if (this.lastId) params.set("after", this.lastId);
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const query = params.toString();
    return `${scheme}//${location.host}/ws/centres/${encodeURIComponent(this.centre)}/events` +
      (query ? "?" + query : "");
  }

  start() {
    this.stopped = false;
    this.connect();
    this.watchdog = setInterval(() => this.check(), WATCHDOG_MS);
  }

  stop() {
    this.stopped = true;
    clearInterval(this.watchdog);
    clearTimeout(this.timer);
    if (this.socket) this.socket.close();
  }

  connect() {
    clearTimeout(this.timer);
    let socket;
    try {
      socket = new WebSocket(this.url());
    } catch (e) {
      this.retry();
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      // Resuming with after= may bring no message at all until the next event: open is enough.
      this.setStatus(true);
      clearTimeout(this.stable);
      this.stable = setTimeout(() => { if (this.socket === socket) this.attempt = 0; }, STABLE_MS);
    };
    socket.onmessage = (m) => this.receive(m.data);
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.setStatus(false);
      this.retry();
    };
    // An error is always followed by a close, which does the reconnecting.
    socket.onerror = () => {};
  }

  retry() {
    if (this.stopped) return;
    const cap = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** this.attempt);
    this.attempt += 1;
    // Half fixed, half random: screens that lost the same server do not all return at once.
    const delay = cap / 2 + Math.random() * cap / 2;
    this.reconnects += 1;
    this.timer = setTimeout(() => this.connect(), delay);
  }

  setStatus(connected) {
    if (this.connected === connected) return;
    this.connected = connected;
    if (this.handlers.onStatus) this.handlers.onStatus(connected);
  }

  receive(raw) {
    let message;
    try {
      message = JSON.parse(raw);
    } catch (e) {
      return;
    }
    this.setStatus(true);
    try {
      if (message.type === "board") {
        this.lastId = message.data.last_event_id || null;
        this.handlers.onBoard(message.data);
      } else if (message.type === "resync_required") {
        this.lastId = null; // a fresh board follows
        this.resyncs += 1;
      } else if (message.type === "error") {
        // Our cursor was refused: start again from a board.
        this.lastId = null;
      } else if (message.id) {
        if (this.lastId && compareIds(message.id, this.lastId) <= 0) return; // seen already
        this.lastId = message.id;
        this.handlers.onEvent(message);
      }
    } catch (e) {
      console.error("live event not handled", message.type, e);
    }
  }

  async check() {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) return;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), WATCHDOG_TIMEOUT_MS);
    try {
      await fetch("/healthz", { cache: "no-store", signal: controller.signal });
    } catch (e) {
      // The server is out of reach although the socket says open: start again.
      if (this.socket) this.socket.close();
    } finally {
      clearTimeout(timer);
    }
  }
}

// Calls `refresh` once after a burst of events, not once per event.
export function debounced(refresh, waitMs) {
  let timer = null;
  let running = false;
  let again = false;
  const run = async () => {
    timer = null;
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      await refresh();
    } catch (e) {
      console.warn("refresh failed", e);
    } finally {
      running = false;
      if (again) {
        again = false;
        schedule();
      }
    }
  };
  const schedule = () => {
    if (timer === null) timer = setTimeout(run, waitMs);
  };
  return schedule;
}
