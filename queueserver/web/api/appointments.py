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

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from queueserver.appointments import calendar, models
from queueserver.appointments.service import Appointments, Holder
from queueserver.auth.credentials import Action
from queueserver.platform.errors import ApiError
from queueserver.store import idempotency
from queueserver.web.api.base import (
    B,
    Body,
    Call,
    Given,
    Post,
    Read,
    authorize,
    parse_body,
    reply,
)
from queueserver.web.api.pages import problem, render

BOOK = "/api/v1/book/{token}"
C = "/api/v1/centres/{centre}"


# --- request bodies (CONTRACT §11) ------------------------------------------------------------

class SlotWanted(Body, frozen=True):
    """The slot to book (or to move the appointment held to)."""

    centre: Given
    date: Given
    start: Given


class DayWanted(Body, frozen=True):
    """The full day whose waiting list to join."""

    centre: Given
    date: Given


class BlockWanted(Body, frozen=True):
    """Slots starting from `start` to before `end` take no new bookings; with `cancel`, their
    appointments are cancelled and each applicant emailed to rebook."""

    date: Given
    start: Given
    end: Given
    reason_en: Given
    reason_zh: Given
    cancel: bool = False


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _service(request: Request) -> Appointments:
    service: Appointments = request.state.appointments
    return service


async def _holder(request: Request) -> Holder:
    return await _service(request).admit(request.path_params["token"], _address(request))


async def _idempotent(request: Request, holder: Holder, raw: bytes) -> None:
    """Claims the request's Idempotency-Key, if it has one, for this token (its scope)."""
    key = request.headers.get("idempotency-key")
    if not key:
        return
    r = request.state.redis
    record = idempotency.record_key(None, "book:" + holder.digest, request.method,
                                    request.url.path, key)
    fp = idempotency.fingerprint(_service(request).secret, raw)
    done = json.dumps({"state": "done", "fp": fp})
    if await r.set(record, done, nx=True, ex=idempotency.KEPT_S):
        return
    stored = json.loads(await r.get(record) or "null")
    if stored is not None and stored.get("fp") != fp:
        raise ApiError("idempotency_mismatch")


async def application(request: Request) -> Any:
    holder = await _holder(request)
    return await _service(request).view(holder)


async def slots(request: Request) -> Any:
    service = _service(request)
    q = request.query_params
    found = await service.slots_at_once(request.path_params["token"], _address(request),
                                        q.get("centre"), q.get("from"), q.get("to"))
    if found is None:
        holder = await _holder(request)
        found = await service.slots(holder, q.get("centre"), q.get("from"), q.get("to"))
    return found


async def _post(request: Request, model: type[B]) -> tuple[Holder, B]:
    """The contract's order: the address's failures (before anything else), the body's
    shape, the token, its allowance; the first three from one round trip."""
    service = _service(request)
    raw = await request.body()
    gate = await service.look(request.path_params["token"], _address(request))
    service.limited(gate)
    body = parse_body(raw, model)
    holder = await service.admitted(gate)
    await _idempotent(request, holder, raw)
    return holder, body


async def book(request: Request) -> Response:
    """In one script when it can be (service.book_at_once): a well-formed body, no
    Idempotency-Key (its record needs the token's hash first); else step by step."""
    result = None
    if not request.headers.get("idempotency-key"):
        try:
            wanted = parse_body(await request.body(), SlotWanted)
        except ApiError:
            pass  # the address's failures come before the body's shape: step by step
        else:
            result = await _service(request).book_at_once(
                request.path_params["token"], _address(request),
                {"centre": wanted.centre, "date": wanted.date, "start": wanted.start})
    if result is None:
        holder, body = await _post(request, SlotWanted)
        result = await _service(request).book(holder, {"centre": body.centre, "date": body.date,
                                                       "start": body.start})
    return reply(models.Booked, {"appointment": result["appointment"],
                                 "changes_left": result["changes_left"]}, status=201)


async def cancel(request: Request) -> Response:
    holder = await _holder(request)
    await _service(request).cancel(holder)
    return Response(status_code=204)


async def waitlist(request: Request) -> Response:
    holder, body = await _post(request, DayWanted)
    joined = await _service(request).join_waitlist(holder, {"centre": body.centre,
                                                            "date": body.date})
    return reply(models.Waiting, joined, status=201)


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


async def day(request: Request) -> Any:
    centre = request.path_params["centre"]
    await authorize(request, Action.APPOINTMENTS, centre)
    return await _service(request).day(centre, request.query_params.get("date"))


async def block(call: Call[BlockWanted]) -> Any:
    c = call.centres
    service = Appointments(c.config, c.r, c.clock, c.secret)
    b = call.body
    return await service.block(call.centre, {
        "date": b.date, "start": b.start, "end": b.end, "reason_en": b.reason_en,
        "reason_zh": b.reason_zh, "cancel": b.cancel}, call.credential.id)


routes: list[BaseRoute] = [
    Route("/book/{token}", page, methods=["GET"]),
    Read(BOOK, application, models.View).route(),
    Read(BOOK + "/slots", slots, models.Slots).route(),
    Read(BOOK + "/appointment", book, models.Booked, statuses=(201,), body=SlotWanted).route(),
    Read(BOOK + "/appointment", cancel, models.View, statuses=(204,),
         method="DELETE").route(),
    Read(BOOK + "/waitlist", waitlist, models.Waiting, statuses=(201,),
         body=DayWanted).route(),
    Read(C + "/appointments", day, models.DaySlots).route(),
    Post(C + "/appointments/blocks", Action.APPOINTMENTS, block, BlockWanted, models.Blocked,
         status=201, wrap=None).route(),
]
