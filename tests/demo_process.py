"""`queueserver demo` started as a person starts it, on the test-mode clock (which the demo clock
starts from), for the e2e and screen tests."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from conftest import alive, children, free_port

from queueserver.tools.demo.console import LIVE_MARK, QUIET_MARK

# Tuesday 24 November 2026, 23:10 in Hong Kong: the demo shows Wednesday from 10:00.
EVENING = "2026-11-24T23:10:00+08:00"
# Monday 30 November 2026, 00:05: the demo shows that Monday from 10:00.
AFTER_MIDNIGHT = "2026-11-30T00:05:00+08:00"
# Sunday 29 November 2026, 15:00: the demo shows Monday from 10:00.
SUNDAY = "2026-11-29T15:00:00+08:00"
# The demo day each of them shows.
DEMO_DAY = {EVENING: "2026-11-25", AFTER_MIDNIGHT: "2026-11-30", SUNDAY: "2026-11-30"}

TRY_DESK = re.compile(r"try the desk with booking (\S+), identity number (\S+), "
                      r"photo receipt (\S+) ")
TRY_KIOSK = re.compile(r"try the kiosk with receipt (\S+), identity number (\S+)$", re.M)


class Demo:
    """One `queueserver demo` process; `data` keeps its embedded Redis between starts."""

    def __init__(self, data: Path, now: str, speed: float = 10.0, path: str | None = None,
                 quiet: bool = False) -> None:
        self.data = data
        data.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.out = data / f"demo-{self.port}.out"
        self.err = data / f"demo-{self.port}.err"
        env = {k: v for k, v in os.environ.items()
               if k not in ("REDIS_URL", "QUEUESERVER_CONFIG", "QUEUESERVER_SECRET",
                            "QUEUESERVER_TEST_SPEED", "QUEUESERVER_DEMO_CLOCK")}
        env.update({"QUEUESERVER_DATA": str(data / "var"), "QUEUESERVER_TEST_MODE": "1",
                    "QUEUESERVER_TEST_NOW": now})
        if path is not None:
            env["PATH"] = path
        args = ["demo", "--port", str(self.port), "--speed", f"{speed:g}"]
        self.started = time.monotonic()
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "queueserver.tools.cli", *args,
                                          *(["--quiet"] if quiet else [])],
                                         cwd=data, env=env, stdout=out, stderr=err)
        self.url = f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.out.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60) -> str:
        """Until the screens are printed; returns the admin token."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.output()
            m = re.search(r"admin token \(API, every centre\): (\S+)", text)
            if m and (LIVE_MARK in text or QUIET_MARK in text):
                return m.group(1)
            assert self.proc.poll() is None, self.err.read_text()
            time.sleep(0.05)
        raise AssertionError("the demo did not print its screens: " + self.err.read_text())

    def block(self) -> str:
        """What the console printed before the live lines: URLs, logins, tokens."""
        text = self.output()
        mark = LIVE_MARK if LIVE_MARK in text else QUIET_MARK
        return text.split(mark)[0]

    def lines_after(self) -> list[str]:
        text = self.output()
        mark = LIVE_MARK if LIVE_MARK in text else QUIET_MARK
        return [line for line in text.split(mark, 1)[1].splitlines() if line.strip()]

    def token(self, role: str, centre: str) -> str:
        """A device or staff token printed for a centre."""
        section = self.block().split(f"({centre})\n", 1)[1]
        m = re.search(rf"^  {role}\s+token: (\S+)$", section, re.M)
        assert m, section
        return m.group(1)

    def suggested(self, centre: str) -> tuple[str, str, str]:
        section = self.block().split(f"({centre})\n", 1)[1]
        m = TRY_DESK.search(section)
        assert m, section
        return m.group(1), m.group(2), m.group(3)

    def board(self, admin: str, centre: str) -> dict[str, object]:
        answer = httpx.get(f"{self.url}/api/v1/centres/{centre}/board",
                           headers={"Authorization": f"Bearer {admin}"}, timeout=10)
        assert answer.status_code == 200, answer.text
        board: dict[str, object] = answer.json()
        return board

    def terminate(self, timeout: float = 30) -> tuple[int, set[int]]:
        """SIGTERM, as a service manager stops it: its exit code, and what it had started."""
        started = children(self.proc.pid)
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        deadline = time.monotonic() + 15
        while any(alive(p) for p in started) and time.monotonic() < deadline:
            time.sleep(0.05)
        return code, started

    def stop(self) -> None:
        if self.proc.poll() is None:
            for pid in children(self.proc.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.proc.kill()
            self.proc.wait(10)
