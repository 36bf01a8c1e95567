"""Where a call's CPU goes on its way to many displays: each process's CPU time per event, the
project beside the floor, and a py-spy profile.

    python docs/bench_calls_cpu.py [DISPLAYS] [CALLS] [PROFILE.raw]   # default: 1000 100

As `queueserver bench`'s calls phase does it (its own code: a private Redis with `appendfsync
always`, put first for the CPU, the benchmark's city, two `queueserver serve` processes and two
of the floor's), but the displays are connected first and the CPU time (user + system) of each
serve process, of Redis and of this client is counted from then on only, divided by the events
(each call is followed by a no-show and a requeue: three events). With a file name, `py-spy
record` samples the first serve process meanwhile (raw format: one stack a line, then its
count). The figures of issue 20 are in docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_checkin_cpu import DESKS, city, cpu_s, redis_pid

from queueserver.platform import connections
from queueserver.rules.vocab import EventType
from queueserver.tools.bench import report
from queueserver.tools.bench import run as bench
from queueserver.tools.bench.procs import private_redis, started
from queueserver.tools.bench.wire import Http, Tally

EVENTS_A_CALL = 3


async def measure(targets: Any, paths: Any, displays_n: int, calls: int, step: Any,
                  pids: dict[str, int], profile: str) -> dict[str, Any]:
    tally = Tally()
    displays = await bench._connect(targets, paths, displays_n, tally)
    await asyncio.sleep(bench.SETTLE_S)
    spy = None
    if profile:
        spy = subprocess.Popen(["py-spy", "record", "-r", "300", "-f", "raw", "-o", profile,
                                "--pid", str(targets[0].proc.pid)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        await asyncio.sleep(1.0)  # py-spy attached
    before = {k: cpu_s(p) for k, p in pids.items()}
    event_ms: list[float] = []
    try:
        for k in range(calls):
            tally.expect(displays_n)
            _clicked, then = await step(k)
            await asyncio.wait_for(tally.reached.wait(), bench.DELIVERY_TIMEOUT_S)
            for d in displays:
                received_at, raw_id = d.received[-1]
                event_ms.append(received_at * 1000 - int(raw_id.split(b"-")[0]))
            for follow in then:
                tally.expect(displays_n)
                await follow()
                await asyncio.wait_for(tally.reached.wait(), bench.DELIVERY_TIMEOUT_S)
        after = {k: cpu_s(p) for k, p in pids.items()}
    finally:
        for d in displays:
            d.close()
        if spy is not None:
            spy.send_signal(2)
            spy.wait(60)
    events = calls * EVENTS_A_CALL
    return {"event_to_display": report.spread(event_ms),
            "cpu_ms_per_event": {k: round((after[k] - before[k]) * 1e3 / events, 2)
                                 for k in pids}}


def main() -> None:
    displays_n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    calls = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    profile = sys.argv[3] if len(sys.argv) > 3 else ""
    with tempfile.TemporaryDirectory(prefix="qs-calls-cpu-") as d:
        folder = Path(d)
        with private_redis(folder, "always") as (url, _scheduling):
            env, config, secret, clock = city(folder, url)
            r = connections.connect(url)
            plan = bench.Plan(check_ins=2000, desks=DESKS, displays=(displays_n,), calls=calls)
            serve_cmd = [sys.executable, "-m", "queueserver.tools.cli", "serve"]
            floor_cmd = [sys.executable, "-m", "queueserver.tools.bench.floor", "--redis", url]
            with started([serve_cmd] * 2, env, folder, "/healthz") as serve, \
                    started([floor_cmd] * 2, env, folder, "/relay") as floor:
                seeded = bench._seed(r, config, clock, list(config.centres), secret, plan)
                result = asyncio.run(_run(serve, floor, seeded, url, displays_n, calls, profile))
    print(json.dumps({"displays": displays_n, "calls": calls, "load_average_1m":
                      os.getloadavg()[0], **result}, indent=1))


async def _run(serve: Any, floor: Any, seeded: Any, url: str, displays_n: int, calls: int,
               profile: str) -> dict[str, Any]:
    admin = {"Authorization": f"Bearer {seeded.admin}"}
    c = f"/api/v1/centres/{seeded.centre}"
    await bench._desks(serve, admin, seeded.photos, DESKS)
    await bench._desks(serve, admin, seeded.check_ins, DESKS)
    clerks = [Http(t.host, t.port, admin) for t in serve]
    floor_clerks = [Http(t.host, t.port, {}) for t in floor]
    for n in seeded.counters:
        bench._checked(await clerks[0].post(f"{c}/counters/{n}/open", b"{}"), "opening")

    async def project_step(k: int) -> tuple[float, Any]:
        clerk, n = clerks[k % len(clerks)], seeded.counters[k % len(seeded.counters)]
        clicked = time.time()
        called = json.loads(bench._checked(
            await clerk.post(f"{c}/counters/{n}/call", b"{}"), "a call"))
        number = called["ticket"]["number"]

        async def no_show() -> None:
            bench._checked(await clerk.post(f"{c}/counters/{n}/no-show", b"{}"), "a no-show")

        async def requeue() -> None:
            bench._checked(await clerk.post(f"{c}/tickets/{number}/requeue", b"{}"),
                           "a requeue")
        return clicked, [no_show, requeue]

    async def floor_step(k: int) -> tuple[float, Any]:
        clerk = floor_clerks[k % len(floor_clerks)]

        async def relay(kind: EventType) -> None:
            bench._checked(await clerk.post("/relay", bench._body(bench._floor_event(kind, k))),
                           "relay")
        clicked = time.time()
        await relay(EventType.TICKET_CALLED)
        return clicked, [lambda: relay(EventType.TICKET_NO_SHOW),
                         lambda: relay(EventType.TICKET_REQUEUED)]

    ws_path = [f"/ws/centres/{seeded.centre}/events?token={t}" for t in seeded.displays]
    out: dict[str, Any] = {}
    for name, targets, paths, step in (("project", serve, ws_path, project_step),
                                       ("floor", floor, "/ws", floor_step)):
        pids = {f"{name}{i}": t.proc.pid for i, t in enumerate(targets) if t.proc}
        pids["redis"] = redis_pid(url)
        pids["client"] = os.getpid()
        out[name] = await measure(targets, paths, displays_n, calls, step, pids,
                                  profile if name == "project" else "")
    for http in clerks + floor_clerks:
        await http.close()
    return out


if __name__ == "__main__":
    main()
