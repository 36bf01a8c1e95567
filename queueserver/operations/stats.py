"""A day's statistics, worked out from the centre's event stream (CONTRACT §5, Operations).

The stream is the single source of truth: nothing here reads tickets. Served means `done`;
waiting time is the first call less the issue time; service time is the end (`done` or
`declined`) less the last call. A ticket counts once, by where it ended: a no-show who came back
and was served is served, not a no-show. By service: arrivals and waiting times under the service
the ticket was issued to, ends and service times under the service it ended in (a transfer moves
it). By counter: every call it made (recalls aside), the waits its first calls ended, and the
services it ended. By hour (local): arrivals by
issue time, the served by end time. Check-ins refused while issuing was closed (a typhoon signal,
a black rainstorm: `centre.checkin_refused`) are counted for the day: the people turned away.

A closed day is read from its frozen figures (`keys.day_close`), never worked out again.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import redis
import redis.asyncio

from queueserver.rules.vocab import EventType, TicketStatus
from queueserver.store import keys

# One page of a stream read: a day of a busy centre is a few thousand events.
PAGE = 1000
# The queue-length series has a point every this many minutes: fine enough for a day's chart.
QUEUE_SAMPLE_MINUTES = 15
# The waiting-time histogram: 5-minute bins up to an hour, then one bin for the rest.
HISTOGRAM_BIN_MINUTES = 5
HISTOGRAM_BINS = 12

Event = tuple[str, dict[str, str]]
# The events that end a ticket's service, and the status each leaves it in.
ENDS = {EventType.TICKET_NO_SHOW: TicketStatus.NO_SHOW, EventType.TICKET_DONE: TicketStatus.DONE,
        EventType.TICKET_DECLINED: TicketStatus.DECLINED}
# The steps between (a void makes the ticket accepted again).
STEPS = {EventType.TICKET_ACCEPTED: TicketStatus.ACCEPTED, EventType.TICKET_PAID: TicketStatus.PAID,
         EventType.TICKET_PAYMENT_VOIDED: TicketStatus.ACCEPTED}


@dataclass
class _Ticket:
    service: str
    issued: dt.datetime
    first_call: dt.datetime | None = None
    first_counter: int | None = None
    last_call: dt.datetime | None = None
    status: TicketStatus = TicketStatus.WAITING
    end_service: str = ""
    end_counter: int | None = None
    ended: dt.datetime | None = None


@dataclass
class _Group:
    arrivals: int = 0
    calls: int = 0
    served: int = 0
    no_shows: int = 0
    declined: int = 0
    waits: list[int] = field(default_factory=list)
    services: list[int] = field(default_factory=list)


def summary(values: list[int]) -> dict[str, float | int | None]:
    """Mean (one decimal), median, 90th percentile (nearest rank) and maximum, in seconds."""
    if not values:
        return {"mean": None, "median": None, "p90": None, "max": None}
    ordered = sorted(values)
    n = len(ordered)
    middle = n // 2
    median: float | int = (ordered[middle] if n % 2
                           else (ordered[middle - 1] + ordered[middle]) / 2)
    if isinstance(median, float) and median.is_integer():
        median = int(median)
    return {"mean": round(sum(ordered) / n, 1), "median": median,
            "p90": ordered[math.ceil(0.9 * n) - 1], "max": ordered[-1]}


def _share_over(waits: list[int], target_s: int) -> float | None:
    if not waits:
        return None
    return round(sum(1 for w in waits if w > target_s) / len(waits), 3)


def _seconds(later: dt.datetime, earlier: dt.datetime) -> int:
    return max(0, int((later - earlier).total_seconds()))


def _figures(g: _Group, target_s: int, counter: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"calls": g.calls} if counter else {"arrivals": g.arrivals}
    out.update({
        "served": g.served, "no_shows": g.no_shows, "declined": g.declined,
        "waiting_time_s": summary(g.waits), "service_time_s": summary(g.services),
        "waited_over_target": _share_over(g.waits, target_s),
    })
    return out


def compute(events: Iterable[Event], date: str, wait_target_minutes: int) -> dict[str, Any]:
    """The day's figures from its events (those whose `at` falls on `date`), in stream order."""
    tickets: dict[str, _Ticket] = {}
    steps: list[tuple[dt.datetime, int]] = []  # the hall's waiting count changes
    calls: list[int] = []  # the counter of every call
    refused = 0
    for _, fields in events:
        at_raw = fields.get("at", "")
        if not at_raw.startswith(date):
            continue
        kind = fields.get("type", "")
        if kind == EventType.CENTRE_CHECKIN_REFUSED:
            refused += 1
            continue
        if not kind.startswith("ticket."):
            continue
        at = dt.datetime.fromisoformat(at_raw)
        data = json.loads(fields.get("data", "{}"))
        number = str(data.get("ticket", ""))
        if kind == EventType.TICKET_ISSUED:
            tickets[number] = _Ticket(service=str(data.get("service", "")), issued=at)
            steps.append((at, +1))
            continue
        t = tickets.get(number)
        if t is None:
            continue  # issued before this day's stream begins: not this day's ticket
        counter = data.get("counter")
        if kind == EventType.TICKET_CALLED:
            if t.first_call is None:
                t.first_call, t.first_counter = at, int(counter)
            t.last_call, t.status = at, TicketStatus.CALLED
            calls.append(int(counter))
            steps.append((at, -1))
        elif kind in (EventType.TICKET_TRANSFERRED, EventType.TICKET_REQUEUED):
            t.status = TicketStatus.WAITING
            steps.append((at, +1))
        elif kind in ENDS:
            if kind == EventType.TICKET_NO_SHOW and t.status is TicketStatus.WAITING:
                steps.append((at, -1))  # the day close ends tickets that were never called
            t.status = ENDS[EventType(kind)]
            t.end_service = str(data.get("service", t.service))
            t.end_counter = int(counter) if counter is not None else None
            t.ended = at
        elif kind in STEPS:
            t.status = STEPS[EventType(kind)]
    return _assemble(tickets, steps, calls, date, wait_target_minutes, refused)


