"""The benchmark's clients, kept thin on purpose: the machine is shared with the servers, so
every microsecond a client spends is one the servers do not get, and it shows in the figures.

`Http` is one HTTP/1.1 keep-alive connection. `Display` is a hall display's WebSocket as an
asyncio Protocol: frames are parsed in `data_received`, without a task per message, and each
event's receipt time is taken there with its id (the first field of every event message).
`Phone` is a follow page's socket the same way: every whole-state message, with its time.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
import time
from collections.abc import Callable
from typing import Any

EVENT_PREFIX = b'{"id":'
# Under uvicorn's keep-alive timeout (5 s): an idle connection older than this is replaced.
IDLE_REOPEN_S = 3.0


class Http:
    """One keep-alive connection; requests on it go one after another."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        self.head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.used = 0.0

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        return await self.request("POST", path, body)

    async def get(self, path: str) -> tuple[int, bytes]:
        return await self.request("GET", path, None)

    async def request(self, method: str, path: str, body: bytes | None) -> tuple[int, bytes]:
        # A POST is never sent twice: a connection the server may have closed for idleness
        # (uvicorn: after 5 s) is replaced before sending, not retried after.
        if self.reader is not None and (self.reader.at_eof()
                                        or time.monotonic() - self.used > IDLE_REOPEN_S):
            await self.close()
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.used = time.monotonic()
        sent = (f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                if body is not None else "")
        self.writer.write(
            (f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{self.head}"
             f"{sent}\r\n").encode() + (body or b""))
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None


class Tally:
    """Counts messages received across many displays; `reached` fires at the target."""

    def __init__(self) -> None:
        self.count = 0
        self.target = -1
        self.reached = asyncio.Event()

    def expect(self, more: int) -> None:
        self.target = self.count + more
        self.reached.clear()
        if self.count >= self.target:
            self.reached.set()

    def hit(self) -> None:
        self.count += 1
        if self.count == self.target:
            self.reached.set()


class Display(asyncio.Protocol):
    """A display's socket: records (receipt time, event id) for every event message."""

    def __init__(self, host: str, port: int, path: str, tally: Tally) -> None:
        self.request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                        f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}"
                        "\r\n\r\n").encode()
        self.tally = tally
        self.buffer = bytearray()
        self.upgraded = False
        self.ready = asyncio.get_running_loop().create_future()
        self.received: list[tuple[float, bytes]] = []
        self.transport: asyncio.Transport | None = None
        self.clock: Callable[[], float] = time.time

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("the display's socket closed"))

    def data_received(self, data: bytes) -> None:
        now = self.clock()
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.buffer.startswith(b"HTTP/1.1 101"):
                self.ready.set_exception(ConnectionError(bytes(self.buffer[:200]).decode()))
                return
            del self.buffer[:end + 4]
            self.upgraded = True
        self._frames(now)

    def _frames(self, now: float) -> None:
        buf = self.buffer
        while len(buf) >= 2:
            opcode, length, start = buf[0] & 0x0F, buf[1] & 0x7F, 2
            if length == 126:
                if len(buf) < 4:
                    return
                length, start = struct.unpack_from("!H", buf, 2)[0], 4
            elif length == 127:
                if len(buf) < 10:
                    return
                length, start = struct.unpack_from("!Q", buf, 2)[0], 10
            if len(buf) < start + length:
                return
            payload = bytes(buf[start:start + length])
            del buf[:start + length]
            self._message(opcode, payload, now)

    def _message(self, opcode: int, payload: bytes, now: float) -> None:
        if opcode == 0x1:
            if payload.startswith(EVENT_PREFIX):
                # `{"id": "…"` or `{"id":"…"`, as the sender's encoder spaces it.
                start = payload.index(b'"', len(EVENT_PREFIX)) + 1
                end = payload.index(b'"', start)
                self.received.append((now, payload[start:end]))
                self.tally.hit()
            elif not self.ready.done():
                self.ready.set_result(None)  # the board (or the floor's hello)
        elif opcode == 0x9:
            self._send(0xA, payload)  # pong, or the server closes the socket as dead
        elif opcode == 0x8 and self.transport is not None:
            self.transport.close()

    def _send(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        assert self.transport is not None and len(payload) < 126
        self.transport.write(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self._send(0x8, struct.pack("!H", 1000))
            self.transport.close()


async def open_display(host: str, port: int, path: str, tally: Tally) -> Display:
    loop = asyncio.get_running_loop()
    _, display = await loop.create_connection(lambda: Display(host, port, path, tally),
                                              host, port)
    await asyncio.wait_for(display.ready, 30)
    return display


class Phone(Display):
    """A follow page's socket (CONTRACT §9): (receipt time, message) for every message, each
    counted on `tally`; ready with the first, the whole state. Messages are kept as received
    and parsed only when read, so that a thousand phones cost the client little while the
    displays beside them are being timed."""

    def __init__(self, host: str, port: int, path: str, tally: Tally) -> None:
        super().__init__(host, port, path, tally)
        self.raw: list[tuple[float, bytes]] = []
        self._parsed: list[tuple[float, dict[str, Any]]] = []
        self.closed_with: int | None = None

    def _message(self, opcode: int, payload: bytes, now: float) -> None:
        if opcode == 0x1:
            self.raw.append((now, payload))
            self.tally.hit()
            if not self.ready.done():
                self.ready.set_result(None)
        elif opcode == 0x8:
            self.closed_with = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 0
            super()._message(opcode, payload, now)
        else:
            super()._message(opcode, payload, now)

    @property
    def messages(self) -> list[tuple[float, dict[str, Any]]]:
        """Every message so far, parsed (each once)."""
        for at, payload in self.raw[len(self._parsed):]:
            self._parsed.append((at, json.loads(payload)))
        return self._parsed

    def ticket(self) -> dict[str, Any]:
        """The ticket as the newest message says."""
        last: dict[str, Any] = self.messages[-1][1]["data"]["ticket"]
        return last


async def open_phone(host: str, port: int, path: str, tally: Tally) -> Phone:
    loop = asyncio.get_running_loop()
    _, phone = await loop.create_connection(lambda: Phone(host, port, path, tally), host, port)
    await asyncio.wait_for(phone.ready, 60)
    return phone
