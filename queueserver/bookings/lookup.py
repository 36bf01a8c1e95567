"""The centre's bookings as its staff see them: a day's list, and the bookings found by a
reference or by the identity number they were booked with (CONTRACT §4, "look up ... today's
bookings").

What a desk needs and no more: names in full (staff greet and call applicants by them), the
identity and passport numbers masked, whether and with which ticket the booking was checked
in, and what the booking platform changed after check-in that was held. The keyed identity
hash and the kiosks' verifier never leave Redis. Reads only: no script, no event.
"""

from __future__ import annotations

import re
from typing import Any

import redis.asyncio
from msgspec import UNSET, UnsetType

from queueserver.bookings import history as booking_history
from queueserver.bookings.models import Booking, TicketRef
from queueserver.rules import identity
from queueserver.rules.vocab import ApplicationType, TicketStatus
from queueserver.store import keys

# The latest history entries shown with a looked-up booking: enough to see why it looks as it
# does; a booking held across many syncs may have more.
HISTORY_SHOWN = 50
_HKID_SHAPE = re.compile(r"[A-Z]{1,2}[0-9]{6}\(?[0-9A]\)?")
_REF = re.compile(r"[A-Za-z0-9]{1,32}")


class NotAnIdentityNumber(ValueError):
    """Neither a valid identity card number nor an access notice reference."""


def view(b: dict[str, str], ticket_status: str | None,
         history: list[dict[str, Any]] | UnsetType = UNSET) -> Booking:
    ticket = b.get("ticket") or None
    return Booking(
        booking_ref=b["ref"], centre=b["centre"], date=b["date"],
        slot_start=b["slot_start"], slot_end=b["slot_end"],
        application_type=ApplicationType(b["application_type"]),
        surname=b["surname"], given_names=b["given_names"],
        id_kind=b["id_kind"], id_masked=b["id_masked"],
        passport_masked=identity.mask(b["passport_no"]), nationality=b["nationality"],
        status=b["status"],
        checked_in=ticket is not None,
        ticket=TicketRef(ticket, TicketStatus(ticket_status) if ticket_status else None)
        if ticket else None,
        held_fields=[f for f in b.get("held_fields", "").split(",") if f],
        updated_at=b.get("updated_at"), source=b.get("source"), history=history,
    )


class BookingLookup:
    def __init__(self, r: redis.asyncio.Redis, secret: bytes) -> None:
        self._r = r
        self._secret = secret

    async def day(self, centre: str, date: str) -> list[Booking]:
        """The day's bookings, by slot, cancelled ones included (the desk refuses them)."""
        refs: list[Any] = await self._r.zrange(keys.bookings_on(centre, date), 0, -1)
        return await self._views(centre, refs, with_history=False)

    async def by_ref(self, centre: str, ref: str) -> tuple[list[Booking], str | None]:
        """The booking with that reference here; else the centre that holds it, if any."""
        if not _REF.fullmatch(ref):
            return [], None  # no booking has such a reference (the export's rule)
        found = await self._views(centre, [ref], with_history=True)
        if found:
            return found, None
        holder: Any = await self._r.hget(keys.booking_index(), ref)
        return [], str(holder) if holder and holder != centre else None

    async def by_id(self, centre: str, id_number: str) -> list[Booking]:
        """The bookings here made with that identity number, matched by its keyed hash."""
        shape = re.sub(r"\s+", "", id_number).upper()
        by_kind = identity.hashes(self._secret, id_number)
        # Shaped like an identity card number but with a wrong check digit: a typing mistake
        # to report, not an access notice reference to look for.
        if not any(by_kind.values()) or (_HKID_SHAPE.fullmatch(shape) and not by_kind["hkid"]):
            raise NotAnIdentityNumber
        refs: set[str] = set()
        for id_hash in by_kind.values():
            if not isinstance(id_hash, str):
                continue
            found: Any = await self._r.smembers(keys.bookings_by_id(centre, id_hash))
            refs |= set(found)
        views = await self._views(centre, sorted(refs), with_history=True)
        return sorted(views, key=lambda b: (b.date, b.slot_start, b.booking_ref))

    async def _views(self, centre: str, refs: list[str],
                     with_history: bool) -> list[Booking]:
        if not refs:
            return []
        pipe = self._r.pipeline(transaction=False)
        for ref in refs:
            pipe.hgetall(keys.booking(centre, ref))
        records = [b for b in await pipe.execute() if b.get("status") not in (None, "moved")]
        pipe = self._r.pipeline(transaction=False)
        for b in records:
            if b.get("ticket"):
                pipe.hget(keys.ticket(centre, b["date"], b["ticket"]), "status")
            if with_history:
                pipe.lrange(keys.booking_history(centre, b["ref"]), -HISTORY_SHOWN, -1)
        answers = iter(await pipe.execute())
        out = []
        for b in records:
            status = next(answers) if b.get("ticket") else None
            history = (booking_history.entries(b, next(answers))[-HISTORY_SHOWN:]
                       if with_history else UNSET)
            out.append(view(b, status, history))
        return out