def _assemble(tickets: dict[str, _Ticket], steps: list[tuple[dt.datetime, int]],
              calls: list[int], date: str, wait_target_minutes: int,
              refused: int) -> dict[str, Any]:
    target_s = wait_target_minutes * 60
    day = _Group()
    services: dict[str, _Group] = {}
    counters: dict[int, _Group] = {}
    hours: dict[int, dict[str, int]] = {}

    for n in calls:
        counters.setdefault(n, _Group()).calls += 1

    def hour(h: int) -> dict[str, int]:
        return hours.setdefault(h, {"hour": h, "arrivals": 0, "served": 0, "no_shows": 0})

    for t in tickets.values():
        issued_in = services.setdefault(t.service, _Group())
        for g in (day, issued_in):
            g.arrivals += 1
        hour(t.issued.hour)["arrivals"] += 1
        if t.first_call is not None and t.first_counter is not None:
            wait = _seconds(t.first_call, t.issued)
            first = counters.setdefault(t.first_counter, _Group())
            for g in (day, issued_in, first):
                g.waits.append(wait)
        if t.status not in ENDS.values() or t.ended is None:
            continue
        groups = [day, services.setdefault(t.end_service, _Group())]
        if t.end_counter is not None:
            groups.append(counters.setdefault(t.end_counter, _Group()))
        for g in groups:
            if t.status is TicketStatus.DONE:
                g.served += 1
            elif t.status is TicketStatus.DECLINED:
                g.declined += 1
            else:
                g.no_shows += 1
        if t.status is TicketStatus.DONE:
            hour(t.ended.hour)["served"] += 1
        elif t.status is TicketStatus.NO_SHOW:
            hour(t.ended.hour)["no_shows"] += 1
        if t.status is not TicketStatus.NO_SHOW and t.last_call is not None:
            for g in groups:
                g.services.append(_seconds(t.ended, t.last_call))
    return {
        "date": date,
        **_figures(day, target_s),
        "refused_while_closed": refused,
        "wait_target_minutes": wait_target_minutes,
        "by_service": {s: _figures(g, target_s) for s, g in sorted(services.items())},
        "by_counter": {str(n): _figures(g, target_s, counter=True)
                       for n, g in sorted(counters.items())},
        "by_hour": [hours[h] for h in sorted(hours)],
        "queue_length": _queue_length(steps),
        "waiting_histogram": histogram(day.waits),
    }


