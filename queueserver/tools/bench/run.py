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
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis

from queueserver.auth import credentials as auth
from queueserver.bookings.store import Booking, BookingStore
from queueserver.platform import connections
from queueserver.platform.clock import Clock, iso
from queueserver.platform.config import Centre, Config, load
from queueserver.rules.vocab import EventType
from queueserver.store import keys
from queueserver.tools.bench import report, rush
from queueserver.tools.bench.procs import BenchError, Process, city_config, private_redis, started
from queueserver.tools.bench.wire import Display, Http, Tally, open_display


@dataclass(frozen=True)
class Plan:
    check_ins: int
    desks: int
    displays: tuple[int, ...]
    calls: int


# The issue's sizes: one centre's 30 screens, and 1,000 spread over the processes.
FULL = Plan(check_ins=6000, desks=64, displays=(30, 1000), calls=200)
# A few seconds, for CI: it proves the command works, not that the machine is fast.
SHORT = Plan(check_ins=300, desks=16, displays=(30, 100), calls=15)
# Sockets are opened this many at a time, well under the listen backlog.
CONNECT_BATCH = 50
# How long one call may take to reach every display before the run is declared broken.
DELIVERY_TIMEOUT_S = 15.0
# Idle displays settle (handshakes done, buffers trimmed) this long before memory is read.
SETTLE_S = 1.0


