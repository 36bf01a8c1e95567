"""The booking platform's answers as typed models (CONTRACT §11), from which /openapi.json
describes them. Request bodies are the web layer's (`web/api/appointments.py`)."""

from __future__ import annotations

from msgspec import UNSET, UnsetType

from queueserver.platform.errors import Answer


class Appointment(Answer, frozen=True):
    """APPOINTMENT: a booking of CONTRACT §2, made on this platform."""

    booking_ref: str
    centre: str
    date: str
    slot_start: str
    slot_end: str


class ApplicationSummary(Answer, frozen=True):
    application_type: str
    name_masked: str


class Day(Answer, frozen=True):
    centre: str
    date: str


class Offer(Answer, frozen=True):
    """A place held from a waiting list until `until`: booking that slot takes it."""

    centre: str
    date: str
    start: str
    end: str
    until: str


class View(Answer, frozen=True):
    """An application, its appointment (or null), the changes left, its waiting lists and an
    open offer."""

    application: ApplicationSummary
    appointment: Appointment | None
    changes_left: int
    waitlist: list[Day]
    checked_in: bool
    may_book_inside_notice: bool
    offer: Offer | UnsetType = UNSET


class Slot(Answer, frozen=True):
    date: str
    start: str
    end: str
    free: int


class Slots(Answer, frozen=True):
    """The slots that can be booked now, each with at least one free place."""

    centre: str
    slots: list[Slot]


class Booked(Answer, frozen=True):
    """The appointment held now (booked, moved, or the same slot again)."""

    appointment: Appointment
    changes_left: int


class Waiting(Answer, frozen=True):
    """The days waited on, and the place in the day's line just joined (from 1)."""

    waitlist: list[Day]
    position: int


class SlotState(Answer, frozen=True):
    start: str
    end: str
    capacity: int
    booked: int
    held: int
    checked_in: int
    blocked: bool
    reason_en: str | None
    reason_zh: str | None


class DaySlots(Answer, frozen=True):
    """A day's slots as the supervisor sees them filling."""

    centre: str
    date: str
    slots: list[SlotState]


class Blocked(Answer, frozen=True):
    """How many slots were blocked and appointments cancelled (no references: a repeat of the
    request gets this answer again)."""

    date: str
    blocked: int
    cancelled: int