def histogram(waits: list[int]) -> list[dict[str, Any]]:
    """How many waited 0-5 minutes, 5-10, ... and the last bin open-ended (`to_min` null)."""
    counts = [0] * (HISTOGRAM_BINS + 1)
    for w in waits:
        counts[min(HISTOGRAM_BINS, w // (HISTOGRAM_BIN_MINUTES * 60))] += 1
    return [{"from_min": i * HISTOGRAM_BIN_MINUTES,
             "to_min": (i + 1) * HISTOGRAM_BIN_MINUTES if i < HISTOGRAM_BINS else None,
             "count": c} for i, c in enumerate(counts)]


def _queue_length(steps: list[tuple[dt.datetime, int]]) -> list[dict[str, Any]]:
    """The most tickets waiting at once in each QUEUE_SAMPLE_MINUTES, from the first event's
    quarter to the last's, quiet quarters included (the queue carried over)."""
    if not steps:
        return []
    width = dt.timedelta(minutes=QUEUE_SAMPLE_MINUTES)

    def slot_of(at: dt.datetime) -> dt.datetime:
        return at.replace(minute=at.minute - at.minute % QUEUE_SAMPLE_MINUTES, second=0,
                          microsecond=0)

    ordered = sorted(steps, key=lambda s: s[0])
    out: list[dict[str, Any]] = []
    slot, peak, waiting, i = slot_of(ordered[0][0]), 0, 0, 0
    last = slot_of(ordered[-1][0])
    while slot <= last:
        peak = waiting
        while i < len(ordered) and ordered[i][0] < slot + width:
            waiting = max(0, waiting + ordered[i][1])
            peak = max(peak, waiting)
            i += 1
        out.append({"at": slot.strftime("%H:%M"), "waiting": peak})
        slot += width
    return out


# --- CSV --------------------------------------------------------------------------------------

_TIMES = ("mean", "median", "p90", "max")
CSV_COLUMNS = (
    ["scope", "key", "arrivals", "calls", "served", "no_shows", "declined"]
    + [f"waiting_{m}_s" for m in _TIMES] + [f"service_{m}_s" for m in _TIMES]
    + ["waited_over_target", "feedback_count", "feedback_mean", "refused_while_closed"]
)


def _row(scope: str, key: str, figures: dict[str, Any]) -> list[Any]:
    def blank(v: Any) -> Any:
        return "" if v is None else v

    return [scope, key, blank(figures.get("arrivals")), blank(figures.get("calls")),
            blank(figures.get("served")), blank(figures.get("no_shows")),
            blank(figures.get("declined")),
            *(blank(figures.get("waiting_time_s", {}).get(m)) for m in _TIMES),
            *(blank(figures.get("service_time_s", {}).get(m)) for m in _TIMES),
            blank(figures.get("waited_over_target")), "", "",
            blank(figures.get("refused_while_closed"))]


def _rated(row: list[Any], rated: dict[str, Any] | None) -> list[Any]:
    """The feedback's count and mean (CONTRACT §9) in their columns of a row."""
    if rated:
        at = CSV_COLUMNS.index("feedback_count")
        row[at:at + 2] = [rated.get("count", ""),
                          "" if rated.get("mean") is None else rated["mean"]]
    return row


def to_csv(stats: dict[str, Any]) -> str:
    """One table a spreadsheet opens as it is: the day, then each service, counter and hour,
    then (with feedback) how many gave each rating."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(CSV_COLUMNS)
    feedback: dict[str, Any] | None = stats.get("feedback")
    w.writerow(_rated(_row("day", stats["date"], stats), feedback))
    for code, figures in stats["by_service"].items():
        w.writerow(_row("service", code, figures))
    rated_counters = (feedback or {}).get("by_counter", {})
    for number in sorted(set(stats["by_counter"]) | set(rated_counters), key=int):
        w.writerow(_rated(_row("counter", number, stats["by_counter"].get(number, {})),
                          rated_counters.get(number)))
    for h in stats["by_hour"]:
        w.writerow(_row("hour", f"{h['hour']:02d}", h))
    if feedback is not None:
        for rating, count in feedback.get("by_rating", {}).items():
            w.writerow(_rated(_row("rating", rating, {}), {"count": count}))
    return out.getvalue()


# --- reading the events -----------------------------------------------------------------------

def read_events(r: redis.Redis, stream: str) -> list[Event]:
    out: list[Event] = []
    start = "-"
    while True:
        page: Any = r.xrange(stream, min=start, count=PAGE)
        out.extend((str(i), dict(f)) for i, f in page)
        if len(page) < PAGE:
            return out
        start = "(" + str(page[-1][0])


async def read_events_async(r: redis.asyncio.Redis, stream: str) -> list[Event]:
    out: list[Event] = []
    start = "-"
    while True:
        page: Any = await r.xrange(stream, min=start, count=PAGE)
        out.extend((str(i), dict(f)) for i, f in page)
        if len(page) < PAGE:
            return out
        start = "(" + str(page[-1][0])


async def for_day(r: redis.asyncio.Redis, centre: str, date: str,
                  wait_target_minutes: int) -> dict[str, Any]:
    """Frozen figures of a closed day, else worked out from its archive or the live stream."""
    frozen = await r.hget(keys.day_close(centre, date), "stats")
    if frozen:
        result: dict[str, Any] = json.loads(frozen)
        return result
    stream = keys.archive(centre, date)
    if not await r.exists(stream):
        stream = keys.events(centre)
    return compute(await read_events_async(r, stream), date, wait_target_minutes)


def measured_service_minutes(r: redis.Redis, centre: str, dates: Iterable[str]) -> float | None:
    """The mean service time, in minutes, over the closed days given (their frozen figures),
    each day weighted by the services it ended; None when none of them measured any (capacity
    "auto" of the booking platform, CONTRACT §11)."""
    wanted = list(dates)
    if not wanted:
        return None
    pipe = r.pipeline(transaction=False)
    for date in wanted:
        pipe.hget(keys.day_close(centre, date), "stats")
    total_s = 0.0
    count = 0
    for frozen in pipe.execute():
        if not frozen:
            continue
        figures = json.loads(frozen)
        ended = int(figures.get("served") or 0) + int(figures.get("declined") or 0)
        mean = (figures.get("service_time_s") or {}).get("mean")
        if ended and mean is not None:
            total_s += float(mean) * ended
            count += ended
    return total_s / count / 60 if count else None
