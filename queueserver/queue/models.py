"""The queue's answers as typed models (CONTRACT §5): TICKET, the board, a photo receipt.

The scripts build them (`ticket_view` and `board.lua`) and they are read into these models as
they come back (`tickets.typed`), so a field a script adds must be added here too.
"""

from __future__ import annotations

from queueserver.platform.errors import Answer
from queueserver.rules.vocab import CounterState, TicketStatus


class Ticket(Answer, frozen=True):
    """TICKET: one of today's queue numbers. `position` counts the tickets ahead of it in its
    service's queue (0 unless waiting); `counter` is where it was called."""

    number: str
    service: str
    status: TicketStatus
    issued_at: str
    position: int
    # None while the ticket waits and no counter is open for its service: no figure to give.
    estimated_wait_minutes: int | None
    counter: int | None
    called_at: str | None
    recalls: int
    acceptance_no: str | None
    receipt_no: str | None


class TicketAnswer(Answer, frozen=True):
    """`{"ticket": TICKET}`."""

    ticket: Ticket


class CounterAnswer(Answer, frozen=True):
    """A counter action's answer: its ticket, or null when it has none (nobody waited)."""

    ticket: Ticket | None


class PhotoReceipt(Answer, frozen=True):
    """A qualified-photo receipt, registered for today."""

    barcode: str
    issued_at: str


class Call(Answer, frozen=True):
    """A ticket called to a counter (the board's now serving and recent calls)."""

    counter: int
    ticket: str
    called_at: str


class CounterView(Answer, frozen=True):
    number: int
    state: CounterState


class Notice(Answer, frozen=True):
    """NOTICE (CONTRACT §10): a message to the hall from the supervisor, in both languages;
    `until` (ISO 8601) is when it ends by itself, or null. (A part of the board, so kept here;
    the notices room writes them.)"""

    id: str
    text_en: str
    text_zh: str
    created_at: str
    until: str | None


class Closure(Answer, frozen=True):
    """Issuing closed: the supervisor's words (which check-in answers with), their notice, and
    since when."""

    text_en: str
    text_zh: str
    notice: str
    closed_at: str


class Board(Answer, frozen=True):
    """BOARD: what the hall display shows, and the event id it is valid at (`last_event_id`:
    the live events continue after it). `waiting` and `estimated_wait_minutes` by service;
    the current `notices` (oldest first), whether `issuing` is open, and its `closure`."""

    centre: str
    date: str
    now_serving: list[Call]
    recent_calls: list[Call]
    waiting: dict[str, int]
    # A service no open counter serves: None.
    estimated_wait_minutes: dict[str, int | None]
    counters: list[CounterView]
    last_event_id: str
    notices: list[Notice]
    issuing: bool
    closure: Closure | None
