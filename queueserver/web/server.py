"""`queueserver serve`: uvicorn running the app, on `REDIS_URL` or the embedded default."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.supervisors import Multiprocess
from websockets.exceptions import InvalidState

from queueserver.live.events import SEND_NOW
from queueserver.platform import logs, runtime
from queueserver.platform.config import Config
from queueserver.platform.errors import ApiError

# On SIGTERM, requests in flight get this long to finish (a Redis pool wait is 10 s) before
# they are cancelled; WebSockets are closed with 1012 at once (uvicorn does that).
GRACEFUL_SHUTDOWN_S = 30
# A request's head (request line and headers) may be this large: nginx's default
# (`large_client_header_buffers 4 8k`), so what passes nginx passes here. Ours are well under
# 2 KiB (the cookies included).
MAX_HEAD_BYTES = 32 * 1024

log = logging.getLogger("queueserver")


class OneWrite:
    """A connection's transport whose writes of one turn of the event loop leave in one system
    call: uvicorn writes an answer's head and its body apart, and each write to a socket was a
    tenth of a check-in's CPU in py-spy (docs/benchmarks.md). Held for that turn only; closing
    sends what is held first. Everything else is the transport's own."""

    __slots__ = ("real", "_held", "_loop")

    def __init__(self, real: asyncio.Transport) -> None:
        self.real = real
        self._held: list[bytes] = []
        self._loop = asyncio.get_running_loop()

    def write(self, data: bytes) -> None:
        if not self._held:
            self._loop.call_soon(self.flush)
        self._held.append(data)

    def flush(self) -> None:
        if self._held:
            data = b"".join(self._held)
            self._held.clear()
            if not self.real.is_closing():
                self.real.write(data)

    def close(self) -> None:
        self.flush()
        self.real.close()

    def is_closing(self) -> bool:
        return self.real.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


class BoundedHead(HttpToolsProtocol):
    """uvicorn's httptools protocol (the fast one) with a bound on a request's head: llhttp keeps
    a header's bytes until the header ends, however long, so one connection could otherwise
    fill the memory. (h11 has `h11_max_incomplete_event_size`, at many times the cost per
    request.) While a head is unfinished the parser is fed no more than the bound leaves room
    for; a head still unfinished past it is answered 431 in the contract's shape and the
    connection closed. (A head that follows another request's body in the same read is bounded
    by that read alone: only pipelining clients send one, and no screen does.)"""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0
        self._in_head = True   # a connection opens with a head

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(OneWrite(transport))  # type: ignore[arg-type]

    def handle_websocket_upgrade(self) -> None:
        # A socket writes its own frames as they come: what was held goes first, then the
        # WebSocket protocol gets the real transport.
        held = self.transport
        if isinstance(held, OneWrite):
            held.flush()
            self.transport = held.real
        super().handle_websocket_upgrade()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True   # what comes next on this connection is the next request's head

    def data_received(self, data: bytes) -> None:
        while data and self._in_head:
            room = MAX_HEAD_BYTES - self._head_bytes + 1
            piece, data = data[:room], data[room:]
            self._head_bytes += len(piece)
            super().data_received(piece)
            if self.transport.is_closing() or self.transport.get_protocol() is not self:
                return   # refused as malformed, or now a WebSocket (as uvicorn does at once)
            if self._in_head and self._head_bytes > MAX_HEAD_BYTES:
                self._refuse()
                return
        if data:
            super().data_received(data)

    def _refuse(self) -> None:
        self._in_head = False
        log.warning("refused a request whose head is over %d bytes", MAX_HEAD_BYTES)
        body = json.dumps(ApiError("headers_too_large").body()).encode()
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n"
            b"connection: close\r\n\r\n" + body)
        self.transport.close()


class _Inbox:
    """What uvicorn's WebSocket keeps of asyncio.Queue (`put_nowait`, `get`, `empty`), without
    its three deques and an Event (a deque is 760 bytes): for one reader, the app's receive."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def empty(self) -> bool:
        return not self._items

    async def get(self) -> Any:
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.pop(0)


class _Flag:
    """What uvicorn's WebSocket keeps of asyncio.Event (`writable`), its waiters' list made only
    when a send has to wait for the peer."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = True
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        if not self._set:
            waiter = asyncio.get_running_loop().create_future()
            if self._waiters is None:
                self._waiters = []
            self._waiters.append(waiter)
            await waiter
        return True


