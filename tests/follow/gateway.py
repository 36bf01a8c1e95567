"""A centre's text-message gateway on a real HTTP server on loopback, started by a test: it
records every POST (headers, body, time) and answers as told — 200, a failure for the first few
attempts of each delivery, or never (the connection stays open until the test ends)."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

KEY = "gateway-signing-key"


@dataclass
class Received:
    at: float
    headers: dict[str, str]
    body: bytes
    answered: int | None  # the status sent back, None if it was never answered

    @property
    def message(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed

    @property
    def delivery(self) -> str:
        return self.headers["queueserver-delivery"]

    def signed(self, key: str = KEY) -> bool:
        """The signature as CONTRACT §9 defines it, checked as a gateway would."""
        fields = dict(part.split("=", 1) for part in
                      self.headers["queueserver-signature"].split(","))
        mac = hmac.new(key.encode(), fields["t"].encode() + b"." + self.body,
                       hashlib.sha256).hexdigest()
        return set(fields) == {"t", "v1"} and hmac.compare_digest(mac, fields["v1"]) \
            and abs(time.time() - int(fields["t"])) < 600


class Gateway:
    def __init__(self, fail_first: int = 0, never_answer: bool = False) -> None:
        self.fail_first = fail_first
        self.never_answer = never_answer
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.release = threading.Event()
        gateway = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                seen = Received(time.time(), {k.lower(): v for k, v in self.headers.items()},
                                body, None)
                with gateway.lock:
                    gateway.received.append(seen)
                    tries = sum(1 for r in gateway.received
                                if r.headers.get("queueserver-delivery")
                                == seen.headers.get("queueserver-delivery"))
                if gateway.never_answer:
                    gateway.release.wait(120)
                    return
                status = 503 if tries <= gateway.fail_first else 200
                seen.answered = status
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/messages"

    def taken(self) -> list[Received]:
        """The messages the gateway took (answered 2xx), in order."""
        with self.lock:
            return [r for r in self.received if r.answered is not None and r.answered < 300]

    def wait_for(self, count: int, timeout: float = 60) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.taken()) >= count:
                return self.taken()
            time.sleep(0.1)
        raise AssertionError(f"the gateway took {len(self.taken())} of {count} messages "
                             f"({len(self.received)} attempts)")

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
