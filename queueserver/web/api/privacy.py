"""A data-access request under the PDPO, for the centre's supervisor (and the admin): export or
erase one person's bookings, found by booking reference or by identity number — sent in the
body, never in a URL. Each request is written to the centre's privacy log (the audit)."""

from __future__ import annotations

import json
from typing import Any

from starlette.routing import BaseRoute

from queueserver.auth.credentials import Action
from queueserver.bookings.lookup import BookingLookup, NotAnIdentityNumber
from queueserver.operations import privacy
from queueserver.platform.errors import Answer, ApiError
from queueserver.rules.vocab import EventType
from queueserver.store import keys
from queueserver.web.api.base import Call, Post
from queueserver.web.api.bookings import Who

P = "/api/v1/centres/{centre}/personal-data"


class Exported(Answer, frozen=True):
    """What is held of the person: each booking's stored fields (all but the keyed hashes) and
    its history, as stored."""

    bookings: list[dict[str, Any]]


class Erased(Answer, frozen=True):
    erased: int


def _check(call: Call[Who]) -> None:
    if len(call.body.given()) != 1:
        raise ApiError("bad_request", message_en="Send either booking_ref or id_number.")


async def _refs(call: Call[Who]) -> list[str]:
    centre = call.centres.centre(call.centre)
    find = BookingLookup(call.centres.r, call.centres.secret)
    if call.body.booking_ref:
        found, _ = await find.by_ref(centre.id, call.body.booking_ref)
    else:
        try:
            found = await find.by_id(centre.id, call.body.id_number or "")
        except NotAnIdentityNumber:
            raise ApiError("invalid_id_number") from None
    return sorted({b.booking_ref for b in found})


async def _log(call: Call[Who], what: EventType, refs: list[str]) -> None:
    at = call.centres.clock.now().isoformat(timespec="seconds")
    data = {"by": call.credential.id, "bookings": len(refs),
            "ref_hashes": [privacy.ref_hash(call.centres.secret, ref) for ref in refs]}
    await call.centres.r.xadd(keys.privacy_log(call.centre), {
        "type": what.value, "at": at, "data": json.dumps(data)})


async def export(call: Call[Who]) -> Exported:
    refs = await _refs(call)
    r = call.centres.r
    out = []
    for ref in refs:
        booking: Any = await r.hgetall(keys.booking(call.centre, ref))
        history: Any = await r.lrange(keys.booking_history(call.centre, ref), 0, -1)
        out.append(privacy.exported(booking, history))
    await _log(call, EventType.PERSONAL_DATA_EXPORTED, refs)
    return Exported(out)


async def erase(call: Call[Who]) -> Erased:
    refs = await _refs(call)
    at = call.centres.clock.now().isoformat(timespec="seconds")
    erased = 0
    for ref in refs:
        keys_, args = privacy.erase_args(call.centre, ref, at, "erase", call.credential.id,
                                         call.centres.secret)
        if await call.centres.scripts("personal_erase", keys_, args) == "erased":
            erased += 1
    return Erased(erased)


POSTS: list[Post[Any]] = [
    Post(P + "/export", Action.MANAGE, export, Who, Exported, wrap=None, check=_check),
    Post(P + "/erase", Action.MANAGE, erase, Who, Erased, wrap=None, check=_check),
]
routes: list[BaseRoute] = [p.route() for p in POSTS]
