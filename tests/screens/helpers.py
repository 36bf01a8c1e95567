"""What the screen tests share: pages watched for foreign requests and CSP violations,
screenshots kept as artifacts, signing in as a person does, and the API as a test drives it."""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import redis
from conftest import Server

from queueserver.store import keys

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screens"
PASSWORD = "a long enough secret"
SIZES = {"1920x1080": (1920, 1080), "1280x720": (1280, 720), "360x740": (360, 740)}
C = "/api/v1/centres/wan-chai"
# How long a screen may take to show a change, as a functional test's bound: generous, since the
# machine is shared. How long it does take is recorded (`record_shown`), never asserted.
SHOWN_WITHIN_MS = 10_000
TIMINGS = ARTIFACTS / "timings.jsonl"

# When an element's text first became `text`, by the page's own clock (a MutationObserver, so
# the moment it changed, not the moment a poll noticed).
WATCH_SHOWN = """([selector, text]) => {
  window.__shownAt = window.__shownAt || {};
  const el = document.querySelector(selector);
  const look = () => {
    if (el.textContent === text && !(text in window.__shownAt)) window.__shownAt[text] = Date.now();
  };
  new MutationObserver(look).observe(el, {childList: true, characterData: true, subtree: true});
  look();
}"""

# Recorded in every page before its own scripts run: what the policy blocked.
WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push({directive: e.violatedDirective, blocked: e.blockedURI,
                               source: e.sourceFile, line: e.lineNumber});
});
"""


@dataclass
class Screens:
    """Opens pages on the server and remembers what each one did wrong."""

    browser: Any
    server: Server
    foreign: list[str] = field(default_factory=list)
    console_csp: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    contexts: list[Any] = field(default_factory=list)
    pages: list[Any] = field(default_factory=list)

    @property
    def host(self) -> str:
        return urlsplit(self.server.url).netloc

    def context(self, size: str = "1920x1080") -> Any:
        width, height = SIZES[size]
        ctx = self.browser.new_context(viewport={"width": width, "height": height},
                                       locale="zh-HK", timezone_id="Asia/Hong_Kong")
        ctx.add_init_script(WATCH_CSP)
        ctx.route("**/*", self._only_the_server)
        self.contexts.append(ctx)
        return ctx

    def _only_the_server(self, route: Any) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.netloc != self.host:
            self.foreign.append(url)
            route.abort()
            return
        route.continue_()

    def open(self, path: str, size: str = "1920x1080", ctx: Any = None) -> Any:
        page = (ctx or self.context(size)).new_page()
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.page_errors.append(str(e)))
        page.on("websocket", lambda ws: self._check_url(ws.url))
        page.on("request", lambda req: self._check_url(req.url))
        self.pages.append(page)
        if path:
            page.goto(self.server.url + path)
        return page

    def _check_url(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.netloc != self.host:
            self.foreign.append(url)

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.console_csp.append(message.text)

    def violations(self) -> list[Any]:
        found = []
        for page in self.pages:
            if not page.is_closed():
                try:
                    found += page.evaluate("window.__cspViolations || []")
                except Exception:  # a page mid-navigation has no window to ask
                    continue
        return found

    def close(self) -> None:
        for ctx in self.contexts:
            ctx.close()


def shoot(page: Any, name: str) -> Path:
    """A screenshot kept as a test artifact (test-artifacts/screens/)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    path = ARTIFACTS / f"{name}-{size['width']}x{size['height']}.png"
    page.screenshot(path=str(path))
    return path


def fits_without_scrolling(page: Any) -> bool:
    return bool(page.evaluate(
        "document.documentElement.scrollHeight <= window.innerHeight + 1 && "
        "document.documentElement.scrollWidth <= window.innerWidth + 1"))


def sign_in(screens: Screens, name: str, path: str, size: str = "1920x1080",
            ctx: Any = None) -> Any:
    """Opens a staff screen as a person does: redirected to /login, signs in, comes back."""
    page = screens.open(path, size, ctx)
    assert "/login" in page.url
    page.fill("#username", name)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**" + path)
    return page


class Api:
    """The API as a test drives it, with one supervisor's token."""

    def __init__(self, server: Server, token: str) -> None:
        self.url = server.url
        self.headers = {"Authorization": f"Bearer {token}"}

    def post(self, path: str, body: dict[str, Any] | None = None, expect: int = 200) -> Any:
        answer = httpx.post(self.url + path, json=body or {}, headers=self.headers, timeout=10)
        assert answer.status_code == expect, answer.text
        return answer.json()

    def get(self, path: str) -> Any:
        answer = httpx.get(self.url + path, headers=self.headers, timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json()




def watch_shown(page: Any, selector: str, text: str) -> None:
    """From now on, the page notes when `selector`'s text becomes `text` (see `record_shown`)."""
    page.evaluate(WATCH_SHOWN, [selector, text])


def record_shown(page: Any, r: redis.Redis, what: str, event_type: str, ticket: str) -> int:
    """Milliseconds from the event's append to the page showing its ticket, appended to
    test-artifacts/screens/timings.jsonl (docs/benchmarks.md). The event's `at` is the test's
    clock, not the wall's, so the append time is its stream id's (Redis's clock, as the
    benchmark's event->display figure); the page's is Date.now(), on the same machine."""
    shown_ms = page.evaluate("(t) => (window.__shownAt || {})[t]", ticket)
    assert shown_ms is not None, f"{ticket} was never shown (watch_shown first)"
    appended = [event_id for event_id, fields in r.xrange(keys.events("wan-chai"))
                if fields["type"] == event_type
                and json.loads(fields["data"]).get("ticket") == ticket]
    assert appended, f"no {event_type} event for {ticket}"
    figure = int(shown_ms) - int(appended[-1].split("-", 1)[0])
    assert -5 <= figure <= SHOWN_WITHIN_MS, figure  # the same machine's clock, give or take
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with TIMINGS.open("a") as out:
        out.write(json.dumps({"what": what, "ms": figure, "load": os.getloadavg()[0],
                              "measured": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")})
                  + "\n")
    return figure
