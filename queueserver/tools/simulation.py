"""A simulated day: who booked, who comes and when, how long each service takes; and the report.

The distributions are stated here, once: bookings spread evenly over half-hour slots; 10% never
come; the others arrive uniformly from 20 minutes before to 20 minutes after their slot's start;
5% are priority (elderly, disabled, pregnant); service times are lognormal with a mean of 6
minutes (sigma 0.5 on the log scale: most take 3 to 10 minutes); 3% are declined at the counter,
after a service of the same distribution. A seed makes a day repeatable.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass, field
from typing import Any

from queueserver.rules import identity
from queueserver.rules.vocab import ApplicationType

SLOT_MINUTES = 30
NO_SHOW_SHARE = 0.10
ARRIVAL_SPREAD_MINUTES = 20
PRIORITY_SHARE = 0.05
DECLINE_SHARE = 0.03
SERVICE_MEAN_MINUTES = 6.0
SERVICE_SIGMA = 0.5
# The booking mix: most come to renew.
TYPE_WEIGHTS = {ApplicationType.FIRST: 0.35, ApplicationType.RENEWAL: 0.55,
                ApplicationType.REISSUE_LOST: 0.05, ApplicationType.REISSUE_DAMAGED: 0.05}
# The accuracy target's band: an estimate within this many minutes of the wait counts as right.
WITHIN_MINUTES = 5


@dataclass(frozen=True)
class Visit:
    ref: str
    id_number: str
    application_type: ApplicationType
    slot: dt.datetime
    arrives: dt.datetime | None  # None: a no-show (never comes)
    priority: bool
    service_s: float
    declined: bool


def hkid(rng: random.Random) -> str:
    """A made-up Hong Kong identity card number whose check digit is right."""
    letter, digits = rng.choice("ABCDEGHKMPRTVYZ"), f"{rng.randrange(10 ** 6):06d}"
    return f"{letter}{digits}({identity.hkid_check_digit(letter, digits)})"


def service_seconds(rng: random.Random) -> float:
    mu = math.log(SERVICE_MEAN_MINUTES * 60) - SERVICE_SIGMA ** 2 / 2
    return rng.lognormvariate(mu, SERVICE_SIGMA)


def plan_day(bookings: int, first_slot: dt.datetime, hours: float, run: str,
             seed: int) -> list[Visit]:
    """`bookings` spread evenly over the day's slots from `first_slot`, in booking order."""
    rng = random.Random(seed)
    slots = max(1, int(hours * 60 // SLOT_MINUTES))
    types, weights = list(TYPE_WEIGHTS), list(TYPE_WEIGHTS.values())
    visits = []
    for i in range(bookings):
        slot = first_slot + dt.timedelta(minutes=SLOT_MINUTES * (i * slots // bookings))
        comes = rng.random() >= NO_SHOW_SHARE
        offset = rng.uniform(-ARRIVAL_SPREAD_MINUTES, ARRIVAL_SPREAD_MINUTES)
        visits.append(Visit(
            ref=f"SIM{run}{i:05d}", id_number=hkid(rng),
            application_type=rng.choices(types, weights)[0], slot=slot,
            arrives=slot + dt.timedelta(minutes=offset) if comes else None,
            priority=rng.random() < PRIORITY_SHARE, service_s=service_seconds(rng),
            declined=rng.random() < DECLINE_SHARE))
    return visits


@dataclass
class Outcome:
    """What happened to one checked-in visit, in the server's time."""

    number: str
    estimate_minutes: int | None  # None: no counter was open for its service at check-in
    issued: dt.datetime
    called: dt.datetime | None = None
    ended: dt.datetime | None = None
    declined: bool = False


@dataclass
class Tally:
    bookings: int = 0
    no_shows: int = 0
    check_ins: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    events: int = 0
    outcomes: dict[str, Outcome] = field(default_factory=dict)


def _summary(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "median": None, "p90": None, "max": None}
    ordered = sorted(values)
    n = len(ordered)
    median = (ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2)
    return {"mean": round(sum(ordered) / n, 2), "median": round(median, 2),
            "p90": round(ordered[math.ceil(0.9 * n) - 1], 2), "max": round(ordered[-1], 2)}


def report(t: Tally, settings: dict[str, Any], real_seconds: float) -> dict[str, Any]:
    done = [o for o in t.outcomes.values() if o.ended is not None and not o.declined]
    called = [o for o in t.outcomes.values() if o.called is not None]
    waits = [(o.called - o.issued).total_seconds() / 60 for o in called if o.called]
    errors = [abs(o.estimate_minutes - (o.called - o.issued).total_seconds() / 60)
              for o in called if o.called and o.estimate_minutes is not None]
    ends = [o.ended for o in t.outcomes.values() if o.ended]
    first = min((o.issued for o in t.outcomes.values()), default=None)
    span_h = ((max(ends) - first).total_seconds() / 3600) if ends and first else 0.0
    by_hour: dict[str, int] = {}
    for o in done:
        assert o.ended is not None
        key = o.ended.strftime("%H:00")
        by_hour[key] = by_hour.get(key, 0) + 1
    bins = [0] * 7
    for w in waits:
        bins[min(6, int(w // 5))] += 1
    return {
        "settings": settings,
        "bookings": t.bookings, "no_shows": t.no_shows, "check_ins": t.check_ins,
        "tickets": len(t.outcomes), "refused": t.refused, "errors": t.errors,
        "served": len(done), "declined": sum(1 for o in t.outcomes.values() if o.declined),
        "unfinished": sum(1 for o in t.outcomes.values() if o.ended is None),
        "events_received": t.events,
        "throughput": {"served_per_hour": round(len(done) / span_h, 1) if span_h else None,
                       "day_hours": round(span_h, 2), "served_by_hour": by_hour},
        "waiting_minutes": {**_summary(waits),
                            "histogram": {f"{i * 5}-{i * 5 + 5}" if i < 6 else "30+": c
                                          for i, c in enumerate(bins)}},
        "estimates": {"compared": len(errors),
                      "without_figure": sum(1 for o in t.outcomes.values()
                                            if o.estimate_minutes is None),
                      "mae_minutes": round(sum(errors) / len(errors), 2) if errors else None,
                      f"within_{WITHIN_MINUTES}_minutes": round(
                          sum(1 for e in errors if e <= WITHIN_MINUTES) / len(errors), 3)
                      if errors else None},
        "real_seconds": round(real_seconds, 1),
    }


def text(r: dict[str, Any]) -> str:
    w, e, tp = r["waiting_minutes"], r["estimates"], r["throughput"]
    s = r["settings"]
    lines = [
        f"simulated day: {r['bookings']} bookings, {s['counters']} counters, speed "
        f"{s['speed']:g}x, {r['real_seconds']} s real",
        f"arrivals: {r['check_ins']} check-ins, {r['tickets']} tickets, {r['no_shows']} "
        f"no-shows (never came), refused {r['refused'] or 'none'}",
        f"served {r['served']}, declined {r['declined']}, unfinished {r['unfinished']}; "
        f"throughput {tp['served_per_hour']} an hour over {tp['day_hours']} h",
        f"waiting minutes: mean {w['mean']}, median {w['median']}, p90 {w['p90']}, max "
        f"{w['max']}; by 5 minutes {w['histogram']}",
        f"estimates at check-in: MAE {e['mae_minutes']} min, within ±{WITHIN_MINUTES} min "
        f"{e[f'within_{WITHIN_MINUTES}_minutes']} of {e['compared']} (no counter open: "
        f"{e['without_figure']})",
        f"events received on the WebSocket: {r['events_received']}; errors: "
        f"{len(r['errors'])}",
    ]
    return "\n".join(lines)
