"""An HTTP answer leaves in one write (web/server.py, OneWrite): uvicorn's protocol, driven here
with a transport that records each write, as uvicorn's own tests drive it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from queueserver.live.events import SEND_NOW
from queueserver.web.server import BoundedHead, LeanWebSocket, OneWrite


class Recording:
    """A transport that keeps what is written to it, write by write."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.protocol: Any = None

    def write(self, data: bytes) -> None:
        assert not self.closed, "written after close"
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(
            name, default)

    def set_protocol(self, protocol: Any) -> None:
        self.protocol = protocol

    def get_protocol(self) -> Any:
        return self.protocol

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def answer(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": "hello"})
        return
    await receive()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", b"12")]})
    await send({"type": "http.response.body", "body": b'{"ok": true}'})


def protocol(transport: Recording, app: Any = answer) -> BoundedHead:
    config = Config(app=app, ws=LeanWebSocket, lifespan="off", access_log=False)
    config.load()
    p = BoundedHead(config=config, server_state=ServerState(), app_state={})
    p.connection_made(transport)  # type: ignore[arg-type]
    transport.protocol = p
    return p


async def settled(transport: Recording, count: int) -> None:
    """Until `count` writes arrived (the app runs as a task; the writes leave a turn later)."""
    for _ in range(200):
        if len(transport.writes) >= count:
            return
        await asyncio.sleep(0)
    pytest.fail(f"{len(transport.writes)} writes, {count} expected")


def test_an_answers_head_and_body_leave_in_one_write() -> None:
    asyncio.run(_an_answers_head_and_body_leave_in_one_write())


async def _an_answers_head_and_body_leave_in_one_write() -> None:
    transport = Recording()
    p = protocol(transport)
    assert isinstance(p.transport, OneWrite)
    for _ in range(2):  # and again on the same kept-alive connection
        p.data_received(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
        await settled(transport, 1)
        (written,) = transport.writes
        head, body = written.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200 OK")
        assert b"content-length: 12" in head
        assert body == b'{"ok": true}'
        transport.writes.clear()


def test_what_is_held_is_sent_before_the_connection_closes() -> None:
    asyncio.run(_what_is_held_is_sent_before_the_connection_closes())


async def _what_is_held_is_sent_before_the_connection_closes() -> None:
    transport = Recording()
    p = protocol(transport)
    assert isinstance(p.transport, OneWrite)
    p.transport.write(b"one ")
    p.transport.write(b"two")
    assert transport.writes == []
    p.transport.close()
    assert transport.writes == [b"one two"]
    assert transport.closed
    await asyncio.sleep(0)  # the turn's flush finds nothing more, and writes nothing
    assert transport.writes == [b"one two"]


def test_a_websocket_gets_the_real_transport() -> None:
    asyncio.run(_a_websocket_gets_the_real_transport())


async def _a_websocket_gets_the_real_transport() -> None:
    transport = Recording()
    p = protocol(transport)
    p.data_received(b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    b"Sec-WebSocket-Version: 13\r\n\r\n")
    ws = transport.protocol
    assert isinstance(ws, LeanWebSocket)
    assert ws.transport is transport
    await settled(transport, 2)  # the handshake's answer, then the frame, each as it comes
    assert transport.writes[0].startswith(b"HTTP/1.1 101")
    assert transport.writes[1].endswith(b"hello")


# --- send_now: the events' reader's write that never waits ---------------------------------------


def test_send_now_writes_a_frame_only_when_a_send_would_not_wait() -> None:
    async def open_socket(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": "hello"})
        await receive()  # until the peer goes

    async def scenario() -> None:
        transport = Recording()
        http = protocol(transport, open_socket)
        http.data_received(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                           b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                           b"Sec-WebSocket-Version: 13\r\n\r\n")
        ws = transport.protocol
        assert isinstance(ws, LeanWebSocket)
        assert ws.scope["extensions"][SEND_NOW] == ws.send_now
        assert ws.send_now("early") is False  # no handshake yet
        await settled(transport, 2)  # the answer app's accept, then its "hello"
        written = len(transport.writes)
        assert ws.send_now("now") is True
        assert transport.writes[written:] == [b"\x81\x03now"]
        ws.pause_writing()  # the transport's buffer is full: the peer is slow to read
        assert ws.send_now("later") is False
        ws.resume_writing()
        assert ws.send_now("again") is True
        assert transport.writes[-1] == b"\x81\x05again"
        ws.connection_lost(None)
        assert ws.send_now("gone") is False
        assert transport.writes[-1] == b"\x81\x05again"

    asyncio.run(scenario())
