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
from starlette.routing import BaseRoute

from queueserver.auth.credentials import Action
from queueserver.collection import kiosk as collection
from queueserver.collection.models import (
    Collected,
    EligibilityAnswer,
    EligibleReceipts,
    Flags,
    KioskKey,
)
from queueserver.web.api.base import Body, Call, Given, Post, Read, Text, authorize
from queueserver.web.api.service import NO_STORE, day_param

K = "/api/v1/collection"
C = "/api/v1/centres/{centre}/collection"


class EligibilityBody(Body, frozen=True):
    receipt_no: Given
    id_number: Given


class CollectBody(Body, frozen=True):
    # Optional only in an offline report (collection.collect says why).
    id_number: Text | None = None
    old_permit_surrendered: bool | None = None
    # ISO 8601: a collection the kiosk made while offline, reported now.
    collected_at: Text | None = None


async def _names_a_booking(call: Call[Any], receipt_no: str) -> None:
    """A kept answer about a receipt is erased with its person's data (base.Call)."""
    if call.idem is not None and (found := await collection.booking_of(call.centres,
                                                                        receipt_no)):
        call.bookings.append(found)


async def eligibility(call: Call[EligibilityBody]) -> EligibilityAnswer:
    await _names_a_booking(call, call.body.receipt_no)
    return await collection.eligibility(call.centres, call.credential, call.body.receipt_no,
                                        call.body.id_number, call.idem)


async def collect(call: Call[CollectBody]) -> Collected:
    b = call.body
    await _names_a_booking(call, call.params["receipt_no"])
    return await collection.collect(
        call.centres, call.credential, call.params["receipt_no"], b.id_number or None,
        bool(b.old_permit_surrendered), b.collected_at or None, call.idem)


POSTS: list[Post[Any]] = [
    Post(K + "/eligibility", Action.COLLECTION, eligibility, EligibilityBody,
         EligibilityAnswer, wrap=None),
    Post(K + "/{receipt_no}/collect", Action.COLLECTION, collect, CollectBody, Collected,
         wrap=None),
]


async def eligible(request: Request) -> EligibleReceipts:
    centre = request.path_params["centre"]
    await authorize(request, Action.COLLECTION, centre)
    centres = request.state.centres
    centres.centre(centre)
    day = collection.feed_day(centres, day_param(request, centres.clock.today()))
    receipts = await collection.eligible(centres, centre, day)
    return EligibleReceipts(centre=centre, date=day.isoformat(), receipts=receipts)


async def key(request: Request) -> KioskKey:
    centre = request.path_params["centre"]
    await authorize(request, Action.KIOSK_KEY, centre)
    return KioskKey(collection.kiosk_key(request.state.centres, centre))


async def flags(request: Request) -> Flags:
    centre = request.path_params["centre"]
    await authorize(request, Action.MANAGE, centre)
    return Flags(await collection.flags(request.state.centres, centre))


routes: list[BaseRoute] = [
    *(p.route() for p in POSTS),
    Read(C + "/eligible", eligible, EligibleReceipts, headers=NO_STORE).route(),
    Read(C + "/key", key, KioskKey, headers=NO_STORE).route(),
    Read(C + "/flags", flags, Flags).route(),
]