class LeanWebSocket(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol, lighter while it idles: an open socket is what a hall of
    displays and a centre of phones hold by the thousand (docs/benchmarks.md). Its waiting
    primitives are the two above, and the handshake's parsed request and answer are let go once
    the connection's scope (which keeps its headers) is made and the answer sent. It offers the
    app `send_now` (in the scope's extensions, as SEND_NOW)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = _Inbox()  # type: ignore[assignment]
        self.writable = _Flag()  # type: ignore[assignment]

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        self.request = None  # type: ignore[assignment]
        self.scope["extensions"][SEND_NOW] = self.send_now  # type: ignore[assignment]

    def send_now(self, text: str) -> bool:
        """A text frame written now, as `send` writes it, from code that must not wait (the
        events' reader, for each of its sockets): False, and nothing sent, when `send` would
        wait (the peer is slow to read) or refuse (no handshake yet, a close sent or received)."""
        if (not self.handshake_complete or self.initial_response is not None or self.close_sent
                or self.disconnected or not self.writable.is_set()
                or self.transport.is_closing()):
            return False
        try:
            self.conn.send_text(text.encode())
        except InvalidState:
            return False
        self.transport.write(b"".join(self.conn.data_to_send()))
        return True

    async def send(self, message: Any) -> None:
        await super().send(message)
        if self.handshake_complete:
            # Sent: the handshake's answer is not needed again.
            self.response = None  # type: ignore[assignment]


def serve(config: Config, host: str, port: int, workers: int = 1) -> int:
    embedded = runtime.uses_embedded()
    url = runtime.redis_url(config, long_running=True)
    secret = runtime.secret(config)
    if embedded:
        from queueserver.platform import embedded as embedded_mod

        embedded_mod.keep_alive(runtime.data_dir(config))
    # Access logs would carry query strings (display tokens); the app logs what it needs.
    options = {"host": host, "port": port, "access_log": False, "ws_ping_interval": 20.0,
               "ws_ping_timeout": 20.0, "proxy_headers": True, "log_config": logs.config(),
               "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_S, "http": BoundedHead,
               "ws": LeanWebSocket}
    if workers <= 1:
        from queueserver.web.app import create_app

        uvicorn.run(create_app(config, url, secret), **options)  # type: ignore[arg-type]
        return 0
    # Workers are separate processes: they take what the parent decided from the environment.
    os.environ["REDIS_URL"] = url
    os.environ["QUEUESERVER_SECRET"] = secret.decode()
    if config.path:
        os.environ["QUEUESERVER_CONFIG"] = str(config.path)
    own_metrics = _metrics_folder()
    config_ = uvicorn.Config("queueserver.web.app:from_environment_app", factory=True,
                             workers=workers, **options)  # type: ignore[arg-type]
    try:
        _Supervisor(config_, sockets=[config_.bind_socket()]).run()
    finally:
        if own_metrics:
            shutil.rmtree(own_metrics, ignore_errors=True)
    return 0


def _metrics_folder() -> str | None:
    """Workers write their metrics to files in PROMETHEUS_MULTIPROC_DIR and /metrics adds them
    up (prometheus-client's multiprocess mode). A folder given is emptied of an earlier run's
    files; else one is made for this run (returned, to be removed at the end)."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        for old in Path(given).glob("*.db"):
            old.unlink()
        return None
    made = tempfile.mkdtemp(prefix="queueserver-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = made
    return made


class _Supervisor(Multiprocess):
    """uvicorn's supervisor of `--workers`, which would keep the listening socket open until
    every worker has finished: a balancer would still hand it new connections that nobody
    accepts. Closing it first makes SIGTERM refuse new connections at once, like one process."""

    def terminate_all(self) -> None:
        for sock in self.sockets:
            sock.close()
        super().terminate_all()
