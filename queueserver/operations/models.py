"""The day's statistics and the audit as typed models (CONTRACT §5, "Operations")."""

from __future__ import annotations

from typing import Any

from queueserver.auth.credentials import Role
from queueserver.platform.errors import Answer
from queueserver.rules.vocab import EventType


class Times(Answer, frozen=True):
    """Seconds: mean (one decimal), median, 90th percentile (nearest rank), maximum; null
    when nothing was measured."""

    mean: float | None
    median: int | float | None
    p90: int | None
    max: int | None


class Outcomes(Answer, frozen=True, kw_only=True):
    """How tickets ended (served means `done`), their waits and their services; the share who
    waited longer than the centre's target."""

    served: int
    no_shows: int
    declined: int
    waiting_time_s: Times
    service_time_s: Times
    waited_over_target: float | None


class ServiceFigures(Outcomes, frozen=True, kw_only=True):
    arrivals: int


class CounterFigures(Outcomes, frozen=True, kw_only=True):
    calls: int


class Hour(Answer, frozen=True):
    """Local hour: arrivals by issue time, the served and no-shows by end time."""

    hour: int
    arrivals: int
    served: int
    no_shows: int


class QueuePoint(Answer, frozen=True):
    """The most tickets waiting at once in the quarter of an hour starting `at` (HH:MM)."""

    at: str
    waiting: int


class Bin(Answer, frozen=True):
    """How many waited from `from_min` to `to_min` minutes (the last bin has no end)."""

    from_min: int
    to_min: int | None
    count: int


class Stats(ServiceFigures, frozen=True, kw_only=True):
    """A day's figures, worked out from its events (a closed day's, as frozen at its close)."""

    date: str
    wait_target_minutes: int
    by_service: dict[str, ServiceFigures]
    by_counter: dict[str, CounterFigures]
    by_hour: list[Hour]
    queue_length: list[QueuePoint]
    waiting_histogram: list[Bin]
    # Check-ins refused while issuing was closed (CONTRACT §10); 0 in days frozen before it.
    refused_while_closed: int = 0


class Actor(Answer, frozen=True):
    """The credential that acted, by the name and role it had (kept after it is revoked);
    `system` for the server's own jobs."""

    id: str
    name: str | None
    role: Role | None


class Action(Answer, frozen=True):
    """One staff action: an event of the centre's stream or its privacy log."""

    id: str
    at: str
    type: EventType
    credential: Actor
    # The event's data without `by` (its shape is the event type's, CONTRACT §6).
    data: dict[str, Any]


class Audit(Answer, frozen=True):
    centre: str
    date: str
    actions: list[Action]
