"""A data-access request under the PDPO, for the centre's supervisor (and the admin): export or
erase one person's bookings, found by booking reference or by identity number — sent in the
body, never in a URL. Each request is written to the centre's privacy log (the audit)."""

from __future__ import annotations

import json
from typing import Any

from starlette.routing import BaseRoute

from queueserver.auth import ratelimit
from queueserver.auth.credentials import Action
from queueserver.bookings.lookup import BookingLookup, NotAnIdentityNumber
from queueserver.operations import privacy
from queueserver.platform.errors import Answer, ApiError
from queueserver.store import idempotency, keys
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
    """The person's bookings: a look-up like the desk's, limited alike (ratelimit.py)."""
    centre = call.centres.centre(call.centre)
    r = call.centres.r
    await ratelimit.lookup_allowed(r, call.credential, centre.id)
    find = BookingLookup(r, call.centres.secret)
    if call.body.booking_ref:
        found, _ = await find.by_ref(centre.id, call.body.booking_ref)
    else:
        try:
            found = await find.by_id(centre.id, call.body.id_number or "")
        except NotAnIdentityNumber:
            await ratelimit.lookup_missed(r, call.credential, centre.id)
            raise ApiError("invalid_id_number") from None
    if not found:
        await ratelimit.lookup_missed(r, call.credential, centre.id)
    refs = sorted({b.booking_ref for b in found})
    call.bookings.extend((centre.id, ref) for ref in refs)
    return refs


async def _receipt_of(call: Call[Who], ref: str) -> str | None:
    """The receipt issued on the booking's visit, if any: it holds the identity hash and the
    kiosks' verifier, which go with the booking's personal data."""
    r = call.centres.r
    ticket, date = await r.hmget(keys.booking(call.centre, ref), ["ticket", "date"])
    if not ticket or not date:
        return None
    receipt_no = await r.hget(keys.ticket(call.centre, str(date), str(ticket)), "receipt_no")
    return str(receipt_no) if receipt_no else None


async def _log(call: Call[Who], why: privacy.Why, refs: list[str]) -> None:
    at = call.centres.clock.now().isoformat(timespec="seconds")
    data = {"by": call.credential.id, "bookings": len(refs),
            "ref_hashes": [privacy.ref_hash(call.centres.secret, ref) for ref in refs]}
    await call.centres.r.xadd(keys.privacy_log(call.centre), {
        "type": f"personal_data.{why}", "at": at, "data": json.dumps(data)})


async def export(call: Call[Who]) -> Exported:
    refs = await _refs(call)
    r = call.centres.r
    out = []
    for ref in refs:
        booking: Any = await r.hgetall(keys.booking(call.centre, ref))
        history: Any = await r.lrange(keys.booking_history(call.centre, ref), 0, -1)
        out.append(privacy.exported(booking, history))
    await _log(call, privacy.Why.EXPORTED, refs)
    return Exported(out)


async def erase(call: Call[Who]) -> Erased:
    refs = await _refs(call)
    at = call.centres.clock.now().isoformat(timespec="seconds")
    erased = 0
    for ref in refs:
        keys_, args = privacy.erase_args(call.centre, ref, at, privacy.Why.ERASE,
                                         call.credential.id, call.centres.secret,
                                         await _receipt_of(call, ref))
        if await call.centres.scripts("personal_erase", keys_, args) == "erased":
            erased += 1
    # What Idempotency-Keys kept of requests about this person (check-in, collection, this
    # very request's earlier tries) goes too: the answer to this one names nobody.
    await idempotency.forget_bookings(call.centres.r, call.centre, refs)
    call.bookings.clear()
    return Erased(erased)


POSTS: list[Post[Any]] = [
    # The export's answer is the person's data: never kept for a repeat (replay=False).
    Post(P + "/export", Action.MANAGE, export, Who, Exported, wrap=None, check=_check,
         replay=False),
    Post(P + "/erase", Action.MANAGE, erase, Who, Erased, wrap=None, check=_check),
]
routes: list[BaseRoute] = [p.route() for p in POSTS]
