"""The opening rush (issue 21): thousands of approved applicants book the first slots of the
day that has just opened, through the serve processes, as fast as they can.

Two phases, each measured alone: every applicant lists the 31 days of its centre (the page's
first call, one script, one Redis round trip), then every applicant books the first slot of the
new day its listing showed free; on `slot_full` it reads the day's free slots that the
refusal carries, as the booking page does, and books the first slot still free, until it has a
place (at most MAX_TRIES times). The applicants are spread over the city's centres; `CONNECTIONS`
of them talk at once, each over its own keep-alive connection. After the rush each slot's
places are read back: `overbooked` counts places given beyond a slot's capacity, and the 201s
must equal the places taken.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import redis
import uvloop

from queueserver.appointments import applications, calendar
from queueserver.appointments.applications import Application, ApplicationStore
from queueserver.platform.clock import Clock
from queueserver.platform.config import Centre, Config
from queueserver.rules import identity
from queueserver.store import keys
from queueserver.tools.bench import report
from queueserver.tools.bench.procs import Process
from queueserver.tools.bench.wire import Http

FULL_APPLICANTS = 5000
SHORT_APPLICANTS = 500
CONNECTIONS = 64
SHORT_CONNECTIONS = 16
MAX_TRIES = 20


class _Slot(msgspec.Struct):
    date: str
    start: str


class _Listing(msgspec.Struct):
    slots: list[_Slot]


class _Full(msgspec.Struct):
    listing: _Listing | None = None


# A listing's answer, read for what the client needs (31 days are some 30 KB of JSON), and a
# `slot_full` refusal's, which carries the day's listing.
LISTING = msgspec.json.Decoder(_Listing)
FULL = msgspec.json.Decoder(_Full)


@dataclass
class Applicant:
    token: str
    centre: str
    listed: list[str]  # the new day's starts its listing showed free, in order


def opened_day(centre: Centre, now: dt.datetime) -> dt.date:
    """The day that has just opened: the last bookable day of the horizon."""
    day = calendar.last_day(centre, now.date())
    while not calendar.bookable(centre, now, day):
        day -= dt.timedelta(days=1)
    return day


def _hkid(n: int) -> str:
    digits = f"{n % 1_000_000:06d}"
    prefix = "ABCDEGHKMPRVYZ"[n // 1_000_000 % 14]
    return f"{prefix}{digits}({identity.hkid_check_digit(prefix, digits)})"


def seed(r: redis.Redis, config: Config, clock: Clock, secret: bytes,
         count: int) -> list[Applicant]:
    """`count` approved applications, through the import's own store, spread over the centres."""
    run = secrets.token_hex(3).upper()
    people = [Application(
        ref=f"RUSH{run}{i:05d}", application_type="first", surname="RUSH", given_names="BENCH",
        id_kind="hkid", id_number=_hkid(i), passport_no=f"B{i:07d}", nationality="HKG",
        email=f"rush{i}@bench.invalid", status="approved") for i in range(count)]
    ApplicationStore(r, secret, config, "bench", clock).apply(people)
    pipe = r.pipeline(transaction=False)
    for p in people:
        pipe.hget(keys.application_refs(), p.ref)
    digests = pipe.execute()
    for d in digests:
        pipe.hget(keys.application(str(d)), "salt")
    salts = pipe.execute()
    centres = config.centres
    return [Applicant(applications.token_for(secret, str(salt)), centres[i % len(centres)].id,
                      []) for i, salt in enumerate(salts)]


async def _phase(targets: Sequence[Process], people: list[Applicant], connections: int,
                 step: Any) -> tuple[list[float], dict[int, int], float]:
    todo = iter(people)
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def client(i: int) -> None:
        t = targets[i % len(targets)]
        http = Http(t.host, t.port, {})
        try:
            for person in todo:
                for status, took in await step(http, person):
                    latencies.append(took)
                    statuses[status] = statuses.get(status, 0) + 1
        finally:
            await http.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(connections)))
    return latencies, statuses, time.perf_counter() - started


