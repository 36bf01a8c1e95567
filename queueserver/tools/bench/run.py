"""`queueserver bench`: its own Redis and serve processes (or given ones), the floor beside them,
then check-ins from concurrent desks and calls watched by 30 and 1,000 displays.

Every process runs on this machine with the clients, as the issue's targets assume. Times are
wall-clock (`time.time()`), the clock Redis stamps stream ids with, so an event's server-side
time is its id's milliseconds; that stamp is truncated to the millisecond, so the event-to-display
figures read up to 1 ms high.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import secrets
import sys
import tempfile
import time
import zoneinfo
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec
import redis

from queueserver.auth import credentials as auth
from queueserver.booking_sync import bench as import_bench
from queueserver.bookings.store import Booking, BookingStore
from queueserver.platform import connections
from queueserver.platform.clock import Clock, from_environment, iso
from queueserver.platform.config import Centre, Config, load
from queueserver.rules.vocab import EventType
from queueserver.store import keys
from queueserver.tools.bench import report, rush, slowlog
from queueserver.tools.bench.procs import (
    BENCH_CENTRES,
    BenchError,
    Process,
    city_config,
    private_redis,
    started,
)
from queueserver.tools.bench.slowlog import Slowlog
from queueserver.tools.bench.wire import Display, Http, Phone, Tally, open_display, open_phone


@dataclass(frozen=True)
class Plan:
    check_ins: int
    desks: int
    displays: tuple[int, ...]
    calls: int
    # The follow page (CONTRACT §9): phones following one centre's tickets while its 30
    # displays get calls, and how many calls are measured with and without them.
    phones: int = 0
    phone_calls: int = 0
    # Check-ins measured into a centre that has DEPTHS people waiting (issue 20: a check-in
    # must cost the same at 5,000 waiting as at 10).
    depth_check_ins: int = 0
    # `bookings import` of a made-up export of this many new bookings (booking_sync/bench.py).
    import_rows: int = 0


# The queues' lengths at which check-in is measured, each in a centre of its own.
DEPTHS = (10, 5000)
# The issue's sizes: one centre's 30 screens, and 1,000 spread over the processes; 2,000 phones
# on that centre.
FULL = Plan(check_ins=6000, desks=64, displays=(30, 1000), calls=200, phones=2000,
            phone_calls=50, depth_check_ins=1000, import_rows=200_000)
# A few seconds, for CI: it proves the command works, not that the machine is fast.
SHORT = Plan(check_ins=300, desks=16, displays=(30, 100), calls=15, phones=200, phone_calls=6,
             depth_check_ins=100, import_rows=2000)
DISPLAYS_PER_TOKEN = 100
# The displays that watch the phones' centre (one hall's screens).
PHONE_HALL_DISPLAYS = 30
# Sockets are opened this many at a time, well under the listen backlog.
CONNECT_BATCH = 50
# How long one call may take to reach every display before the run is declared broken.
DELIVERY_TIMEOUT_S = 15.0
# Idle displays settle (handshakes done, buffers trimmed) this long before memory is read.
SETTLE_S = 1.0
# Where the clock of the servers a run starts stands when they start: a centre's working
# morning, whatever the hour of the run.
BENCH_TIME = dt.time(11, 0)
TEST_CLOCK_ENV = ("QUEUESERVER_TEST_MODE", "QUEUESERVER_TEST_NOW", "QUEUESERVER_TEST_SPEED",
                  "QUEUESERVER_TEST_CLOCK_FILE")


def servers_clock(now: dt.datetime) -> tuple[Clock, dict[str, str]]:
    """The clock of a run's own servers, and the environment that gives it to them: it starts
    at BENCH_TIME of `now`'s date. On the real clock, a run started before midnight would see
    the day change under it (a call on one day, its no-show on the next), and the booking rush
    would open a different day at each hour. (Test mode changes the clock and nothing else.)"""
    assert isinstance(now.tzinfo, zoneinfo.ZoneInfo)
    start = dt.datetime.combine(now.date(), BENCH_TIME, now.tzinfo)
    return Clock(now.tzinfo, start), {"QUEUESERVER_TEST_MODE": "1",
                                      "QUEUESERVER_TEST_NOW": start.isoformat()}


def _body(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


Request = tuple[str, bytes]  # a path and a body


@dataclass
class Seeded:
    centre: str  # where the calls are made and the displays watch
    admin: str
    # Display credentials, each shared by DISPLAYS_PER_TOKEN screens at most: a credential's
    # rate limit (auth/ratelimit.py) allows a burst of 600 requests, and a socket's opening is
    # one (a hall's TVs have a token each; a thousand screens on one would be refused).
    displays: list[str]
    counters: list[int]
    check_ins: list[Request]
    photos: list[Request]
    # The phones' tickets, all in the first centre: checked in just before the phones' pass.
    phone_check_ins: list[Request]
    phone_photos: list[Request]
    # By depth: its centre and counters, the photo receipts, the check-ins that fill its
    # centre's queue, then those measured.
    depth: dict[int, Depth]


@dataclass
class Depth:
    centre: str
    counters: list[int]
    photos: list[Request]
    fill: list[Request]
    measured: list[Request]


def _seed(r: redis.Redis, config: Config, clock: Clock, centres: Sequence[Centre],
          secret: bytes, plan: Plan, deep: Sequence[Centre] = ()) -> Seeded:
    """Bookings for today spread over `centres`, as a city's desks would see them; and in each
    of `deep`, a queue of DEPTHS people and the check-ins measured behind it."""
    run = secrets.token_hex(3)
    called = centres[0]
    admin, _ = auth.create_token(r, auth.Role.ADMIN, name=f"bench-admin-{run}")
    displays = [auth.create_token(r, auth.Role.DISPLAY, called.id,
                                  name=f"bench-display-{run}-{i}")[0]
                for i in range(-(-max(plan.displays) // DISPLAYS_PER_TOKEN))]
    where = [centres[i % len(centres)] if i < plan.check_ins else called
             for i in range(plan.check_ins + plan.phones)]
    for centre, waiting in zip(deep, DEPTHS[:len(deep)], strict=True):
        where += [centre] * (waiting + plan.depth_check_ins)
    bookings = []
    for i, centre in enumerate(where):
        kind = next(t for s in centre.services if not s.priority for t in s.application_types)
        bookings.append(Booking(
            ref=f"BENCH{run}{i:06d}", centre=centre.id, date=clock.today(), slot_start="09:00",
            slot_end="09:30", application_type=kind, surname="BENCH", given_names="DESK",
            id_kind="access_notice", id_number=f"BENCH-{run}-{i}", passport_no="",
            nationality="HKG", status="approved"))
    store = BookingStore(r, secret, "bench", iso(clock.now()))
    for start in range(0, len(bookings), 1000):
        store.apply(bookings[start:start + 1000])
    # The desk may check in outside the slot's window: the benchmark runs at any hour.
    check_ins = [(f"/api/v1/centres/{b.centre}/tickets",
                  _body({"booking_ref": b.ref, "id_number": b.id_number,
                         "photo_barcode": b.ref, "override_window": True})) for b in bookings]
    photos = [(f"/api/v1/centres/{b.centre}/photo-receipts", _body({"barcode": b.ref}))
              for b in bookings]
    n, p = plan.check_ins, plan.check_ins + plan.phones
    depth: dict[int, Depth] = {}
    start = p
    for centre, d in zip(deep, DEPTHS[:len(deep)], strict=True):
        end = start + d + plan.depth_check_ins
        depth[d] = Depth(centre.id, [c.number for c in centre.counters], photos[start:end],
                         check_ins[start:start + d], check_ins[start + d:end])
        start = end
    return Seeded(called.id, admin, displays, [c.number for c in called.counters],
                  check_ins[:n], photos[:n], check_ins[n:p], photos[n:p], depth)


async def _desks(targets: Sequence[Process], headers: dict[str, str],
                 requests: Sequence[Request], desks: int) -> dict[str, Any]:
    return _figures([await _desks_run(targets, headers, requests, desks)])


Run = tuple[float, list[float], dict[int, int]]  # seconds, latencies (ms), statuses


async def _desks_run(targets: Sequence[Process], headers: dict[str, str],
                     requests: Sequence[Request], desks: int) -> Run:
    todo = iter(requests)
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def desk(i: int) -> None:
        t = targets[i % len(targets)]
        http = Http(t.host, t.port, headers)
        try:
            for path, body in todo:
                started = time.perf_counter()
                status, _ = await http.post(path, body)
                latencies.append((time.perf_counter() - started) * 1000)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            await http.close()

    started = time.perf_counter()
    await asyncio.gather(*(desk(i) for i in range(desks)))
    return time.perf_counter() - started, latencies, statuses


def _figures(runs: Sequence[Run]) -> dict[str, Any]:
    elapsed = sum(run[0] for run in runs)
    latencies = [ms for run in runs for ms in run[1]]
    statuses: dict[int, int] = {}
    for run in runs:
        for status, n in run[2].items():
            statuses[status] = statuses.get(status, 0) + n
    ok = sum(n for s, n in statuses.items() if s in (200, 201))
    return {"tickets_per_s": round(ok / elapsed, 1), **report.spread(latencies),
            "count": ok, "errors": {str(s): n for s, n in statuses.items() if s >= 300}}


# The check-ins and the floor's relays are run in turns, this many of each, the side that goes
# first changing each turn: this machine's speed drifts by a third within minutes under load
# (docs/benchmarks.md), and one side run wholly after the other would carry the drift.
TURNS = 4


async def _side_by_side(project: tuple[Sequence[Process], dict[str, str], Sequence[Request]],
                        floor: tuple[Sequence[Process], dict[str, str], Sequence[Request]],
                        desks: int) -> tuple[dict[str, Any], dict[str, Any]]:
    runs: dict[str, list[Run]] = {"project": [], "floor": []}
    sides = {"project": project, "floor": floor}
    for turn in range(TURNS):
        for name in (("project", "floor") if turn % 2 == 0 else ("floor", "project")):
            targets, headers, requests = sides[name]
            share = requests[turn * len(requests) // TURNS:(turn + 1) * len(requests) // TURNS]
            runs[name].append(await _desks_run(targets, headers, share, desks))
    return _figures(runs["project"]), _figures(runs["floor"])


Paths = str | Sequence[str]  # one path for every display, or one each in turn


async def _connect(targets: Sequence[Process], paths: Paths, count: int,
                   tally: Tally) -> list[Display]:
    displays: list[Display] = []

    def path(i: int) -> str:
        return paths if isinstance(paths, str) else paths[i % len(paths)]

    for start in range(0, count, CONNECT_BATCH):
        displays += await asyncio.gather(*(
            open_display(targets[i % len(targets)].host, targets[i % len(targets)].port,
                         path(i), tally)
            for i in range(start, min(count, start + CONNECT_BATCH))))
    return displays


def _rss(targets: Sequence[Process]) -> int | None:
    values = [t.rss_kib() for t in targets]
    return None if any(v is None for v in values) else sum(v or 0 for v in values)


# Calls made on each side before the measured ones, not measured: the first call on a clerk's
# connection opens it (the bench's clients reopen one idle for IDLE_REOPEN_S, and the phase
# before took longer). The first two of 200 calls were so slowed, most of a p99's 1%
# (docs/benchmarks.md).
WARM_UP_CALLS = 4


@dataclass
class Side:
    """One side of the calls phase: its serve (or floor) processes, the displays' path, and
    `step(k)`, which makes call k and returns the click's time and the steps that follow it
    (each one event, waited for but not measured)."""

    targets: Sequence[Process]
    ws_path: Paths
    step: Any


async def _calls(sides: dict[str, Side], displays_n: int, calls: int,
                 warm_up: int = WARM_UP_CALLS) -> dict[str, tuple[dict[str, Any], float | None]]:
    """`calls` calls on each side after `warm_up` more, watched by `displays_n` displays of that
    side, the sides in turns (which goes first changing each call) with every side's displays
    open throughout: a stall of this shared machine, or its drift, falls on both alike, not on
    whichever side ran in that minute. Returns each side's figures and KiB per idle display."""
    tallies = {name: Tally() for name in sides}
    displays: dict[str, list[Display]] = {}
    memory: dict[str, float | None] = {}
    event_ms: dict[str, list[float]] = {name: [] for name in sides}
    click_ms: dict[str, list[float]] = {name: [] for name in sides}

    async def call(name: str, k: int, measured: bool) -> None:
        side, tally = sides[name], tallies[name]
        tally.expect(displays_n)
        clicked, then = await side.step(k)
        await asyncio.wait_for(tally.reached.wait(), DELIVERY_TIMEOUT_S)
        if measured:
            for d in displays[name]:
                received_at, raw_id = d.received[-1]
                event_ms[name].append(received_at * 1000 - int(raw_id.split(b"-")[0]))
                click_ms[name].append((received_at - clicked) * 1000)
        for follow in then:
            tally.expect(displays_n)
            await follow()
            await asyncio.wait_for(tally.reached.wait(), DELIVERY_TIMEOUT_S)

    try:
        for name, side in sides.items():
            before = _rss(side.targets)
            displays[name] = await _connect(side.targets, side.ws_path, displays_n,
                                            tallies[name])
            await asyncio.sleep(SETTLE_S)
            after = _rss(side.targets)
            memory[name] = (None if before is None or after is None
                            else round((after - before) / displays_n, 1))
        names = list(sides)
        for k in range(warm_up + calls):
            for name in (names if k % 2 == 0 else names[::-1]):
                await call(name, k, measured=k >= warm_up)
    finally:
        for opened in displays.values():
            for d in opened:
                d.close()
    return {name: ({"event_to_display": report.spread(event_ms[name]),
                    "click_to_display": report.spread(click_ms[name])}, memory[name])
            for name in sides}