def _body(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


Request = tuple[str, bytes]  # a path and a body


@dataclass
class Seeded:
    centre: str  # where the calls are made and the displays watch
    admin: str
    display: str
    counters: list[int]
    check_ins: list[Request]
    photos: list[Request]


def _seed(r: redis.Redis, config: Config, centres: Sequence[Centre], secret: bytes,
          plan: Plan) -> Seeded:
    """Bookings for today spread over `centres`, as a city's desks would see them."""
    run = secrets.token_hex(3)
    called = centres[0]
    admin, _ = auth.create_token(r, auth.Role.ADMIN, name=f"bench-admin-{run}")
    display, _ = auth.create_token(r, auth.Role.DISPLAY, called.id, name=f"bench-display-{run}")
    clock = Clock(config.tz)
    bookings = []
    for i in range(plan.check_ins):
        centre = centres[i % len(centres)]
        kind = next(t for s in centre.services if not s.priority for t in s.application_types)
        bookings.append(Booking(
            ref=f"BENCH{run}{i:06d}", centre=centre.id, date=clock.today(), slot_start="09:00",
            slot_end="09:30", application_type=kind, surname="BENCH", given_names="DESK",
            id_kind="access_notice", id_number=f"BENCH-{run}-{i}", passport_no="",
            nationality="HKG", status="approved"))
    store = BookingStore(r, secret, "bench", iso(clock.now()))
    for start in range(0, len(bookings), 1000):
        store.apply(bookings[start:start + 1000])
    return Seeded(
        called.id, admin, display, [c.number for c in called.counters],
        # The desk may check in outside the slot's window: the benchmark runs at any hour.
        [(f"/api/v1/centres/{b.centre}/tickets",
          _body({"booking_ref": b.ref, "id_number": b.id_number, "photo_barcode": b.ref,
                 "override_window": True})) for b in bookings],
        [(f"/api/v1/centres/{b.centre}/photo-receipts", _body({"barcode": b.ref}))
         for b in bookings])


async def _desks(targets: Sequence[Process], headers: dict[str, str],
                 requests: Sequence[Request], desks: int) -> dict[str, Any]:
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
    elapsed = time.perf_counter() - started
    ok = sum(n for s, n in statuses.items() if s in (200, 201))
    return {"tickets_per_s": round(ok / elapsed, 1), **report.spread(latencies),
            "count": ok, "errors": {str(s): n for s, n in statuses.items() if s >= 300}}


async def _connect(targets: Sequence[Process], path: str, count: int,
                   tally: Tally) -> list[Display]:
    displays: list[Display] = []
    for start in range(0, count, CONNECT_BATCH):
        displays += await asyncio.gather(*(
            open_display(targets[i % len(targets)].host, targets[i % len(targets)].port, path,
                         tally) for i in range(start, min(count, start + CONNECT_BATCH))))
    return displays


def _rss(targets: Sequence[Process]) -> int | None:
    values = [t.rss_kib() for t in targets]
    return None if any(v is None for v in values) else sum(v or 0 for v in values)


async def _calls(targets: Sequence[Process], ws_path: str, displays_n: int, calls: int,
                 step: Any) -> tuple[dict[str, Any], float | None]:
    """`calls` calls watched by `displays_n` displays; `step(k)` makes call k and returns the
    click's time and the steps that follow it (each one event, waited for but not measured).
    Returns the figures and KiB per idle display."""
    tally = Tally()
    before = _rss(targets)
    displays = await _connect(targets, ws_path, displays_n, tally)
    await asyncio.sleep(SETTLE_S)
    after = _rss(targets)
    per_display = (None if before is None or after is None
                   else round((after - before) / displays_n, 1))
    event_ms: list[float] = []
    click_ms: list[float] = []
    try:
        for k in range(calls):
            tally.expect(displays_n)
            clicked, then = await step(k)
            await asyncio.wait_for(tally.reached.wait(), DELIVERY_TIMEOUT_S)
            for d in displays:
                received_at, raw_id = d.received[-1]
                event_ms.append(received_at * 1000 - int(raw_id.split(b"-")[0]))
                click_ms.append((received_at - clicked) * 1000)
            for follow in then:
                tally.expect(displays_n)
                await follow()
                await asyncio.wait_for(tally.reached.wait(), DELIVERY_TIMEOUT_S)
    finally:
        for d in displays:
            d.close()
    return ({"event_to_display": report.spread(event_ms),
             "click_to_display": report.spread(click_ms)}, per_display)


def _checked(answer: tuple[int, bytes], what: str) -> bytes:
    status, body = answer
    if status >= 300:
        raise BenchError(f"{what} answered {status}: {body[:300]!r}")
    return body


async def _measure(serve: Sequence[Process], floor: Sequence[Process], seeded: Seeded,
                   plan: Plan) -> dict[str, Any]:
    c = f"/api/v1/centres/{seeded.centre}"
    admin = {"Authorization": f"Bearer {seeded.admin}"}
    await _desks(serve, admin, seeded.photos, plan.desks)
    result: dict[str, Any] = {"check_in": {
        "project": await _desks(serve, admin, seeded.check_ins, plan.desks),
        "floor": await _desks(floor, {}, [
            ("/relay", _body(_floor_event(EventType.TICKET_ISSUED, i)))
            for i in range(plan.check_ins)], plan.desks)}}
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
    ws_path = f"/ws/centres/{seeded.centre}/events?token={seeded.display}"
    for size in plan.displays:
        project, memory["project"] = await _calls(serve, ws_path, size, plan.calls,
                                                  project_step)
        bare, memory["floor"] = await _calls(floor, "/ws", size, plan.calls, floor_step)
        sizes[str(size)] = {"project": project, "floor": bare, "ratio_p99": {
            m: report.ratio(project[m]["p99_ms"], bare[m]["p99_ms"]) for m in project}}
    for http in clerks + floor_clerks:
        await http.close()
    result["call_to_display"] = sizes
    result["memory_per_idle_display_kib"] = memory
    return result


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
        appendfsync: str = "always", centre: str | None = None) -> dict[str, Any]:
    plan = SHORT if short else FULL
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
        else:
            url = stack.enter_context(private_redis(folder, appendfsync))
            secret = secrets.token_hex(16).encode()
        env = {**os.environ, "REDIS_URL": url, "QUEUESERVER_SECRET": secret.decode()}
        env.pop("QUEUESERVER_TEST_MODE", None)
        if targets:
            centre_ = config.centre(centre) if centre else config.centres[0]
            if centre_ is None:
                raise BenchError(f"unknown centre {centre!r}")
            centres = [centre_]
            if config.path:
                env["QUEUESERVER_CONFIG"] = str(config.path)
        else:
            city = city_config(config, folder)
            env["QUEUESERVER_CONFIG"] = str(city)
            config = load(city)
            centres = list(config.centres)
        r = connections.connect(url)
        stack.callback(r.close)
        stack.callback(r.delete, keys.bench_floor())
        if targets:
            serve = [Process(urlsplit(t).hostname or "127.0.0.1", urlsplit(t).port or 80)
                     for t in targets]
        else:
            serve = stack.enter_context(started(
                [[sys.executable, "-m", "queueserver.tools.cli", "serve"]] * processes, env, folder,
                "/healthz"))
        floor = stack.enter_context(started(
            [[sys.executable, "-m", "queueserver.tools.bench.floor", "--redis", url]] * len(serve),
            env, folder, "/relay"))
        seeded = _seed(r, config, centres, secret, plan)
        result = asyncio.run(_measure(serve, floor, seeded, plan))
        if not targets:
            # The booking platform's opening rush, on the city's fresh day of slots.
            result["booking_rush"] = rush.run(serve, r, config, secret, short)
        info: Any = r.info("server")
    result = {"processes": len(serve), "appendfsync": "external" if targets else appendfsync,
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "platform": platform.platform(), "redis": info.get("redis_version"),
                          "load_average_1m_before": round(load_before[0], 2),
                          "load_average_1m_after": round(os.getloadavg()[0], 2)},
              "plan": asdict(plan), **result}
    result["targets_met"] = report.verdicts(result)
    return result
