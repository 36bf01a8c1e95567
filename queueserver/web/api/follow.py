"""The waiting person's routes (CONTRACT §9): the follow page `/t/{token}`, its state, its live
socket and its feedback, each with the follow token in the path as the only credential; and
the supervisor's view of the day's feedback, and the desk's QR code of a ticket's follow URL.

The token never reaches a log line: the request log names routes by template, and the log
filter masks these paths where uvicorn writes them (platform/logs.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import logging
from typing import Annotated, Any

import msgspec
from msgspec import Meta
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketState

from queueserver.auth.credentials import Action
from queueserver.follow import fanout, models
from queueserver.follow.fanout import Phone, Phones
from queueserver.follow.service import COMMENT_MAX, Follow, centre_view
from queueserver.live.events import SEND_NOW
from queueserver.platform.errors import ApiError
from queueserver.queue.models import Ticket
from queueserver.queue.tickets import CHIME_URL
from queueserver.web.api.base import (
    Body,
    Read,
    authorize,
    error_response,
    origin,
    parse_body,
    reply,
)
from queueserver.web.api.events import (
    POLICY_VIOLATION,
    TRY_AGAIN_LATER,
    _close,
    _same_origin,
    run_socket,
)
from queueserver.web.api.pages import problem, render

log = logging.getLogger("queueserver.follow")


class FeedbackBody(Body, frozen=True):
    rating: Annotated[int, Meta(ge=1, le=5)]
    comment: Annotated[str, Meta(max_length=COMMENT_MAX)] | None = None
# A phone waits this long for the centre's model (one snapshot) before it is asked to come back.
FIRST_MESSAGE_S = 10.0
# Large enough for a phone camera at arm's length on an 80 mm slip (the URL is ~60 characters).
QR_SCALE = 5


def _address(conn: HTTPConnection) -> str:
    return conn.client.host if conn.client else "unknown"


def base_url(conn: HTTPConnection) -> str:
    """The request's own scheme and host: the follow URL's start without `public_url`."""
    return origin(conn.scope).replace("ws://", "http://").replace("wss://", "https://")


def follow_of(conn: HTTPConnection) -> Follow:
    follow: Follow = conn.state.follow
    return follow


# --- the phone page and its API -------------------------------------------------------------

async def page(request: Request) -> Response:
    try:
        found = await follow_of(request).open(request.path_params["follow_token"],
                                              _address(request))
        state = await follow_of(request).state(found)
    except ApiError as e:
        if e.code not in ("not_found", "rate_limited"):
            raise
        answer = problem(request, e.status, "follow_not_found" if e.code == "not_found"
                         else e.code, device=True)
        retry_after = getattr(e, "retry_after", None)
        if retry_after:
            answer.headers["Retry-After"] = str(retry_after)
        return answer
    centre = request.state.centres.centre(found.centre)
    data = {"state": msgspec.to_builtins(state), "chime": CHIME_URL,
            "services": {s.code: [s.name_zh, s.name_en] for s in centre.services}}
    return render(request, "follow.html", page=data, centre=centre_view(centre),
                  ticket=state.ticket)


async def state(request: Request) -> models.Follow:
    follow = follow_of(request)
    found = await follow.open(request.path_params["follow_token"], _address(request))
    return await follow.state(found)


async def feedback(request: Request) -> Response:
    follow = follow_of(request)
    address = _address(request)
    await follow.limit(address)
    body = parse_body(await request.body(), FeedbackBody)
    found = await follow.open(request.path_params["follow_token"], address, limited=True)
    given = await follow.give_feedback(found, body.rating, body.comment or None)
    return reply(models.FeedbackAnswer, models.FeedbackAnswer(given), status=201)


# --- the live socket ----------------------------------------------------------------------------

async def _deny(ws: WebSocket, error: ApiError) -> None:
    """The handshake answered as HTTP (404, 429) where the server can, else closed."""
    if "websocket.http.response" in ws.scope.get("extensions", {}):
        await ws.send_denial_response(error_response(error))
    else:
        await ws.close(POLICY_VIOLATION, reason=error.code)


async def socket(ws: WebSocket) -> None:
    follow = follow_of(ws)
    try:
        found = await follow.open(ws.path_params["follow_token"], _address(ws))
        centre = ws.state.centres.centre(found.centre)
    except ApiError as e:
        await _deny(ws, e)
        return
    if not _same_origin(ws):
        await _deny(ws, ApiError("forbidden"))
        return
    await ws.accept()
    phones: Phones = ws.state.phones
    model = phones.model(centre)
    phone = Phone(found.number)
    try:
        phone = await asyncio.wait_for(model.follow(found.number), FIRST_MESSAGE_S)
        if phone.text is None and not model.known(found.number):
            # Checked in a moment ago: the model has not read its event yet. The first message
            # comes from Redis; the model's own follow as soon as it knows the ticket.
            first = msgspec.to_builtins(await follow.state(found))
            phone.said = ((tuple(first["ticket"].values())),
                          fanout.shared_part(centre, first["notices"], first["issuing"]))
            await ws.send_json({"type": "follow", "data": first})
        await _serve(ws, phone)
    except TimeoutError:
        await _close(ws, TRY_AGAIN_LATER)
    finally:
        model.unfollow(phone)


async def _serve(ws: WebSocket, phone: Phone) -> None:
    async def send() -> None:
        while True:
            text, since_ms = phone.take()
            if text is None:
                await phone.wait()
                if phone.ended is not None:
                    return
                continue
            phone.sending = True
            try:
                await ws.send_text(text)
            finally:
                phone.sending = False
            fanout.observe_sent(since_ms)

    phone.now = ws.scope.get("extensions", {}).get(SEND_NOW)
    await run_socket(ws, phone, send())
    if ws.client_state == WebSocketState.CONNECTED:
        # The day ended (the token answers 404 from now), or the socket failed.
        await _close(ws, POLICY_VIOLATION)


# --- staff: the day's feedback, the desk's QR code -----------------------------------------------

async def centre_feedback(request: Request) -> models.DayFeedback:
    centre_id = request.path_params["centre"]
    raw = request.query_params.get("date")
    await authorize(request, Action.MANAGE, centre_id)
    centre = request.state.centres.centre(centre_id)
    try:
        date = (dt.date.fromisoformat(raw).isoformat() if raw
                else str(request.state.centres.clock.today()))
    except ValueError:
        raise ApiError("bad_request", message_en="date must be YYYY-MM-DD.") from None
    return models.DayFeedback(await follow_of(request).feedback(centre.id, date))


async def follow_qr(request: Request) -> Response:
    """The QR code of a ticket's follow URL (SVG), for the desk's screen and slip: the desk asks
    by ticket number with its own credential, so the token never appears in a URL of its own."""
    import segno

    centre_id = request.path_params["centre"]
    await authorize(request, Action.CHECK_IN, centre_id)
    centre = request.state.centres.centre(centre_id)
    url = await follow_of(request).url(base_url(request), centre.id,
                                       request.path_params["number"])
    if url is None:
        raise ApiError("not_found", message_en="This ticket has no follow page.")
    out = io.BytesIO()
    segno.make(url, error="m", micro=False).save(out, kind="svg", scale=QR_SCALE, border=4,
                                                  xmldecl=False)
    return Response(out.getvalue(), media_type="image/svg+xml")


async def desk_ticket(request: Request, ticket: Ticket | dict[str, Any]) -> models.DeskTicket:
    """A TICKET answered to the desk, with its `follow_url` (CONTRACT §9): a script's answer,
    a repeated one, or a refusal's."""
    data = ticket if isinstance(ticket, dict) else msgspec.to_builtins(ticket)
    url = await follow_of(request).url(base_url(request), request.path_params["centre"],
                                       str(data["number"]))
    return msgspec.convert({**data, "follow_url": url}, models.DeskTicket)


FOLLOW_SOCKET = "/ws/follow/{follow_token}"

routes: list[BaseRoute] = [
    Route("/t/{follow_token}", page, methods=["GET"]),
    Read("/api/v1/follow/{follow_token}", state, models.Follow).route(),
    Read("/api/v1/follow/{follow_token}/feedback", feedback, models.FeedbackAnswer,
         statuses=(201,), body=FeedbackBody).route(),
    WebSocketRoute(FOLLOW_SOCKET, socket),
    Read("/api/v1/centres/{centre}/feedback", centre_feedback, models.DayFeedback).route(),
    Route("/api/v1/centres/{centre}/tickets/{number}/follow-qr.svg", follow_qr,
          methods=["GET"]),
]
