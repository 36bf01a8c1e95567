"""The follow page's answers as typed models (CONTRACT §9), from which `/openapi.json` describes
them: the desk's TICKET with its follow URL, what a phone sees, feedback."""

from __future__ import annotations

from typing import Literal

from queueserver.platform.errors import Answer
from queueserver.queue.models import Notice, Ticket
from queueserver.rules.vocab import TicketStatus


class DeskTicket(Ticket, frozen=True):
    """TICKET as the desk gets it (check-in, look-up, requeue): with `follow_url`, the absolute
    URL of the ticket's follow page, made again from the ticket for each answer and never
    stored; null for a ticket issued before follow pages existed."""

    follow_url: str | None = None


class DeskTicketAnswer(Answer, frozen=True):
    """`{"ticket": TICKET}`, the desk's: with its follow URL."""

    ticket: DeskTicket


class FollowedTicket(Answer, frozen=True):
    """The ticket as its follow page shows it: no issue time, acceptance or receipt."""

    number: str
    service: str
    status: TicketStatus
    position: int
    # None while no counter is open for its service (CONTRACT §5, TICKET).
    estimated_wait_minutes: int | None
    counter: int | None
    called_at: str | None
    recalls: int


class FollowedCentre(Answer, frozen=True):
    id: str
    name_en: str
    name_zh: str


class Follow(Answer, frozen=True):
    """What a phone sees (`GET /api/v1/follow/{follow_token}`, and each socket message's
    `data`): the ticket, its centre, the hall's notices (NOTICE, CONTRACT §10) and whether
    numbers are issued."""

    ticket: FollowedTicket
    centre: FollowedCentre
    notices: list[Notice]
    issuing: bool


class FollowMessage(Answer, frozen=True):
    """The follow socket's one message, whole each time: first, then within a second of any
    change."""

    type: Literal["follow"]
    data: Follow


class Feedback(Answer, frozen=True):
    """One rating of a visit, from its follow page: the counter that ended it, the rating
    (1-5) and the comment, if any."""

    ticket: str
    service: str
    counter: int | None
    rating: int
    comment: str | None
    at: str


class FeedbackAnswer(Answer, frozen=True):
    feedback: Feedback


class DayFeedback(Answer, frozen=True):
    """The day's feedback, in the order it was given (supervisors and admins)."""

    feedback: list[Feedback]
