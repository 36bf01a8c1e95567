"""Where a check-in's CPU goes: each process's CPU time per check-in, and a py-spy profile.

    python docs/bench_checkin_cpu.py [N] [PROFILE.raw]     # default: 10000 check-ins, no profile

As `queueserver bench` does it (its own code: a private Redis with `appendfsync always`, put first
for the CPU, the benchmark's city of 20 centres, two `queueserver serve` processes, 64 desks),
but N check-ins instead of 6,000 and nothing else, with the CPU time (user + system) that each
serve process, Redis and this client spent, divided by N. With a file name, `py-spy record`
samples the first serve process meanwhile (raw format: one stack a line, then its count). The
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

from queueserver.platform import connections
from queueserver.platform.config import Config, load
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


def city(folder: Path, url: str) -> tuple[dict[str, str], Config, bytes]:
    """The benchmark's city on the private Redis at `url`: the environment of the processes
    started on it, its configuration and its secret."""
    secret = secrets.token_hex(16).encode()
    path = city_config(load(SAMPLE), folder, BENCH_CENTRES)
    env = {**os.environ, "REDIS_URL": url, "QUEUESERVER_SECRET": secret.decode(),
           "QUEUESERVER_CONFIG": str(path)}
    env.pop("QUEUESERVER_TEST_MODE", None)
    return env, load(path), secret


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    profile = sys.argv[2] if len(sys.argv) > 2 else ""
    with tempfile.TemporaryDirectory(prefix="qs-checkin-cpu-") as d:
        folder = Path(d)
        with private_redis(folder, "always") as (url, scheduling):
            env, config, secret = city(folder, url)
            r = connections.connect(url)
            plan = bench.Plan(check_ins=n, desks=DESKS, displays=(1,), calls=0)
            serve_cmd = [sys.executable, "-m", "queueserver.tools.cli", "serve"]
            with started([serve_cmd] * 2, env, folder, "/healthz") as serve:
                seeded = bench._seed(r, config, list(config.centres), secret, plan)
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
                pids["redis"] = redis_pid(url)
                pids["client"] = os.getpid()
                before = {k: cpu_s(p) for k, p in pids.items()}
                load_before = os.getloadavg()[0]
                figures = asyncio.run(bench._desks(serve, admin, seeded.check_ins, DESKS))
                after = {k: cpu_s(p) for k, p in pids.items()}
                if spy is not None:
                    spy.send_signal(2)
                    spy.wait(60)
                slow = slowlog.summary(list(r.slowlog_get(slowlog.MAX_ENTRIES)),
                                       slowlog._script_names())
    print(json.dumps({
        "check_ins": n, "redis_scheduling": scheduling, "load_average_1m": load_before,
        "tickets_per_s": figures["tickets_per_s"], "p50_ms": figures["p50_ms"],
        "p99_ms": figures["p99_ms"], "errors": figures["errors"],
        "cpu_us_per_check_in": {k: round((after[k] - before[k]) * 1e6 / n) for k in pids},
        "slowlog_over_500us": {"count": slow["count"], "slowest_us": slow["slowest_us"],
                               "by_name": slow["by_name"]}}, indent=1))


if __name__ == "__main__":
    main()
