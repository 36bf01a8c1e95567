"""One connection per process that carries every request's script call to one Redis, pipelined.

redis-py's asyncio client takes a connection from its pool for each command, and spends about
100 µs of the process's CPU doing it (the pool, its timeouts, retries and events: 23% of a
check-in's CPU in py-spy, docs/benchmarks.md). Here the calls of all requests in flight share
one socket: each is packed by hiredis and written with the others of the same turn of the event
loop, and Redis's answers, which come back in the order asked, settle each caller's future in
turn (5 µs a call at 64 in flight, measured beside redis-py's 130).

Only for one Redis reached by `redis://` or `unix://` (no TLS, no Sentinel, no cluster): the
others keep redis-py's client. A lost connection fails the calls waiting on it with
`redis.ConnectionError` (a 503, as with redis-py), and so does a host that went silent, within
seconds (TCP keepalive and a bound on unacknowledged data, where redis-py PINGs a connection
idle for 10 s); the next call connects again. Nothing is retried: a script whose answer was
lost may have run, and only the caller's Idempotency-Key may say so.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import socket
from typing import Any

import hiredis
import redis
import redis.asyncio


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.reader = hiredis.Reader()
        self.waiting: collections.deque[asyncio.Future[Any]] = collections.deque()
        self.out: list[bytes] = []
        self.transport: Any = None  # uvloop's transports are not asyncio.Transport
        self.lost = False
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            future = self.waiting.popleft()
            if future.done():  # its caller went away (cancelled): the answer is dropped
                continue
            if isinstance(reply, hiredis.ReplyError):
                future.set_exception(redis.ResponseError(str(reply)))
            else:
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if not self.closed.done():
            self.closed.set_result(None)
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(redis.ConnectionError("lost the connection to Redis"))

    def flush(self) -> None:
        if self.out and self.transport is not None and not self.lost:
            self.transport.write(b"".join(self.out))
        self.out.clear()

    def send(self, args: tuple[Any, ...]) -> asyncio.Future[Any]:
        future = asyncio.get_running_loop().create_future()
        if not self.out:  # the first of this turn: written when the turn's others are in
            asyncio.get_running_loop().call_soon(self.flush)
        self.out.append(hiredis.pack_command(args))
        self.waiting.append(future)
        return future


# A Redis host gone without a word (a power cut, a network cut) is noticed in seconds, not after
# the kernel's quarter of an hour of retransmissions: an idle connection is probed after 10 s,
# and one whose sent commands go unacknowledged for 10 s is given up (then, a 503).
KEEPALIVE_IDLE_S = 10
KEEPALIVE_INTERVAL_S = 5
KEEPALIVE_PROBES = 3
UNACKNOWLEDGED_MS = 10_000


def _notice_a_dead_peer(sock: Any) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for option, value in (("TCP_KEEPIDLE", KEEPALIVE_IDLE_S),
                          ("TCP_KEEPINTVL", KEEPALIVE_INTERVAL_S),
                          ("TCP_KEEPCNT", KEEPALIVE_PROBES),
                          ("TCP_USER_TIMEOUT", UNACKNOWLEDGED_MS)):
        if hasattr(socket, option):  # Linux has them all
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)


class Multiplexed:
    """Commands to one Redis over one shared connection; see the module's text."""

    def __init__(self, kwargs: dict[str, Any]) -> None:
        self._kwargs = kwargs
        self._protocol: _Protocol | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connecting: asyncio.Lock | None = None

    @classmethod
    def of(cls, r: Any) -> Multiplexed | None:
        """For redis-py's asyncio client `r` of one Redis over TCP or a unix socket; else None
        (a cluster, a Sentinel's pool, TLS: those keep redis-py)."""
        pool = getattr(r, "connection_pool", None)
        if type(r) is not redis.asyncio.Redis or pool is None:
            return None
        plain = (redis.asyncio.Connection, redis.asyncio.UnixDomainSocketConnection)
        if pool.connection_class not in plain or type(pool).__module__ != \
                redis.asyncio.connection.__name__:
            return None
        return cls(dict(pool.connection_kwargs))

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        k = self._kwargs
        try:
            if k.get("path"):
                _, protocol = await loop.create_unix_connection(_Protocol, k["path"])
            else:
                transport, protocol = await loop.create_connection(
                    _Protocol, k.get("host", "localhost"), int(k.get("port", 6379)))
                _notice_a_dead_peer(transport.get_extra_info("socket"))
        except OSError as e:
            raise redis.ConnectionError(f"cannot reach Redis: {e.strerror or e}") from None
        hello: list[tuple[Any, ...]] = []
        if k.get("password"):
            hello.append(("AUTH", *([k["username"]] if k.get("username") else []),
                          k["password"]))
        if int(k.get("db") or 0):
            hello.append(("SELECT", int(k["db"])))
        for answer in await asyncio.gather(*(protocol.send(c) for c in hello),
                                           return_exceptions=True):
            if isinstance(answer, BaseException):  # a wrong password: Redis unusable, a 503
                protocol.transport.close()
                raise redis.ConnectionError(f"Redis refused the connection: {answer}")
        return protocol

    async def _ready(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a connection of another event loop serves none here
            self.close()
            self._loop, self._connecting = loop, asyncio.Lock()
        assert self._connecting is not None
        async with self._connecting:
            if self._protocol is None or self._protocol.lost:
                self._protocol = await self._connect()
            return self._protocol

    async def execute(self, *args: Any) -> Any:
        """One command's answer (bytes for a string); a refusal as `redis.ResponseError`."""
        protocol = self._protocol
        if protocol is None or protocol.lost or self._loop is not asyncio.get_running_loop():
            protocol = await self._ready()
        return await protocol.send(args)

    async def aclose(self) -> None:
        """Closes the connection and waits until it is closed."""
        protocol = self._protocol
        self.close()
        if protocol is not None and self._loop is asyncio.get_running_loop():
            await asyncio.wait_for(asyncio.shield(protocol.closed), 5)

    def close(self) -> None:
        transport = self._protocol.transport if self._protocol is not None else None
        self._protocol = None
        if transport is None:
            return
        # Its event loop may have ended (a test's): the socket then goes with the transport.
        with contextlib.suppress(RuntimeError):
            transport.close()
