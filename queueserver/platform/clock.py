"""Time comes from here: the server's clock, or a test's.

Lua has no time zones, so Python passes the local service date and the time into each script.
A test injects a clock; a process-level test may set `QUEUESERVER_TEST_NOW` (an ISO time), and
`QUEUESERVER_TEST_SPEED` (how fast it runs: `simulate` plays a day in minutes), which are honoured
only with `QUEUESERVER_TEST_MODE=1` and announced loudly at start. `QUEUESERVER_TEST_CLOCK_FILE`
(test mode too) names a file holding seconds to add to `QUEUESERVER_TEST_NOW`: the clock then
stands still between writes, so every process a test started (a server, a worker and each of its
jobs, which start their clocks anew) reads the same time, and the test moves them all at once
without waiting for time to pass.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
import zoneinfo
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Clock:
    tz: zoneinfo.ZoneInfo
    # When set, time starts at this instant and runs on from it at the real rate.
    start: dt.datetime | None = None
    _t0: float = 0.0
    # With a start, how many seconds pass per real second (`simulate` plays a day in minutes).
    rate: float = 1.0
    # Test mode only: a file of seconds to add, which a test rewrites to move every process on.
    offset_file: Path | None = None

    def __post_init__(self) -> None:
        self._t0 = time.monotonic()

    def now(self) -> dt.datetime:
        if self.start is None:
            return dt.datetime.now(self.tz)
        passed = (time.monotonic() - self._t0) * self.rate + self._moved()
        return (self.start + dt.timedelta(seconds=passed)).astimezone(self.tz)

    def _moved(self) -> float:
        # Read every time (test mode only): a cache keyed on the file's mtime could miss two
        # writes within the file system's clock tick.
        if self.offset_file is None:
            return 0.0
        try:
            return float(self.offset_file.read_text() or 0)
        except (OSError, ValueError):
            return 0.0

    def today(self) -> str:
        return self.now().date().isoformat()

    def set(self, instant: dt.datetime) -> None:
        """Tests only: jump to an instant (time runs on from there)."""
        self.start = instant
        self._t0 = time.monotonic()


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
        moved = os.environ.get("QUEUESERVER_TEST_CLOCK_FILE")
        if moved:
            return Clock(tz, start, rate=0.0, offset_file=Path(moved))
        return Clock(tz, start, rate=rate)
    return Clock(tz)


def iso(instant: dt.datetime) -> str:
    return instant.isoformat(timespec="seconds")


def ms(instant: dt.datetime) -> int:
    return int(instant.timestamp() * 1000)
