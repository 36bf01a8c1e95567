"""A stand-in ESC/POS network printer for the tests: a TCP server on a loopback port that records
every byte each connection sends, answers the paper-status query as a printer does (with paper,
or out of it), and knows the commands a slip is checked for."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field

PAPER_QUERY = b"\x10\x04\x04"  # DLE EOT 4: the paper sensor's status
HAS_PAPER = b"\x12"
NO_PAPER = b"\x72"  # the paper-end bits set
QR_COMMAND = b"\x1d(k"  # GS ( k: the printer draws a QR code
BARCODE_COMMAND = b"\x1dk"  # GS k: the printer draws a barcode
RASTER_IMAGE = b"\x1dv0"  # GS v 0: a picture (the slip's Chinese lines)
CUT = b"\x1dV"


@dataclass
class FakePrinter:
    paper: bool = True
    port: int = 0
    jobs: list[bytes] = field(default_factory=list)  # one per connection, once it closed
    _server: socket.socket | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> FakePrinter:
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        server.settimeout(0.2)
        self._server, self.port = server, server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self) -> None:
        assert self._server is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        got = b""
        conn.settimeout(0.2)
        deadline = time.monotonic() + 30  # no connection outlives a test
        with conn:
            while time.monotonic() < deadline and not self._stop.is_set():
                try:
                    chunk = conn.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    break
                if not chunk:
                    break
                before = got.count(PAPER_QUERY)
                got += chunk
                for _ in range(got.count(PAPER_QUERY) - before):
                    conn.sendall(HAS_PAPER if self.paper else NO_PAPER)
        with self._lock:
            self.jobs.append(got)

    def slips(self) -> list[bytes]:
        """What was sent beyond status queries: the slips printed."""
        with self._lock:
            return [j for j in self.jobs if j.replace(PAPER_QUERY, b"")]

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.close()


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released: connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
