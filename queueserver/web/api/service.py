"""Counter service routes: acceptance, decline, payment and its void, receipt, takings, and the
receipt slip (CONTRACT §5, "Counters").

A ticket route acts at one counter: the credential's own (`--counter`), else the body's
optional `"counter"`, else any counter of the centre; a ticket served at another is 403.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import BaseRoute, Route

from queueserver.auth.credentials import Action
from queueserver.collection import kiosk as collection
from queueserver.platform.errors import ApiError
from queueserver.queue.models import Ticket, TicketAnswer
from queueserver.rules.vocab import DeclineReason, PaymentMethod
from queueserver.service import counter_service as service
from queueserver.service.models import Acceptance, PaymentAnswer, Receipt, Takings
from queueserver.web import slip
from queueserver.web.api.base import Body, Call, Given, Post, Read, Text, Whole, authorize

C = "/api/v1/centres/{centre}"
T = C + "/tickets/{number}"
# Slips hold a fee and a receipt number: no shared cache should keep them.
NO_STORE = {"Cache-Control": "no-store"}


class Acting(Body, frozen=True, kw_only=True):
    # The counter acting, for a credential bound to none (CONTRACT §5).
    counter: Whole | None = None


class DeclineBody(Acting, frozen=True):
    reason: DeclineReason
    # Required when the reason is `other`.
    note: Text | None = None


class PaymentBody(Acting, frozen=True):
    method: PaymentMethod
    amount_hkd: Whole
    reference: Text | None = None


class VoidBody(Body, frozen=True):
    reason: Given


ActingBody = TypeVar("ActingBody", bound=Acting)


def _acting(call: Call[ActingBody]) -> int | None:
    return call.body.counter or call.credential.counter


def _acting_allowed(call: Call[ActingBody]) -> None:
    counter = call.body.counter
    if counter is None:
        return
    if not call.credential.allows(Action.COUNTER, call.centre, counter):
        raise ApiError("forbidden")
    call.centres.counter(call.centres.centre(call.centre), counter)


def _decline_allowed(call: Call[DeclineBody]) -> None:
    if call.body.reason is DeclineReason.OTHER and not call.body.note:
        raise ApiError("bad_request", message_en="A decline for another reason needs a note.")
    _acting_allowed(call)


async def accept(call: Call[Acting]) -> Acceptance:
    return await service.accept(call.centres, call.centre, call.params["number"], _acting(call),
                                call.credential.id, call.idem)


async def decline(call: Call[DeclineBody]) -> Ticket:
    return await service.decline(call.centres, call.centre, call.params["number"],
                                 _acting(call), call.body.reason,
                                 call.body.note, call.credential.id, call.idem)


async def pay(call: Call[PaymentBody]) -> PaymentAnswer:
    b = call.body
    return await service.pay(call.centres, call.centre, call.params["number"],
                             _acting(call), b.method, b.amount_hkd,
                             b.reference, call.credential.id, call.idem)


async def void(call: Call[VoidBody]) -> PaymentAnswer:
    return await service.void_payment(call.centres, call.centre, call.params["number"],
                                      call.body.reason, call.credential.id, call.idem)


async def receipt(call: Call[Acting]) -> Receipt:
    return await service.issue_receipt(call.centres, call.centre, call.params["number"],
                                       _acting(call), call.credential.id, call.idem)


POSTS: list[Post[Any]] = [
    Post(T + "/acceptance", Action.COUNTER, accept, Acting, Acceptance, wrap=None,
         check=_acting_allowed),
    Post(T + "/decline", Action.COUNTER, decline, DeclineBody, TicketAnswer,
         check=_decline_allowed),
    Post(T + "/payment", Action.COUNTER, pay, PaymentBody, PaymentAnswer, wrap=None,
         check=_acting_allowed),
    Post(T + "/payment/void", Action.VOID_PAYMENT, void, VoidBody, PaymentAnswer, wrap=None),
    Post(T + "/receipt", Action.COUNTER, receipt, Acting, Receipt, status=201, wrap=None,
         check=_acting_allowed),
]


def day_param(request: Request, today: str) -> dt.date:
    raw = request.query_params.get("date") or today
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise ApiError("bad_request", message_en="date must be YYYY-MM-DD.") from None


async def takings(request: Request) -> Takings:
    centre = request.path_params["centre"]
    await authorize(request, Action.MANAGE, centre)
    centres = request.state.centres
    day = day_param(request, centres.clock.today())
    return await service.takings(centres, centre, day)


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
    Read(C + "/takings", takings, Takings).route(),
    Route("/api/v1/receipts/{receipt_no}/slip", receipt_slip, methods=["GET"]),
]
