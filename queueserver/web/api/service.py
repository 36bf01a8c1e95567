"""Counter service routes: acceptance, decline, payment and its void, receipt, takings, and the
receipt slip (CONTRACT §5, "Counters").

A ticket route acts at one counter: the credential's own (`--counter`), else the body's
optional `"counter"`, else any counter of the centre; a ticket served at another is 403.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import BaseRoute, Route

from queueserver.auth.credentials import Action
from queueserver.collection import kiosk as collection
from queueserver.platform.errors import ApiError
from queueserver.service import counter_service as service
from queueserver.web import slip
from queueserver.web.api.base import Call, Field, Post, authorize

C = "/api/v1/centres/{centre}"
T = C + "/tickets/{number}"
ACTING = {"counter": Field(int, required=False)}
# Slips hold a fee and a receipt number: no shared cache should keep them.
NO_STORE = {"Cache-Control": "no-store"}


def _acting(call: Call) -> int | None:
    return call.body.get("counter") or call.credential.counter


def _acting_allowed(call: Call) -> None:
    counter = call.body.get("counter")
    if counter is None:
        return
    if not call.credential.allows(Action.COUNTER, call.centre, counter):
        raise ApiError("forbidden")
    call.centres.counter(call.centres.centre(call.centre), counter)


def _decline_allowed(call: Call) -> None:
    if call.body["reason"] == "other" and not call.body.get("note"):
        raise ApiError("bad_request", message_en="A decline for another reason needs a note.")
    _acting_allowed(call)


async def accept(call: Call) -> Any:
    return await service.accept(call.centres, call.centre, call.params["number"], _acting(call),
                                call.credential.id, call.idem)


async def decline(call: Call) -> Any:
    return await service.decline(call.centres, call.centre, call.params["number"],
                                 _acting(call), call.body["reason"], call.body.get("note"),
                                 call.credential.id, call.idem)


async def pay(call: Call) -> Any:
    b = call.body
    return await service.pay(call.centres, call.centre, call.params["number"], _acting(call),
                             b["method"], b["amount_hkd"], b.get("reference"),
                             call.credential.id, call.idem)


async def void(call: Call) -> Any:
    return await service.void_payment(call.centres, call.centre, call.params["number"],
                                      call.body["reason"], call.credential.id, call.idem)


async def receipt(call: Call) -> Any:
    return await service.issue_receipt(call.centres, call.centre, call.params["number"],
                                       _acting(call), call.credential.id, call.idem)


POSTS = [
    Post(T + "/acceptance", Action.COUNTER, accept, ACTING, wrap=None, check=_acting_allowed),
    Post(T + "/decline", Action.COUNTER, decline, {
        "reason": Field(str, choices=service.DECLINE_REASONS),
        "note": Field(str, required=False), **ACTING}, check=_decline_allowed),
    Post(T + "/payment", Action.COUNTER, pay, {
        "method": Field(str, choices=service.PAYMENT_METHODS), "amount_hkd": Field(int),
        "reference": Field(str, required=False), **ACTING}, wrap=None, check=_acting_allowed),
    Post(T + "/payment/void", Action.VOID_PAYMENT, void, {"reason": Field(str)}, wrap=None),
    Post(T + "/receipt", Action.COUNTER, receipt, ACTING, status=201, wrap=None,
         check=_acting_allowed),
]


def day_param(request: Request, today: str) -> dt.date:
    raw = request.query_params.get("date") or today
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise ApiError("bad_request", message_en="date must be YYYY-MM-DD.") from None


async def takings(request: Request) -> JSONResponse:
    centre = request.path_params["centre"]
    await authorize(request, Action.MANAGE, centre)
    centres = request.state.centres
    day = day_param(request, centres.clock.today())
    return JSONResponse(await service.takings(centres, centre, day))


async def receipt_slip(request: Request) -> HTMLResponse:
    credential = await authorize(request, Action.LOOK_UP)
    centres = request.state.centres
    found = await collection.receipt(centres, request.path_params["receipt_no"])
    if found is None:
        raise ApiError("not_found", message_en=collection.RECEIPT_NOT_FOUND[0],
                       message_zh=collection.RECEIPT_NOT_FOUND[1])
    home, fields = found
    if not credential.allows(Action.LOOK_UP, home):
        raise ApiError("forbidden")
    return HTMLResponse(slip.render(centres.centre(home), fields), headers=NO_STORE)


routes: list[BaseRoute] = [
    *(p.route() for p in POSTS),
    Route(C + "/takings", takings, methods=["GET"]),
    Route("/api/v1/receipts/{receipt_no}/slip", receipt_slip, methods=["GET"]),
]
