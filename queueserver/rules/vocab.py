"""The centre's vocabularies, each defined once: what the API, the scripts' records, the events
and the screens spell the same way (CONTRACT §1, §5, §6).

They are `StrEnum`s, so a member is its own value (`TicketStatus.WAITING == "waiting"`): it reads
well in `redis-cli` and JSON, and compares with what a Lua script or a stored record holds. The
words each value is shown with, in Traditional Chinese and English, are here too; the screens'
copy (`templates/static/words.js`) is checked against them by `tests/rules/test_vocab.py`.
"""

from __future__ import annotations

from enum import StrEnum


class TicketStatus(StrEnum):
    """Where a ticket is in its day: waiting, called, then accepted, paid and done, or declined;
    a ticket not there when called is a no-show (and may be requeued)."""

    WAITING = "waiting"
    CALLED = "called"
    ACCEPTED = "accepted"
    PAID = "paid"
    DONE = "done"
    DECLINED = "declined"
    NO_SHOW = "no_show"


class CounterState(StrEnum):
    """A counter is closed at the start of each day, then open, or paused (it calls nobody new)."""

    OPEN = "open"
    PAUSED = "paused"
    CLOSED = "closed"


class CounterAction(StrEnum):
    """What staff do to a counter's state (`POST .../counters/{n}/<action>`)."""

    OPEN = "open"
    PAUSE = "pause"
    RESUME = "resume"
    CLOSE = "close"


class ApplicationType(StrEnum):
    """What a booking is for; it decides the fee and whether the old permit goes back."""

    FIRST = "first"
    RENEWAL = "renewal"
    REISSUE_LOST = "reissue_lost"
    REISSUE_DAMAGED = "reissue_damaged"


# The old permit goes back at collection when it is renewed or replaced because it is damaged.
SURRENDER_TYPES = frozenset({ApplicationType.RENEWAL, ApplicationType.REISSUE_DAMAGED})


class DeclineReason(StrEnum):
    """Why a called applicant's application is not accepted (`other` needs a note)."""

    DOCUMENTS_MISSING = "documents_missing"
    PHOTO_REJECTED = "photo_rejected"
    NOT_ELIGIBLE = "not_eligible"
    OTHER = "other"


class PaymentMethod(StrEnum):
    """How a fee is paid at the counter."""

    CASH = "cash"
    EPS = "eps"
    OCTOPUS = "octopus"
    CARD = "card"


class Eligibility(StrEnum):
    """A kiosk's eligibility answer: the first reason that applies, else `ready`."""

    INVALID_RECEIPT_NO = "invalid_receipt_no"
    NOT_FOUND = "not_found"
    WRONG_CENTRE = "wrong_centre"
    ID_MISMATCH = "id_mismatch"
    COLLECTED = "collected"
    NOT_YET = "not_yet"
    READY = "ready"


class EventType(StrEnum):
    """What the centre's event stream records (CONTRACT §6): every `ticket.*` event's data holds
    `ticket` and `service`, every `counter.*` event's `counter`. The `personal_data.*` ones go to
    the centre's privacy log instead, read only by the audit."""

    TICKET_ISSUED = "ticket.issued"
    TICKET_CALLED = "ticket.called"
    TICKET_RECALLED = "ticket.recalled"
    TICKET_NO_SHOW = "ticket.no_show"
    TICKET_TRANSFERRED = "ticket.transferred"
    TICKET_REQUEUED = "ticket.requeued"
    TICKET_ACCEPTED = "ticket.accepted"
    TICKET_DECLINED = "ticket.declined"
    TICKET_PAID = "ticket.paid"
    TICKET_PAYMENT_VOIDED = "ticket.payment_voided"
    TICKET_DONE = "ticket.done"
    COUNTER_OPENED = "counter.opened"
    COUNTER_PAUSED = "counter.paused"
    COUNTER_RESUMED = "counter.resumed"
    COUNTER_CLOSED = "counter.closed"
    COLLECTION_COLLECTED = "collection.collected"
    COLLECTION_FLAGGED = "collection.flagged"
    # Notices, closures and printers (CONTRACT §10)
    NOTICE_POSTED = "notice.posted"
    NOTICE_ANNOUNCED = "notice.announced"  # the worker has said it: the clips to play
    NOTICE_REMOVED = "notice.removed"
    CENTRE_ISSUING_CLOSED = "centre.issuing_closed"
    CENTRE_ISSUING_OPENED = "centre.issuing_opened"
    CENTRE_CHECKIN_REFUSED = "centre.checkin_refused"  # while closed: the day's statistics count it
    PRINTER_FAILED = "printer.failed"
    PERSONAL_DATA_EXPORTED = "personal_data.exported"
    PERSONAL_DATA_ERASE = "personal_data.erase"  # on request (`personal_erase.lua`, why)
    PERSONAL_DATA_PURGE = "personal_data.purge"  # when its keeping time is over


# The service ended: the ticket will not be called again today.
ENDED = frozenset({TicketStatus.DONE, TicketStatus.DECLINED, TicketStatus.NO_SHOW})

# (繁體中文, English): how each value is shown on the screens and slips (GLOSSARY.md).
STATUS_WORDS: dict[TicketStatus, tuple[str, str]] = {
    TicketStatus.WAITING: ("等候中", "Waiting"),
    TicketStatus.CALLED: ("已叫號", "Called"),
    TicketStatus.ACCEPTED: ("已受理", "Accepted"),
    TicketStatus.PAID: ("已繳費", "Paid"),
    TicketStatus.DONE: ("已完成", "Done"),
    TicketStatus.DECLINED: ("不予受理", "Not accepted"),
    TicketStatus.NO_SHOW: ("過號", "No-show"),
}
COUNTER_STATE_WORDS: dict[CounterState, tuple[str, str]] = {
    CounterState.OPEN: ("開放", "Open"),
    CounterState.PAUSED: ("暫停", "Paused"),
    CounterState.CLOSED: ("關閉", "Closed"),
}
APPLICATION_TYPE_WORDS: dict[ApplicationType, tuple[str, str]] = {
    ApplicationType.FIRST: ("首次申請", "First application"),
    ApplicationType.RENEWAL: ("換發", "Renewal"),
    ApplicationType.REISSUE_LOST: ("補發（遺失）", "Replacement (lost)"),
    ApplicationType.REISSUE_DAMAGED: ("補發（損毀）", "Replacement (damaged)"),
}
PAYMENT_METHOD_WORDS: dict[PaymentMethod, tuple[str, str]] = {
    PaymentMethod.CASH: ("現金", "Cash"),
    PaymentMethod.EPS: ("易辦事", "EPS"),
    PaymentMethod.OCTOPUS: ("八達通", "Octopus"),
    PaymentMethod.CARD: ("信用卡", "Card"),
}
DECLINE_REASON_WORDS: dict[DeclineReason, tuple[str, str]] = {
    DeclineReason.DOCUMENTS_MISSING: ("欠缺文件", "Documents missing"),
    DeclineReason.PHOTO_REJECTED: ("相片不合格", "Photo rejected"),
    DeclineReason.NOT_ELIGIBLE: ("不符合資格", "Not eligible"),
    DeclineReason.OTHER: ("其他", "Other"),
}
