"""The benchmark's processes: a private Redis, serve processes and the floor's, and the
config of a city's worth of centres that they serve."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import redis

from queueserver.platform.config import Config

START_S = 30.0
# A city's worth: each centre's queue stays as long as a real hall's while the desks run.
BENCH_CENTRES = 20
# People a slot in the benchmark's city: 20 centres x 16 slots x 20 = 6,400 places a day.
RUSH_CAPACITY = 20
# What a receipt prefix may be made of (config.py): capitals but I, L, O and U.
LETTERS = "ABCDEFGHJKMNPQRSTVWXYZ"


class BenchError(Exception):
    """The benchmark could not run; the message says why."""


@dataclass
class Process:
    host: str
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def rss_kib(self) -> int | None:
        if self.proc is None:
            return None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(p: Process, probe: str, log: Path) -> None:
    import httpx

    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        if p.proc is not None and p.proc.poll() is not None:
            raise BenchError(f"a process exited at start:\n{log.read_text()[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(p.url + probe, timeout=1).status_code < 500:
                return
        time.sleep(0.1)
    raise BenchError(f"{p.url} did not answer within {START_S:.0f} s")


@contextlib.contextmanager
def started(cmds: Sequence[list[str]], env: dict[str, str], folder: Path,
               probe: str) -> Iterator[list[Process]]:
    started: list[Process] = []
    try:
        for i, cmd in enumerate(cmds):
            port = free_port()
            log = folder / f"{Path(cmd[2]).name}-{i}.log"
            with log.open("wb") as out:
                # Run from the temporary folder: `python -m` puts the working folder first on
                # the path, where a source tree's queueserver/ would shadow the installed one.
                proc = subprocess.Popen([*cmd, "--port", str(port)], env=env, stdout=out,
                                        stderr=subprocess.STDOUT, cwd=folder)
            started.append(Process("127.0.0.1", port, proc))
            wait_healthy(started[-1], probe, log)
        yield started
    finally:
        for p in started:
            if p.proc is not None:
                p.proc.terminate()
        for p in started:
            if p.proc is not None:
                try:
                    p.proc.wait(15)
                except subprocess.TimeoutExpired:
                    p.proc.kill()


def first_for_the_cpu(pid: int) -> str:
    """Lets Redis run whenever it has work, and says how: SCHED_FIFO where allowed (root), else
    nice -10, else "normal". Here the benchmark's clients and servers share the machine's cores
    with Redis, and a command that Redis had to wait for a core to finish shows in SLOWLOG as
    slow: a plain HGETALL at 4 ms, one time slice of the scheduler (docs/benchmarks.md). A
    deployment gives Redis a core of its own; this is the nearest the benchmark can come."""
    try:
        os.sched_setscheduler(pid, os.SCHED_FIFO, os.sched_param(1))
        return "SCHED_FIFO"
    except OSError:
        pass
    try:
        os.setpriority(os.PRIO_PROCESS, pid, -10)
        return "nice -10"
    except OSError:
        return "normal"


@contextlib.contextmanager
def private_redis(folder: Path, appendfsync: str) -> Iterator[tuple[str, str]]:
    """A redis-server on a unix socket in `folder`: never a TCP port, never the machine's own.
    Yields its URL and how it was put first for the CPU (`first_for_the_cpu`)."""
    binary = shutil.which("redis-server")
    if not binary:
        raise BenchError("redis-server is not installed (apt-get install redis-server)")
    sock = folder / "redis.sock"
    proc = subprocess.Popen(
        [binary, "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700",
         "--dir", str(folder), "--save", "", "--appendonly", "yes", "--appendfsync",
         appendfsync], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"unix://{sock}"
    try:
        client = redis.Redis.from_url(url)
        deadline = time.monotonic() + START_S
        while True:
            try:
                client.ping()
                break
            except (redis.ConnectionError, FileNotFoundError):
                if time.monotonic() > deadline:
                    raise BenchError("the private redis-server did not start") from None
                time.sleep(0.02)
        yield url, first_for_the_cpu(proc.pid)
    finally:
        proc.terminate()
        proc.wait(10)


def city_config(config: Config, folder: Path, count: int = BENCH_CENTRES) -> Path:
    """`count` copies of the config's first centre (bench-1, bench-2, ...), with the tone
    engine (the benchmark never reaches the internet), written as TOML in `folder`."""
    model = config.centres[0]
    lines = [f"timezone = {json.dumps(config.timezone)}"]
    for i in range(1, count + 1):
        lines += ["[[centres]]", f'id = "bench-{i}"', f'name_en = "Bench centre {i}"',
                  f'name_zh = "測試中心 {i}"', 'announcement_engine = "tone"',
                  f'receipt_prefix = "B{LETTERS[i // len(LETTERS)]}{LETTERS[i % len(LETTERS)]}"',
                  f"default_service_minutes = {model.default_service_minutes}",
                  # The opening rush's day: a whole day of places, so every applicant can find
                  # one somewhere in the city (BENCH_CENTRES x 16 slots x RUSH_CAPACITY).
                  "  [centres.appointments]", '  hours = ["09:00-17:00"]',
                  f"  capacity = {RUSH_CAPACITY}"]
        for s in model.services:
            lines += ["  [[centres.services]]", f"  code = {json.dumps(s.code)}",
                      f"  name_en = {json.dumps(s.name_en)}",
                      f"  name_zh = {json.dumps(s.name_zh, ensure_ascii=False)}",
                      f"  application_types = {json.dumps(list(s.application_types))}",
                      f"  priority = {json.dumps(s.priority)}"]
        for c in model.counters:
            lines += ["  [[centres.counters]]", f"  number = {c.number}",
                      f"  services = {json.dumps(list(c.services))}"]
    path = folder / "bench-city.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