async def _rush(targets: Sequence[Process], people: list[Applicant], day: dt.date,
                connections: int) -> dict[str, Any]:
    first = day - dt.timedelta(days=calendar.MAX_LISTING_DAYS - 1)
    date = day.isoformat()

    async def listing(http: Http, person: Applicant) -> list[tuple[int, float]]:
        started = time.perf_counter()
        status, body = await http.get(f"/api/v1/book/{person.token}/slots?centre="
                                      f"{person.centre}&from={first}&to={date}")
        took = (time.perf_counter() - started) * 1000
        if status == 200:
            person.listed = [s.start for s in LISTING.decode(body).slots if s.date == date]
        return [(status, took)]

    async def booking(http: Http, person: Applicant) -> list[tuple[int, float]]:
        out = []
        for _ in range(MAX_TRIES):
            if not person.listed:
                break
            body = json.dumps({"centre": person.centre, "date": date,
                               "start": person.listed[0]}).encode()
            started = time.perf_counter()
            status, answer = await http.post(f"/api/v1/book/{person.token}/appointment",
                                             body)
            out.append((status, (time.perf_counter() - started) * 1000))
            if status != 409:
                break
            # Taken meanwhile: the refusal lists the day's free slots, as the page reads them.
            listing = FULL.decode(answer).listing
            if listing is None:  # another 409: the day listed again (not measured)
                found, answer = await http.get(f"/api/v1/book/{person.token}/slots?centre="
                                               f"{person.centre}&from={date}&to={date}")
                listing = LISTING.decode(answer) if found == 200 else _Listing([])
            person.listed = [s.start for s in listing.slots]
        return out

    listed, list_statuses, _ = await _phase(targets, people, connections, listing)
    booked, statuses, elapsed = await _phase(targets, people, connections, booking)
    return {"listed": listed, "list_statuses": list_statuses, "booked": booked,
            "statuses": statuses, "elapsed": elapsed}


def run(targets: Sequence[Process], r: redis.Redis, config: Config, clock: Clock,
        secret: bytes, short: bool) -> dict[str, Any]:
    count = SHORT_APPLICANTS if short else FULL_APPLICANTS
    people = seed(r, config, clock, secret, count)
    now = clock.now()
    centre = config.centres[0]
    day = opened_day(centre, now)
    # The servers' own event loop (uvicorn's): the client shares the machine's two cores with
    # them and Redis, and spends a third less on each request on it than on asyncio's.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        found = runner.run(_rush(targets, people, day, SHORT_CONNECTIONS if short
                                 else CONNECTIONS))
    statuses: dict[int, int] = found["statuses"]
    ok = statuses.get(201, 0)
    taken = 0
    overbooked = 0
    for c in config.centres:
        places: Any = r.hgetall(keys.slot_places(c.id, day.isoformat()))
        for start in calendar.starts(c):
            n = int(places.get(start) or 0)
            taken += n
            overbooked += max(0, n - int(c.appointments.capacity))
    both = {**found["list_statuses"]}
    for s, n in statuses.items():
        both[s] = both.get(s, 0) + n
    spread = report.spread(found["booked"])
    return {
        "applicants": count, "bookings": ok,
        "bookings_per_s": round(ok / found["elapsed"], 1),
        "p50_ms": spread["p50_ms"], "p99_ms": spread["p99_ms"],
        # Every 201 is a place taken, and no slot holds more than it has.
        "overbooked": overbooked + abs(taken - ok),
        "errors_5xx": sum(n for s, n in both.items() if s >= 500),
        "listing_p99_ms": report.spread(found["listed"])["p99_ms"],
        "slot_full": statuses.get(409, 0),
        # Every booking request, refusals included: an applicant whose listing's first slot
        # filled meanwhile tries the next one it showed.
        "requests": sum(statuses.values()),
        "requests_per_s": round(sum(statuses.values()) / found["elapsed"], 1),
        "day": day.isoformat(), "connections": SHORT_CONNECTIONS if short else CONNECTIONS,
        "other_statuses": {str(s): n for s, n in both.items() if s not in (200, 201, 409)},
    }
