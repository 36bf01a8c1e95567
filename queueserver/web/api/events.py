"""`/ws/centres/{centre}/events`: the board, then every event, resumable with `after=`
(CONTRACT §6)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any
from urllib.parse import urlsplit

import msgspec
import redis
from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from queueserver.auth.credentials import DEVICE_ROLES, Action, Credential
from queueserver.live.events import (
    OVERFLOWED,
    SEND_NOW,
    Bell,
    Event,
    Forward,
    Hub,
    Subscriber,
    parse_id,
)
from queueserver.live.models import BoardMessage, Message, ResyncRequired, SocketError
from queueserver.platform.errors import ApiError
from queueserver.queue.models import Board
from queueserver.store import keys
from queueserver.web.api.base import authorize, credential_key

log = logging.getLogger("queueserver.live.events")

POLICY_VIOLATION = 1008
TRY_AGAIN_LATER = 1013
REPLAY_PAGE = 500


def _same_origin(ws: WebSocket) -> bool:
    """Devices send no Origin; a browser's must be this server's own."""
    origin = ws.headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc.lower() == ws.headers.get("host", "").lower()


async def _close(ws: WebSocket, code: int) -> None:
    # A peer that stopped reading may never answer the close: don't wait on it for long.
    with contextlib.suppress(Exception):
        await asyncio.wait_for(ws.close(code), 1.0)


async def _resync_needed(r: redis.asyncio.Redis, stream: str, after: tuple[int, int]) -> bool:
    try:
        info = await r.xinfo_stream(stream)
    except redis.ResponseError:  # no stream yet: only 0-0 is a place in it
        return after != (0, 0)
    last = parse_id(str(info.get("last-generated-id", "0-0"))) or (0, 0)
    if after > last:
        return True
    # Trimming (at day close) removes the oldest events: an id before the first one still held
    # may have missed some. Resync is always safe, so when in doubt, resync.
    length = int(info.get("length", 0))
    removed = int(info.get("entries-added", length)) > length
    first = info.get("first-entry")
    first_id = parse_id(str(first[0])) if first else None
    if removed and (first_id is None or after < first_id):
        return True
    deleted = parse_id(str(info.get("max-deleted-entry-id", "0-0"))) or (0, 0)
    return after < deleted


async def events(ws: WebSocket) -> None:
    centre_id = ws.path_params["centre"]
    try:
        cred = await authorize(ws, Action.BOARD, centre_id)
        ws.state.centres.centre(centre_id)
    except ApiError as e:
        await ws.close(POLICY_VIOLATION, reason=e.code)
        return
    if not _same_origin(ws):
        await ws.close(POLICY_VIOLATION, reason="forbidden")
        return
    await ws.accept()
    raw_after = ws.query_params.get("after")
    after = parse_id(raw_after) if raw_after is not None else None
    if raw_after is not None and after is None:
        await _send(ws, SocketError(code="bad_request",
                                    message_en="after= must be an event id like 1700000000000-0"))
        await _close(ws, POLICY_VIOLATION)
        return
    hub: Hub = ws.state.hub
    # A token's key, or a staff session's: either way, gone once revoked or signed out.
    sub = await hub.subscribe(centre_id, credential_key(ws) or "")
    try:
        await _serve(ws, cred, centre_id, after, sub)
    finally:
        hub.unsubscribe(centre_id, sub)


async def _send(ws: WebSocket, message: Message) -> None:
    await ws.send_text(msgspec.json.encode(message).decode())


async def _send_board(ws: WebSocket, centre_id: str) -> tuple[int, int]:
    board: Board = await ws.state.centres.board(centre_id, shared=True)
    await _send(ws, BoardMessage(board))
    return parse_id(board.last_event_id) or (0, 0)


async def _serve(ws: WebSocket, cred: Credential, centre_id: str, after: tuple[int, int] | None,
                 sub: Subscriber) -> None:
    r = ws.state.redis
    stream = keys.events(centre_id)
    device = cred.role in DEVICE_ROLES
    if after is None:
        floor = await _send_board(ws, centre_id)
    elif await _resync_needed(r, stream, after):
        await _send(ws, ResyncRequired())
        floor = await _send_board(ws, centre_id)
    else:
        floor = after
        while True:
            page = await r.xrange(stream, min=f"({floor[0]}-{floor[1]}", count=REPLAY_PAGE)
            for event_id, fields in page:
                await ws.send_text(Event.read(event_id, fields).text(device))
                floor = parse_id(event_id) or floor
            if len(page) < REPLAY_PAGE:
                break

    feed = Forward(sub, floor, lambda event: event.text(device), ws.send_text,
                   ws.scope.get("extensions", {}).get(SEND_NOW))
    await run_socket(ws, sub, feed.run())
    if sub.ended == OVERFLOWED:
        log.info("closing a %s socket of %s that fell behind", cred.role.value, centre_id)
    if ws.client_state == WebSocketState.CONNECTED:
        await _close(ws, TRY_AGAIN_LATER if sub.ended == OVERFLOWED else POLICY_VIOLATION)


async def _drain(ws: WebSocket) -> None:
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            received = await ws.receive()
            if received["type"] == "websocket.disconnect":
                return


async def run_socket(ws: WebSocket, bell: Bell, sending: Coroutine[Any, Any, None]) -> None:
    """A socket's two tasks: `sending` (the bell's sender, cancelled when the bell ends) and
    reading the peer until it hangs up; returns when either stops, the other cancelled."""
    bell.sender = asyncio.create_task(sending)
    tasks = [bell.sender, asyncio.create_task(_drain(ws))]
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    # A send stuck on a peer that stopped reading may not end at once: don't wait on it.
    await asyncio.wait(pending, timeout=1.0)
    for task in done:
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
            task.result()


routes: list[BaseRoute] = [WebSocketRoute("/ws/centres/{centre}/events", events)]
