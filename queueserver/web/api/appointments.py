"""The booking platform's routes (CONTRACT §11): the applicant's page and API under
`/book/{token}` and `/api/v1/book/{token}`, and the supervisor's view and blocks of a centre's
slots. The booking token in the path is the only credential of the /book routes, and good for
nothing else; the log names a route by its template, never by its path, so it never holds one.

A /book request first meets the address's count of bad tokens (429 past 10 in 15 minutes,
before anything else), then its body's shape, then its token (404 alike for an unknown,
withdrawn or malformed one, each counted), then the token's own allowance (429), then the
business rules. An `Idempotency-Key` on a /book POST is scoped to the token: a repeat with
another body is 422 `idempotency_mismatch`, one while the first runs 409 `in_progress`; every
/book POST is idempotent by itself (booking the slot held, joining a list one is on, change
nothing), so a repeat runs again and answers what holds then, and nothing personal is kept.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from queueserver.appointments import calendar
from queueserver.appointments.service import Appointments, Holder
from queueserver.auth.credentials import Action
from queueserver.platform.errors import ApiError
from queueserver.store import keys
from queueserver.web.api.base import (
    IDEMPOTENCY_TTL_S,
    Call,
    Field,
    Post,
    authorize,
    fingerprint,
    parse_body,
)
from queueserver.web.api.pages import problem, render

B = "/api/v1/book/{token}"
C = "/api/v1/centres/{centre}"
SLOT_FIELDS = {"centre": Field(str), "date": Field(str), "start": Field(str)}
WAITLIST_FIELDS = {"centre": Field(str), "date": Field(str)}
BLOCK_FIELDS = {"date": Field(str), "start": Field(str), "end": Field(str),
                "reason_en": Field(str), "reason_zh": Field(str),
                "cancel": Field(bool, required=False)}


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _service(request: Request) -> Appointments:
    service: Appointments = request.state.appointments
    return service


async def _holder(request: Request) -> Holder:
    return await _service(request).admit(request.path_params["token"], _address(request))


async def _idempotent(request: Request, holder: Holder, raw: bytes) -> None:
    """Claims the request's Idempotency-Key, if it has one, for this token."""
    key = request.headers.get("idempotency-key")
    if not key:
        return
    r = request.state.redis
    digest = hashlib.sha256(
        f"book:{holder.digest}\n{request.method}\n{request.url.path}\n{key}".encode()).hexdigest()
    fp = fingerprint(_service(request).secret, raw)
    record = json.dumps({"state": "done", "fp": fp})
    if await r.set(keys.idempotency_global(digest), record, nx=True, ex=IDEMPOTENCY_TTL_S):
        return
    stored = json.loads(await r.get(keys.idempotency_global(digest)) or "null")
    if stored is not None and stored.get("fp") != fp:
        raise ApiError("idempotency_mismatch")


async def application(request: Request) -> JSONResponse:
    holder = await _holder(request)
    return JSONResponse(await _service(request).view(holder))


async def slots(request: Request) -> JSONResponse:
    holder = await _holder(request)
    q = request.query_params
    return JSONResponse(await _service(request).slots(holder, q.get("centre"), q.get("from"),
                                                      q.get("to")))


async def _post(request: Request, fields: dict[str, Field]) -> tuple[Holder, dict[str, Any]]:
    """The contract's order: the address's failures (before anything else), the body's
    shape, the token, its allowance; the first three from one round trip."""
    service = _service(request)
    raw = await request.body()
    gate = await service.look(request.path_params["token"], _address(request))
    service.limited(gate)
    body = parse_body(raw, fields)
    holder = await service.admitted(gate)
    await _idempotent(request, holder, raw)
    return holder, body


async def book(request: Request) -> JSONResponse:
    holder, body = await _post(request, SLOT_FIELDS)
    result = await _service(request).book(holder, body)
    return JSONResponse({"appointment": result["appointment"],
                         "changes_left": result["changes_left"]}, status_code=201)


async def cancel(request: Request) -> Response:
    holder = await _holder(request)
    await _service(request).cancel(holder)
    return Response(status_code=204)


async def waitlist(request: Request) -> JSONResponse:
    holder, body = await _post(request, WAITLIST_FIELDS)
    return JSONResponse(await _service(request).join_waitlist(holder, body), status_code=201)


async def page(request: Request) -> Response:
    """The applicant's booking page: phone first, both languages, no login."""
    service = _service(request)
    try:
        holder = await _holder(request)
    except ApiError as e:
        answer = problem(request, e.status, e.code)
        retry_after = getattr(e, "retry_after", None)
        if retry_after:
            answer.headers["Retry-After"] = str(retry_after)
        return answer
    view = await service.view(holder)
    now = service.clock.now()
    rebook = holder.privileged(now)
    data = {
        "view": view, "today": now.date().isoformat(),
        "centres": [{"id": c.id, "name_en": c.name_en, "name_zh": c.name_zh,
                     "address_en": c.address_en, "address_zh": c.address_zh,
                     # The days that take bookings at all: a day among them that the listing
                     # shows no free place on is full, and its waiting list may be joined.
                     "days": [d.date.isoformat() for d in calendar.days(
                         c, now, now.date(), calendar.last_day(c, now.date()), rebook)]}
                    for c in service.config.centres],
    }
    return render(request, "book.html", page=data)


async def day(request: Request) -> JSONResponse:
    centre = request.path_params["centre"]
    await authorize(request, Action.APPOINTMENTS, centre)
    return JSONResponse(await _service(request).day(centre, request.query_params.get("date")))


async def block(call: Call) -> Any:
    c = call.centres
    service = Appointments(c.config, c.r, c.clock, c.secret)
    return await service.block(call.centre, call.body, call.credential.id)


BLOCKS = Post(C + "/appointments/blocks", Action.APPOINTMENTS, block, BLOCK_FIELDS, status=201,
              wrap=None)

routes: list[BaseRoute] = [
    Route("/book/{token}", page, methods=["GET"]),
    Route(B, application, methods=["GET"]),
    Route(B + "/slots", slots, methods=["GET"]),
    Route(B + "/appointment", book, methods=["POST"]),
    Route(B + "/appointment", cancel, methods=["DELETE"]),
    Route(B + "/waitlist", waitlist, methods=["POST"]),
    Route(C + "/appointments", day, methods=["GET"]),
    BLOCKS.route(),
]
