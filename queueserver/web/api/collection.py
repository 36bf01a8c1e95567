"""Collection kiosk routes: eligibility, collect, the eligible feed and the kiosk key
(CONTRACT §5, "Collection kiosk"), and the supervisor's list of flagged collections.

Beyond the contract: an offline report (`collected_at`) may come without `id_number` (a kiosk
restarted while offline has forgotten it, docs/screens.md): 422 `id_not_reported`, flagged. An
offline report whose whole number is wrong is 422 `id_mismatch`, flagged too; neither is recorded
as a collection. Each flag says why (`reason`: `collected_twice`, `id_mismatch`,
`id_not_reported`). The feed's `date` is today or tomorrow; any other day is 422 `bad_date`."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from queueserver.auth.credentials import Action
from queueserver.collection import kiosk as collection
from queueserver.web.api.base import Call, Field, Post, authorize
from queueserver.web.api.service import NO_STORE, day_param

K = "/api/v1/collection"
C = "/api/v1/centres/{centre}/collection"


async def _names_a_booking(call: Call, receipt_no: str) -> None:
    """A kept answer about a receipt is erased with its person's data (base.Call)."""
    if call.idem is not None and (found := await collection.booking_of(call.centres,
                                                                        receipt_no)):
        call.bookings.append(found)


async def eligibility(call: Call) -> Any:
    await _names_a_booking(call, call.body["receipt_no"])
    return await collection.eligibility(call.centres, call.credential, call.body["receipt_no"],
                                        call.body["id_number"], call.idem)


async def collect(call: Call) -> Any:
    b = call.body
    await _names_a_booking(call, call.params["receipt_no"])
    return await collection.collect(
        call.centres, call.credential, call.params["receipt_no"], b.get("id_number"),
        bool(b.get("old_permit_surrendered")), b.get("collected_at"), call.idem)


POSTS = [
    Post(K + "/eligibility", Action.COLLECTION, eligibility,
         {"receipt_no": Field(str), "id_number": Field(str)}, wrap=None),
    Post(K + "/{receipt_no}/collect", Action.COLLECTION, collect, {
        # Optional only in an offline report (collection.collect says why).
        "id_number": Field(str, required=False),
        "old_permit_surrendered": Field(bool, required=False),
        "collected_at": Field(str, required=False)}, wrap=None),
]


async def eligible(request: Request) -> JSONResponse:
    centre = request.path_params["centre"]
    await authorize(request, Action.COLLECTION, centre)
    centres = request.state.centres
    centres.centre(centre)
    day = collection.feed_day(centres, day_param(request, centres.clock.today()))
    receipts = await collection.eligible(centres, centre, day)
    return JSONResponse({"centre": centre, "date": day.isoformat(), "receipts": receipts},
                        headers=NO_STORE)


async def key(request: Request) -> JSONResponse:
    centre = request.path_params["centre"]
    await authorize(request, Action.KIOSK_KEY, centre)
    return JSONResponse({"key": collection.kiosk_key(request.state.centres, centre)},
                        headers=NO_STORE)


async def flags(request: Request) -> JSONResponse:
    centre = request.path_params["centre"]
    await authorize(request, Action.MANAGE, centre)
    return JSONResponse({"flags": await collection.flags(request.state.centres, centre)})


routes: list[BaseRoute] = [
    *(p.route() for p in POSTS),
    Route(C + "/eligible", eligible, methods=["GET"]),
    Route(C + "/key", key, methods=["GET"]),
    Route(C + "/flags", flags, methods=["GET"]),
]