def _checked(answer: tuple[int, bytes], what: str) -> bytes:
    status, body = answer
    if status >= 300:
        raise BenchError(f"{what} answered {status}: {body[:300]!r}")
    return body


async def _by_depth(serve: Sequence[Process], admin: dict[str, str], seeded: Seeded,
                    desks: int, slow: Slowlog | None) -> dict[str, Any]:
    """Check-in's throughput and latency into a centre with a queue of each depth and every
    counter open, so that each answer's wait estimate has counters to work with (the queue
    grows by the check-ins measured: `waiting_after`); and, on a private Redis, the check-in
    script's own time in Redis meanwhile (`script_us`: its median is what the machine's load
    moves least)."""
    out: dict[str, Any] = {}
    clerk = Http(serve[0].host, serve[0].port, admin)
    for d in seeded.depth.values():
        for n in d.counters:
            _checked(await clerk.post(f"/api/v1/centres/{d.centre}/counters/{n}/open", b"{}"),
                     "opening a counter")
        await _desks(serve, admin, d.photos, desks)
        await _desks(serve, admin, d.fill, desks)
    await clerk.close()
    # In turns, as the floor's (_side_by_side): the machine's drift is not the queue's cost.
    runs: dict[int, list[Run]] = {depth: [] for depth in seeded.depth}
    times: dict[int, list[int]] = {depth: [] for depth in seeded.depth}
    for turn in range(TURNS):
        order = list(seeded.depth.items())
        for depth, d in (order if turn % 2 == 0 else order[::-1]):
            share = d.measured[turn * len(d.measured) // TURNS:
                               (turn + 1) * len(d.measured) // TURNS]
            if slow is not None:
                slow.trace()
            runs[depth].append(await _desks_run(serve, admin, share, desks))
            if slow is not None:
                times[depth] += slow.traced("checkin")
    for depth in seeded.depth:
        figures = _figures(runs[depth])
        out[str(depth)] = {**figures, "waiting_before": depth,
                           "waiting_after": depth + figures["count"]}
        if slow is not None:
            out[str(depth)]["script_us"] = Slowlog.spread(times[depth])
    return out


async def _measure(serve: Sequence[Process], floor: Sequence[Process], seeded: Seeded,
                   plan: Plan, slow: Slowlog | None,
                   fresh: Process | None = None) -> dict[str, Any]:
    """The figures; the SLOWLOG (on a private Redis) is read as each phase ends. `fresh`: a
    serve process that has held no socket, for the phones' memory."""

    def phase(name: str) -> None:
        if slow is not None:
            slow.take(name)

    c = f"/api/v1/centres/{seeded.centre}"
    admin = {"Authorization": f"Bearer {seeded.admin}"}
    await _desks(serve, admin, seeded.photos, plan.desks)
    project, bare = await _side_by_side(
        (serve, admin, seeded.check_ins),
        (floor, {}, [("/relay", _body(_floor_event(EventType.TICKET_ISSUED, i)))
                     for i in range(plan.check_ins)]), plan.desks)
    result: dict[str, Any] = {"check_in": {"project": project, "floor": bare}}
    phase("check_in")
    if seeded.depth:
        result["check_in_by_depth"] = await _by_depth(serve, admin, seeded, plan.desks, slow)
        phase("check_in_by_depth")
    clerks = [Http(t.host, t.port, admin) for t in serve]
    floor_clerks = [Http(t.host, t.port, {}) for t in floor]
    for n in seeded.counters:
        _checked(await clerks[0].post(f"{c}/counters/{n}/open", b"{}"), "opening a counter")

    async def project_step(k: int) -> tuple[float, Any]:
        clerk, n = clerks[k % len(clerks)], seeded.counters[k % len(seeded.counters)]
        clicked = time.time()
        called = json.loads(_checked(await clerk.post(f"{c}/counters/{n}/call", b"{}"), "a call"))
        number = called["ticket"]["number"]

        async def no_show() -> None:
            _checked(await clerk.post(f"{c}/counters/{n}/no-show", b"{}"), "a no-show")

        async def requeue() -> None:
            # Back in the queue: the calls never run out of tickets, however many there are.
            _checked(await clerk.post(f"{c}/tickets/{number}/requeue", b"{}"), "a requeue")
        return clicked, [no_show, requeue]

    async def floor_step(k: int) -> tuple[float, Any]:
        clerk = floor_clerks[k % len(floor_clerks)]
        clicked = time.time()
        _checked(await clerk.post("/relay", _body(_floor_event(EventType.TICKET_CALLED, k))),
                 "relay")

        async def no_show() -> None:
            _checked(await clerk.post("/relay", _body(_floor_event(EventType.TICKET_NO_SHOW, k))),
                     "relay")

        async def requeue() -> None:
            _checked(await clerk.post("/relay", _body(_floor_event(EventType.TICKET_REQUEUED, k))),
                     "relay")
        return clicked, [no_show, requeue]

    sizes: dict[str, Any] = {}
    memory: dict[str, float | None] = {"project": None, "floor": None}
    ws_path = [f"/ws/centres/{seeded.centre}/events?token={token}"
               for token in seeded.displays]
    for size in plan.displays:
        measured = await _calls({"project": Side(serve, ws_path, project_step),
                                 "floor": Side(floor, "/ws", floor_step)}, size, plan.calls)
        project, memory["project"] = measured["project"]
        bare, memory["floor"] = measured["floor"]
        sizes[str(size)] = {"project": project, "floor": bare, "ratio_p99": {
            m: report.ratio(project[m]["p99_ms"], bare[m]["p99_ms"]) for m in project}}
    for http in clerks + floor_clerks:
        await http.close()
    result["call_to_display"] = sizes
    result["memory_per_idle_display_kib"] = memory
    phase("calls")
    if plan.phones:
        phones = result["phones"] = await _phones(serve, seeded, plan, ws_path, project_step,
                                                  fresh)
        phase("phones")
        # The follow page's figures the issue names, in one place.
        result["follow"] = {
            "phones": phones["phones"],
            "display_p99_ms": {
                "without_phones": phones["event_to_display_without_phones"]["p99_ms"],
                "with_phones": phones["event_to_display_with_phones"]["p99_ms"]},
            "phone_update_p99_ms": phones["event_to_phone"]["p99_ms"],
            "memory_per_idle_phone_kib": phones["memory_per_idle_phone_kib"]}
    return result


async def _open_phones(targets: Sequence[Process], tokens: Sequence[str]) -> list[Phone]:
    phones: list[Phone] = []
    for start in range(0, len(tokens), CONNECT_BATCH):
        phones += await asyncio.gather(*(
            open_phone(targets[i % len(targets)].host, targets[i % len(targets)].port,
                       f"/ws/follow/{tokens[i]}", Tally())
            for i in range(start, min(len(tokens), start + CONNECT_BATCH))))
    return phones


async def _idle_phone_kib(fresh: Process, tokens: Sequence[str]) -> float | None:
    """Resident memory per idle follow socket, on a serve process that has held no socket
    before: one that has (the displays') keeps the memory they freed, and its phones fill
    that first, so its figure says little. The first phone makes the centre's model; the rest
    are measured."""
    first = await _open_phones([fresh], tokens[:1])
    await asyncio.sleep(SETTLE_S)
    before = fresh.rss_kib()
    phones = await _open_phones([fresh], tokens[1:])
    await asyncio.sleep(SETTLE_S)
    after = fresh.rss_kib()
    for p in first + phones:
        p.close()
    if fresh.proc is not None:
        fresh.proc.terminate()  # its model of the centre would go on working beside the rest
    if before is None or after is None or not phones:
        return None
    return round((after - before) / len(phones), 1)


async def _phones(serve: Sequence[Process], seeded: Seeded, plan: Plan, ws_path: Paths,
                  step: Any, fresh: Process | None = None) -> dict[str, Any]:
    """A hall's 30 displays get calls without phones, then with `plan.phones` phones following
    tickets of the same centre, each call moving every one of them up a place: what the phones
    cost the displays, and how soon each phone hears of its new place. (The phones' tickets are
    checked in behind the centre's own, which the calls take and requeue behind them: each
    centre holds 2 x `phone_calls` of its own at least.)"""
    admin = {"Authorization": f"Bearer {seeded.admin}"}
    await _desks(serve, admin, seeded.phone_photos, plan.desks)
    tokens = await _phone_tokens(serve, admin, seeded.phone_check_ins, plan.desks)
    memory = await _idle_phone_kib(fresh, tokens) if fresh else None
    # No warm-up: the calls with phones need the centre's own tickets still ahead of them.
    without, _ = (await _calls({"project": Side(serve, ws_path, step)}, PHONE_HALL_DISPLAYS,
                               plan.phone_calls, warm_up=0))["project"]
    before = _rss(serve)
    phones = await _open_phones(serve, tokens)
    await asyncio.sleep(SETTLE_S)
    after = _rss(serve)
    if memory is None and before is not None and after is not None:
        memory = round((after - before) / len(phones), 1)
    tally = Tally()
    displays = await _connect(serve, ws_path, PHONE_HALL_DISPLAYS, tally)
    to_display: list[float] = []
    to_phone: list[float] = []
    click_to_phone: list[float] = []
    try:
        for k in range(plan.phone_calls):
            wanted = [p.ticket()["position"] - 1 for p in phones]
            tally.expect(PHONE_HALL_DISPLAYS)
            clicked, then = await step(k)
            await asyncio.wait_for(tally.reached.wait(), DELIVERY_TIMEOUT_S)
            event_ms = int(displays[0].received[-1][1].split(b"-")[0])
            to_display += [d.received[-1][0] * 1000 - event_ms for d in displays]
            await _every_phone_moved(phones, wanted)
            for p, want in zip(phones, wanted, strict=True):
                at = next(t for t, m in reversed(p.messages)
                          if m["data"]["ticket"]["position"] == want)
                to_phone.append(at * 1000 - event_ms)
                click_to_phone.append((at - clicked) * 1000)
            for follow in then:
                tally.expect(PHONE_HALL_DISPLAYS)
                await follow()
                await asyncio.wait_for(tally.reached.wait(), DELIVERY_TIMEOUT_S)
    finally:
        for d in displays:
            d.close()
        for p in phones:
            p.close()
    with_phones = report.spread(to_display)
    return {
        "phones": len(phones), "displays": PHONE_HALL_DISPLAYS, "calls": plan.phone_calls,
        "event_to_display_without_phones": without["event_to_display"],
        "event_to_display_with_phones": with_phones,
        "ratio_p99": report.ratio(with_phones["p99_ms"],
                                  without["event_to_display"]["p99_ms"]),
        "event_to_phone": report.spread(to_phone),
        "click_to_phone": report.spread(click_to_phone),
        "memory_per_idle_phone_kib": memory,
    }


async def _every_phone_moved(phones: Sequence[Phone], wanted: Sequence[int]) -> None:
    deadline = time.monotonic() + DELIVERY_TIMEOUT_S
    waiting = set(range(len(phones)))
    while waiting:
        # Only the phones still behind are read again (each message is parsed once).
        waiting = {i for i in waiting if phones[i].ticket()["position"] != wanted[i]}
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise BenchError(f"a call did not reach every phone within {DELIVERY_TIMEOUT_S:g} s")
        await asyncio.sleep(0.02)


async def _phone_tokens(targets: Sequence[Process], headers: dict[str, str],
                        requests: Sequence[Request], desks: int) -> list[str]:
    """The phones' tickets checked in at the desk; their follow tokens, from the answers."""
    todo = iter(requests)
    tokens: list[str] = []

    async def desk(i: int) -> None:
        t = targets[i % len(targets)]
        http = Http(t.host, t.port, headers)
        try:
            for path, body in todo:
                answer = json.loads(_checked(await http.post(path, body), "a phone's check-in"))
                tokens.append(str(answer["ticket"]["follow_url"]).rsplit("/", 1)[1])
        finally:
            await http.close()

    await asyncio.gather(*(desk(i) for i in range(desks)))
    return tokens


def _floor_event(kind: EventType, k: int) -> dict[str, Any]:
    """As large as the project's own event of that kind, so both carry the same bytes."""
    number = f"A{k + 1:03d}"
    data: dict[str, Any] = {"ticket": number, "service": "A", "counter": 1}
    if kind is EventType.TICKET_CALLED:
        data["announcement"] = {"text": {
            "yue": f"籌號 {number}，請到 1 號櫃位", "cmn": f"请 {number} 号到 1 号柜台",
            "en": f"Ticket {number}, please go to counter 1"},
            "clips": ["/sounds/chime.wav"]}
    return {"type": kind, "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "data": data}


def run(config: Config, processes: int = 2, targets: Sequence[str] = (), short: bool = False,
        appendfsync: str = "always", centre: str | None = None,
        only: str | None = None) -> dict[str, Any]:
    plan = SHORT if short else FULL
    if only and targets:
        raise BenchError("--only booking_rush starts its own servers: it takes no --targets")
    # Other work on the machine shows in every figure: the run records how busy it was.
    load_before = os.getloadavg()
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="qs-bench-")))
        if targets:
            url = os.environ.get("REDIS_URL", "")
            raw_secret = os.environ.get("QUEUESERVER_SECRET", "")
            if not url or not raw_secret:
                raise BenchError("--targets needs REDIS_URL and QUEUESERVER_SECRET: the ones "
                                 "the target servers use (bookings are seeded there)")
            secret = raw_secret.encode()
            priority = "external"
        else:
            url, priority = stack.enter_context(private_redis(folder, appendfsync))
            secret = secrets.token_hex(16).encode()
        env = {**os.environ, "REDIS_URL": url, "QUEUESERVER_SECRET": secret.decode()}
        for name in TEST_CLOCK_ENV:
            env.pop(name, None)
        clock = from_environment(config.tz)  # the real time, or a test's
        if targets:
            centre_ = config.centre(centre) if centre else config.centres[0]
            if centre_ is None:
                raise BenchError(f"unknown centre {centre!r}")
            centres = [centre_]
            deep: list[Centre] = []
            if config.path:
                env["QUEUESERVER_CONFIG"] = str(config.path)
        else:
            clock, clock_env = servers_clock(clock.now())
            env.update(clock_env)
            # The city, and a centre of its own for each depth of queue measured.
            city = city_config(config, folder, BENCH_CENTRES + len(DEPTHS))
            env["QUEUESERVER_CONFIG"] = str(city)
            config = load(city)
            centres = list(config.centres[:BENCH_CENTRES])
            deep = list(config.centres[BENCH_CENTRES:])
            config = msgspec.structs.replace(config, centres=tuple(centres))
        r = connections.connect(url)
        stack.callback(r.close)
        stack.callback(r.delete, keys.bench_floor())
        # Every command over 500 µs, by phase: on the private Redis only.
        slow = None if targets else Slowlog(r)
        if targets:
            serve = [Process(urlsplit(t).hostname or "127.0.0.1", urlsplit(t).port or 80)
                     for t in targets]
        else:
            serve = stack.enter_context(started(
                [[sys.executable, "-m", "queueserver.tools.cli", "serve"]] * processes, env, folder,
                "/healthz"))
        result: dict[str, Any] = {}
        if slow is not None:
            slowlog.configure(r)
        if only is None:
            floor = stack.enter_context(started(
                [[sys.executable, "-m", "queueserver.tools.bench.floor", "--redis", url]]
                * len(serve), env, folder, "/relay"))
            seeded = _seed(r, config, clock, centres, secret, plan, deep)
            slowlog.configure(r)  # the seeding's commands are not the run's
            # A serve process that holds no socket until the phones' memory is measured on it.
            fresh = (None if targets or not plan.phones else stack.enter_context(started(
                [[sys.executable, "-m", "queueserver.tools.cli", "serve"]], env, folder,
                "/healthz"))[0])
            result = asyncio.run(_measure(serve, floor, seeded, plan, slow, fresh))
        if not targets:
            # The booking platform's opening rush, on the city's fresh day of slots.
            result["booking_rush"] = rush.run(serve, r, config, clock, secret, short)
        if slow is not None:  # the servers are the bench's own (no --targets)
            slow.take("booking_rush")
            if only is None:
                # A booking export's import: the command as its own process, start included.
                result["import"] = import_bench.command(env, [c.id for c in centres[:2]],
                                                        plan.import_rows, folder)
                slow.take("import")
            result["slowlog"] = slow.result()
        info: Any = r.info("server")
    result = {"processes": len(serve), "appendfsync": "external" if targets else appendfsync,
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "platform": platform.platform(), "redis": info.get("redis_version"),
                          "load_average_1m_before": round(load_before[0], 2),
                          "load_average_1m_after": round(os.getloadavg()[0], 2),
                          # How the private Redis was scheduled (procs.first_for_the_cpu).
                          "redis_scheduling": priority},
              "plan": asdict(plan), **result}
    result["targets_met"] = report.verdicts(result)
    return result
