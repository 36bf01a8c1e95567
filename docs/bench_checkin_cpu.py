"""Where a check-in's CPU goes: each process's CPU time per check-in, and a py-spy profile.

    python docs/bench_checkin_cpu.py [N] [PROFILE.raw] [--floor]
                                            # default: 10000 check-ins, no profile, no floor

As `queueserver bench` does it (its own code: a private Redis with `appendfsync always`, put first
for the CPU, the benchmark's city of 20 centres, two `queueserver serve` processes, 64 desks),
but N check-ins instead of 6,000 and nothing else, with the CPU time (user + system) that each
serve process, Redis and this client spent, divided by N. With a file name, `py-spy record`
samples the first serve process meanwhile (raw format: one stack a line, then its count). With
`--floor`, then N of the floor's relays (tools/bench/floor.py, two processes, the same desks)
and their CPU the same way: what the project costs beyond the floor, process by process. The
figures of issue 20 are in docs/benchmarks.md; the machine's other work moves them, so compare
runs made one after the other.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from queueserver.platform import connections
from queueserver.platform.clock import Clock
from queueserver.platform.config import Config, load
from queueserver.rules.vocab import EventType
from queueserver.tools.bench import run as bench
from queueserver.tools.bench import slowlog
from queueserver.tools.bench.procs import BENCH_CENTRES, city_config, private_redis, started

SAMPLE = Path(__file__).resolve().parent.parent / "tests" / "data" / "config.toml"
DESKS = 64


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def redis_pid(url: str) -> int:
    """The private Redis: it names itself by its socket (`redis-server unixsocket:PATH`)."""
    found = subprocess.run(["pgrep", "-f", f"unixsocket:{url.removeprefix('unix://')}"],
                           capture_output=True, text=True).stdout.split()
    return int(found[0])


def city(folder: Path, url: str) -> tuple[dict[str, str], Config, bytes, Clock]:
    """The benchmark's city on the private Redis at `url`: the environment of the processes
    started on it, its configuration, its secret and the servers' clock (`bench.servers_clock`:
    a working morning of today)."""
    secret = secrets.token_hex(16).encode()
    path = city_config(load(SAMPLE), folder, BENCH_CENTRES)
    config = load(path)
    clock, clock_env = bench.servers_clock(Clock(config.tz).now())
    env = {**{k: v for k, v in os.environ.items() if k not in bench.TEST_CLOCK_ENV},
           "REDIS_URL": url, "QUEUESERVER_SECRET": secret.decode(),
           "QUEUESERVER_CONFIG": str(path), **clock_env}
    return env, config, secret, clock


def spent(pids: dict[str, int], run: Any, n: int) -> tuple[Any, dict[str, int]]:
    """What `run()` gives, and the CPU each process spent meanwhile, in µs a request of n."""
    before = {k: cpu_s(p) for k, p in pids.items()}
    figures = run()
    after = {k: cpu_s(p) for k, p in pids.items()}
    return figures, {k: round((after[k] - before[k]) * 1e6 / n) for k in pids}


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--floor"]
    n = int(args[0]) if args else 10000
    profile = args[1] if len(args) > 1 else ""
    with tempfile.TemporaryDirectory(prefix="qs-checkin-cpu-") as d:
        folder = Path(d)
        with private_redis(folder, "always") as (url, scheduling):
            env, config, secret, clock = city(folder, url)
            r = connections.connect(url)
            plan = bench.Plan(check_ins=n, desks=DESKS, displays=(1,), calls=0)
            serve_cmd = [sys.executable, "-m", "queueserver.tools.cli", "serve"]
            with started([serve_cmd] * 2, env, folder, "/healthz") as serve:
                seeded = bench._seed(r, config, clock, list(config.centres), secret, plan)
                admin = {"Authorization": f"Bearer {seeded.admin}"}
                asyncio.run(bench._desks(serve, admin, seeded.photos, DESKS))
                slowlog.configure(r)
                spy = None
                if profile:
                    spy = subprocess.Popen(
                        ["py-spy", "record", "-r", "200", "-f", "raw", "-o", profile, "--pid",
                         str(serve[0].proc.pid if serve[0].proc else 0)],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    time.sleep(1.0)  # py-spy attached
                pids = {f"serve{i}": s.proc.pid for i, s in enumerate(serve) if s.proc}
                common = {"redis": redis_pid(url), "client": os.getpid()}
                load_before = os.getloadavg()[0]
                figures, cpu = spent({**pids, **common}, lambda: asyncio.run(
                    bench._desks(serve, admin, seeded.check_ins, DESKS)), n)
                if spy is not None:
                    spy.send_signal(2)
                    spy.wait(60)
                slow = slowlog.summary(list(r.slowlog_get(slowlog.MAX_ENTRIES)),
                                       slowlog._script_names())
            out: dict[str, Any] = {
                "check_ins": n, "redis_scheduling": scheduling, "load_average_1m": load_before,
                "tickets_per_s": figures["tickets_per_s"], "p50_ms": figures["p50_ms"],
                "p99_ms": figures["p99_ms"], "errors": figures["errors"],
                "cpu_us_per_check_in": cpu,
                "slowlog_over_500us": {"count": slow["count"], "slowest_us": slow["slowest_us"],
                                       "by_name": slow["by_name"]}}
            if "--floor" in sys.argv:
                floor_cmd = [sys.executable, "-m", "queueserver.tools.bench.floor", "--redis", url]
                relays = [("/relay", bench._body(bench._floor_event(EventType.TICKET_ISSUED, i)))
                          for i in range(n)]
                with started([floor_cmd] * 2, env, folder, "/relay") as floor:
                    pids = {f"floor{i}": f.proc.pid for i, f in enumerate(floor) if f.proc}
                    figures, cpu = spent({**pids, **common}, lambda: asyncio.run(
                        bench._desks(floor, {}, relays, DESKS)), n)
                out["floor"] = {"relays_per_s": figures["tickets_per_s"],
                                "p50_ms": figures["p50_ms"], "cpu_us_per_relay": cpu}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
