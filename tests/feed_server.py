"""A booking platform's export on a real HTTP server on loopback, started by the test.

Each path serves a page: its body, its validators (a conditional GET that matches them gets
304) and an optional `Link: rel="next"` header. A test can queue one-off answers for a path
(a 500, a slow answer, a body cut short, an answer held until the test releases it) that are
used, in order, before the page itself. Every request is recorded with its headers.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from queueserver.booking_sync.feed import Policy

# Short timeouts and pauses, so a test of a retry takes a fraction of a second.
FAST = Policy(timeout_s=0.5, attempts=3, first_backoff_s=0.01, max_backoff_s=0.5,
              page_deadline_s=5.0)
# A held answer goes out when the test releases it, or after this if the test never does (a
# failed test then ends instead of hanging).
HOLD_LIMIT_S = 30.0


@dataclass
class Page:
    body: bytes
    etag: str = ""
    last_modified: str = ""
    link: str = ""  # the next page's URL, sent as a Link header


@dataclass
class Answer:
    """A one-off answer: a status (and body), after `delay_s`; `cut_short` promises more bytes
    than it sends and hangs up."""

    status: int = 200
    body: bytes = b""
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    cut_short: bool = False
    page: bool = False  # after the delay, serve the page itself
    # Set by the test to let the answer go (see `held`); `arrived` is set when its request comes.
    hold: threading.Event | None = None
    arrived: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def held(cls, **answer: Any) -> Answer:
        """An answer that waits for `release()`: the test knows its request is in flight (`arrived`)
        and decides when it ends, so an overlap is made, not hoped for."""
        return cls(hold=threading.Event(), **answer)

    def release(self) -> None:
        assert self.hold is not None, "not a held answer"
        self.hold.set()

    def wait_arrived(self, timeout: float = 30) -> None:
        assert self.arrived.wait(timeout), f"the request never came within {timeout} s"


@dataclass
class Seen:
    path: str
    headers: dict[str, str]


class FeedServer:
    def __init__(self) -> None:
        self.pages: dict[str, Page] = {}
        self.queued: dict[str, list[Answer]] = {}
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        feed = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
                try:
                    feed.answer(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout under test): nothing to tell it

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        # A short poll, so that stopping it at the end of a test takes no time.
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,),
                                       daemon=True)
        self.thread.start()

    def url(self, path: str = "/export.json") -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def serve(self, path: str, items: list[Any], **page: Any) -> Page:
        """Serves `{"bookings": items}` (plus any `members`) at path."""
        members = page.pop("members", {})
        # The other members after the array: a reader learns of `next` only at the page's end.
        self.pages[path] = Page(json.dumps({"bookings": items, **members}).encode(), **page)
        return self.pages[path]

    def queue(self, path: str, *answers: Answer) -> None:
        with self.lock:
            self.queued.setdefault(path, []).extend(answers)

    def requests(self, path: str | None = None) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if path is None or s.path == path]

    def answer(self, h: http.server.BaseHTTPRequestHandler) -> None:
        path = h.path.split("?")[0]
        with self.lock:
            self.seen.append(Seen(h.path, {k.lower(): v for k, v in h.headers.items()}))
            queued = self.queued.get(path)
            one_off = queued.pop(0) if queued else None
        if one_off:
            one_off.arrived.set()
            if one_off.hold is not None:
                one_off.hold.wait(HOLD_LIMIT_S)
            time.sleep(one_off.delay_s)
            if not one_off.page:
                self.send(h, one_off.status, one_off.body, one_off.headers, one_off.cut_short)
                return
        page = self.pages.get(path)
        if page is None:
            self.send(h, 404, b"not found", {})
            return
        validators = {"ETag": page.etag, "Last-Modified": page.last_modified}
        validators = {k: v for k, v in validators.items() if v}
        if ((page.etag and h.headers.get("If-None-Match") == page.etag)
                or (page.last_modified
                    and h.headers.get("If-Modified-Since") == page.last_modified)):
            self.send(h, 304, b"", validators)
            return
        headers = dict(validators)
        if page.link:
            headers["Link"] = f'<{page.link}>; rel="next"'
        self.send(h, 200, page.body, {"Content-Type": "application/json", **headers})

    @staticmethod
    def send(h: http.server.BaseHTTPRequestHandler, status: int, body: bytes,
             headers: dict[str, str], cut_short: bool = False) -> None:
        h.send_response(status)
        for name, value in headers.items():
            h.send_header(name, value)
        if status != 304:
            h.send_header("Content-Length", str(len(body) + (1000 if cut_short else 0)))
        h.end_headers()
        if status != 304:
            h.wfile.write(body)
        h.wfile.flush()
        h.close_connection = True

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

