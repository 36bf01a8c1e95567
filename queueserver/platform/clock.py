"""Time comes from here: the server's clock, or a test's.

Lua has no time zones, so Python passes the local service date and the time into each script.
A test injects a clock; a process-level test may set `QUEUESERVER_TEST_NOW` (an ISO time), and
`QUEUESERVER_TEST_SPEED` (how fast it runs: `simulate` plays a day in minutes), which are honoured
only with `QUEUESERVER_TEST_MODE=1` and announced loudly at start.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
import zoneinfo
from dataclasses import dataclass


@dataclass
class Clock:
    tz: zoneinfo.ZoneInfo
    # When set, time starts at this instant and runs on from it at the real rate.
    start: dt.datetime | None = None
    _t0: float = 0.0
    # With a start, how many seconds pass per real second (`simulate` plays a day in minutes);
    # 0 is a frozen clock, which only `set` and `advance` move (tests that assert exact times).
    rate: float = 1.0

    def __post_init__(self) -> None:
        self._t0 = time.monotonic()

    def now(self) -> dt.datetime:
        if self.start is None:
            return dt.datetime.now(self.tz)
        passed = (time.monotonic() - self._t0) * self.rate
        return (self.start + dt.timedelta(seconds=passed)).astimezone(self.tz)

    def today(self) -> str:
        return self.now().date().isoformat()

    def set(self, instant: dt.datetime) -> None:
        """Tests only: jump to an instant (time runs on from there at the clock's rate)."""
        self.start = instant
        self._t0 = time.monotonic()

    def advance(self, seconds: float) -> None:
        """Tests only: move the clock on by hand (the way a frozen clock moves)."""
        self.set(self.now() + dt.timedelta(seconds=seconds))

    @classmethod
    def frozen(cls, tz: zoneinfo.ZoneInfo, at: dt.datetime) -> Clock:
        """Tests only: a clock that stands at `at` until set or advanced, however slow the
        machine, so a test can assert exact seconds."""
        return cls(tz, at, rate=0.0)


def from_environment(tz: zoneinfo.ZoneInfo) -> Clock:
    raw = os.environ.get("QUEUESERVER_TEST_NOW")
    if raw and os.environ.get("QUEUESERVER_TEST_MODE") == "1":
        start = dt.datetime.fromisoformat(raw)
        if start.tzinfo is None:
            start = start.replace(tzinfo=tz)
        rate = float(os.environ.get("QUEUESERVER_TEST_SPEED") or 1.0)
        faster = f", running {rate:g} times as fast" if rate != 1.0 else ""
        print(f"*** TEST MODE: the clock starts at {start.isoformat()}{faster}, not the real "
              "time ***", file=sys.stderr, flush=True)
        return Clock(tz, start, rate=rate)
    return Clock(tz)


def iso(instant: dt.datetime) -> str:
    return instant.isoformat(timespec="seconds")


def ms(instant: dt.datetime) -> int:
    return int(instant.timestamp() * 1000)
