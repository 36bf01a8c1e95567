"""The bookings as staff see them, as typed models: BOOKING, a day's list, a look-up."""

from __future__ import annotations

from typing import Any

from msgspec import UNSET, UnsetType

from queueserver.platform.errors import Answer
from queueserver.rules.vocab import ApplicationType, TicketStatus


class TicketRef(Answer, frozen=True):
    """The ticket a booking was checked in with (its status null once it is not today's)."""

    number: str
    status: TicketStatus | None


class Booking(Answer, frozen=True):
    """BOOKING: names in full, identity and passport numbers masked, the check-in and its
    ticket, and the fields the booking platform changed after check-in that were held.
    `history` (a look-up's only) lists what each sync did to it, newest last."""

    booking_ref: str
    centre: str
    date: str
    slot_start: str
    slot_end: str
    application_type: ApplicationType
    surname: str
    given_names: str
    id_kind: str
    id_masked: str
    passport_masked: str
    nationality: str
    status: str
    checked_in: bool
    ticket: TicketRef | None
    held_fields: list[str]
    updated_at: str | None
    source: str | None
    # Each entry: at, source, change, fields, and what that change adds (a history record).
    history: list[dict[str, Any]] | UnsetType = UNSET


class Totals(Answer, frozen=True):
    booked: int
    checked_in: int
    cancelled: int


class DayList(Answer, frozen=True):
    """A day's bookings by slot, cancelled ones included; `booked` counts the others."""

    centre: str
    date: str
    bookings: list[Booking]
    totals: Totals


class Found(Answer, frozen=True):
    """A look-up's bookings; `other_centre` names the centre holding a reference found
    elsewhere."""

    bookings: list[Booking]
    other_centre: str | UnsetType = UNSET
