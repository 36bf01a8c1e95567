"""The live events' messages as typed models (CONTRACT §6).

Each event is `{"id", "type", "at", "data"}`: the scripts append it to the centre's stream and
`live/events.py` forwards it as it is (it is read once and encoded once per audience, however
many sockets it goes to). What `data` holds for each type is `DATA` below; `by`, the acting
credential's id, is left out for device credentials and for the server's own changes. The
models describe the socket in `/openapi.json`; `tests/security/test_openapi.py` checks a day's
events against them, and `tests/rules/test_vocab.py` that every type a script emits has one.
"""

from __future__ import annotations

from typing import Any, Literal, Union

import msgspec
from msgspec import UNSET, Struct, UnsetType

from queueserver.queue.models import Board
from queueserver.rules.vocab import (
    CounterState,
    DeclineReason,
    EventType,
    PaymentMethod,
)


class Data(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # The staff credential that acted (never sent to displays and kiosks).
    by: str | UnsetType = UNSET


class TicketData(Data, frozen=True, kw_only=True):
    ticket: str
    service: str


class Issued(TicketData, frozen=True, kw_only=True):
    """A ticket joined its service's queue with `position` tickets ahead of it."""

    position: int
    priority: bool


class Announcement(Struct, frozen=True, forbid_unknown_fields=True):
    """What a display says: the text in each language, and the clips to play in order
    (the chime first)."""

    text: dict[str, str]
    clips: list[str]


class Announced(TicketData, frozen=True, kw_only=True):
    """Called (or called again) to a counter."""

    counter: int
    announcement: Announcement


class AtCounter(TicketData, frozen=True, kw_only=True):
    """A step of the ticket's service at its counter."""

    counter: int


class NoShow(TicketData, frozen=True, kw_only=True):
    """Not there when called; or, with `reason` `day_closed`, still waiting at the day's close
    (no counter then)."""

    counter: int | UnsetType = UNSET
    reason: Literal["day_closed"] | UnsetType = UNSET


class Declined(AtCounter, frozen=True, kw_only=True):
    reason: DeclineReason


class Paid(AtCounter, frozen=True, kw_only=True):
    method: PaymentMethod
    amount_hkd: int


class Transferred(TicketData, frozen=True, kw_only=True):
    """Waits again, in `service`, keeping its number and its place."""

    from_counter: int
    position: int


class Requeued(TicketData, frozen=True, kw_only=True):
    """A no-show waits again, at the back."""

    position: int


class CounterChange(Data, frozen=True, kw_only=True):
    counter: int
    state: CounterState
    reason: Literal["day_closed"] | UnsetType = UNSET


class CollectedData(Data, frozen=True, kw_only=True):
    offline: bool
    old_permit_surrendered: bool


class FlaggedData(Data, frozen=True, kw_only=True):
    """A permit handed over twice (`flags`: how many the supervisor has to look into)."""

    flags: int


# --- notices, closures and printers (CONTRACT §10) ---------------------------------------------

class NoticeAnnouncement(Announcement, frozen=True):
    """A notice said aloud: the chime and the languages said already; `pending` while the
    worker renders the rest (then `notice.announced` carries every clip)."""

    pending: bool = False


class NoticePosted(Data, frozen=True, kw_only=True):
    """The NOTICE, and with `announce` its announcement."""

    id: str
    text_en: str
    text_zh: str
    created_at: str
    until: str | None
    announcement: NoticeAnnouncement | UnsetType = UNSET


class NoticeAnnounced(Data, frozen=True, kw_only=True):
    """The worker has rendered a notice's speech: the clips to play."""

    id: str
    announcement: Announcement


class NoticeRemoved(Data, frozen=True, kw_only=True):
    """Removed by a supervisor, or `reason`: `expired`, `issuing_opened`, `replaced`,
    `day_closed`."""

    id: str
    reason: str | UnsetType = UNSET


class IssuingClosed(Data, frozen=True, kw_only=True):
    """No new numbers: the supervisor's words and the id of their notice."""

    text_en: str
    text_zh: str
    notice: str


class IssuingOpened(Data, frozen=True, kw_only=True):
    reason: str | UnsetType = UNSET


class CheckInRefused(Data, frozen=True, kw_only=True):
    """A check-in refused while issuing was closed (counted in the day's statistics)."""

    reason: str


class PrinterFailed(Data, frozen=True, kw_only=True):
    """A thermal printer could not print a slip for 2 minutes: the desk prints it instead."""

    printer: str
    ticket: str
    slip: str


# What each event type's data holds.
DATA: dict[EventType, type[Data]] = {
    EventType.TICKET_ISSUED: Issued,
    EventType.TICKET_CALLED: Announced,
    EventType.TICKET_RECALLED: Announced,
    EventType.TICKET_NO_SHOW: NoShow,
    EventType.TICKET_TRANSFERRED: Transferred,
    EventType.TICKET_REQUEUED: Requeued,
    EventType.TICKET_ACCEPTED: AtCounter,
    EventType.TICKET_DECLINED: Declined,
    EventType.TICKET_PAID: Paid,
    EventType.TICKET_PAYMENT_VOIDED: Paid,
    EventType.TICKET_DONE: AtCounter,
    EventType.COUNTER_OPENED: CounterChange,
    EventType.COUNTER_PAUSED: CounterChange,
    EventType.COUNTER_RESUMED: CounterChange,
    EventType.COUNTER_CLOSED: CounterChange,
    EventType.COLLECTION_COLLECTED: CollectedData,
    EventType.COLLECTION_FLAGGED: FlaggedData,
    EventType.NOTICE_POSTED: NoticePosted,
    EventType.NOTICE_ANNOUNCED: NoticeAnnounced,
    EventType.NOTICE_REMOVED: NoticeRemoved,
    EventType.CENTRE_ISSUING_CLOSED: IssuingClosed,
    EventType.CENTRE_ISSUING_OPENED: IssuingOpened,
    EventType.CENTRE_CHECKIN_REFUSED: CheckInRefused,
    EventType.PRINTER_FAILED: PrinterFailed,
}


class Message(Struct, frozen=True, tag_field="type", forbid_unknown_fields=True):
    """One message on `/ws/centres/{centre}/events`, told apart by its `type`."""


class BoardMessage(Message, frozen=True, tag="board"):
    """The first message without `after=` (no `id`): the live events continue after the
    board's `last_event_id`."""

    data: Board


class ResyncRequired(Message, frozen=True, tag="resync_required"):
    """`after=` is no longer (or not yet) in the stream: a fresh board follows."""


class SocketError(Message, frozen=True, tag="error"):
    """`after=` is not an event id; the socket closes (1008)."""

    code: str
    message_en: str


def _event(kind: EventType, data: type[Data]) -> type[Message]:
    name = "".join(word.title() for word in kind.value.replace(".", "_").split("_")) + "Event"
    event = msgspec.defstruct(name, [("id", str), ("at", str), ("data", data)],
                              bases=(Message,), tag=kind.value, frozen=True)
    assert issubclass(event, Message)
    event.__doc__ = f"`{kind.value}` (ids compare as two integers, never as strings)."
    return event


EVENTS: dict[EventType, type[Message]] = {kind: _event(kind, data) for kind, data in DATA.items()}
# Every message the socket sends, for msgspec to read one by its `type`.
MESSAGES: tuple[type[Message], ...] = (*EVENTS.values(), BoardMessage, ResyncRequired,
                                       SocketError)


# One of them, told apart by `type` (Any: a union made at run time, which mypy cannot follow).
LIVE_MESSAGE: Any = Union[MESSAGES]  # noqa: UP007


def read(message: dict[str, Any] | str | bytes) -> Message:
    """A socket message as its model (for tests, and for clients written in Python)."""
    if isinstance(message, str | bytes):
        found: Message = msgspec.json.decode(message, type=LIVE_MESSAGE)
    else:
        found = msgspec.convert(message, LIVE_MESSAGE)
    return found
