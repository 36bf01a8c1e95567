"""Time comes from here: the server's clock, a test's, or the demo's.

Lua has no time zones, so Python passes the local service date and the time into each script.
A test injects a clock; a process-level test may set `QUEUESERVER_TEST_NOW` (an ISO time), and
`QUEUESERVER_TEST_SPEED` (how fast it runs: `simulate` plays a day in minutes), which are honoured
only with `QUEUESERVER_TEST_MODE=1` and announced loudly at start. `QUEUESERVER_TEST_CLOCK_FILE`
(test mode too) names a file holding seconds to add to `QUEUESERVER_TEST_NOW`: the clock then
stands still between writes, so every process a test started (a server, a worker and each of its
jobs, which start their clocks anew) reads the same time, and the test moves them all at once
without waiting for time to pass.

`queueserver demo` runs every process it starts on one demo clock (`DemoClock`), handed down in
`QUEUESERVER_DEMO_CLOCK`: only the demo sets it.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import sys
import time
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from queueserver.rules.workdays import WEEKDAY_NUMBERS, Calendar

DEMO_ENV = "QUEUESERVER_DEMO_CLOCK"


@dataclass
class Clock:
    tz: zoneinfo.ZoneInfo
    # When set, time starts at this instant and runs on from it at the real rate.
    start: dt.datetime | None = None
    _t0: float = 0.0
    # With a start, how many seconds pass per real second (`simulate` plays a day in minutes);
    # 0 is a frozen clock, which only `set` and `advance` move (tests that assert exact times).
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

    # Screens mark the demo clock's time (CONTRACT §8).
    demo: ClassVar[bool] = False

    @property
    def pace(self) -> float:
        """Seconds of this clock per real second (what a screen's own clock must run at)."""
        return self.rate if self.start is not None else 1.0

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


@dataclass
class DemoClock(Clock):
    """The demo's working day: from `start`, time runs `rate` times as fast as the real one, and
    when it reaches `closes` the next working day of `calendar` begins at `opens`, so the demo
    shows a centre at work for as long as it runs. Every process reads the same instant, as it is
    worked out from the real time (`time.time()`) at which the demo clock read `start`."""

    real_start: float = 0.0
    opens: dt.time = dt.time(10, 0)
    closes: dt.time = dt.time(17, 0)
    calendar: Calendar = field(default_factory=lambda: Calendar.of(WEEKDAY_NUMBERS, ()))
    # The day reached last and how many day lengths into the run it begins (now() is asked
    # thousands of times; days are only ever walked forward from there).
    _reached: tuple[int, dt.date] | None = None

    demo: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.start is None:
            raise ValueError("a demo clock needs its start")
        if not self.opens < self.closes:
            raise ValueError("a demo day must open before it closes")

    def _opening(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, self.opens, tzinfo=self.tz)

    def _next_day(self, day: dt.date) -> dt.date:
        if not self.calendar.weekdays:
            return day + dt.timedelta(days=1)
        return self.calendar.add_working_days(day, 1)

    def now(self) -> dt.datetime:
        assert self.start is not None
        start = self.start.astimezone(self.tz)
        length = (dt.datetime.combine(start.date(), self.closes)
                  - dt.datetime.combine(start.date(), self.opens)).total_seconds()
        passed = max(0.0, time.time() - self.real_start) * self.rate
        into = max(0.0, (start - self._opening(start.date())).total_seconds()) + passed
        days = int(into // length)
        reached = self._reached
        if reached is None or reached[0] > days:
            reached = (0, start.date())
        count, day = reached
        while count < days:
            count, day = count + 1, self._next_day(day)
        self._reached = (count, day)
        return self._opening(day) + dt.timedelta(seconds=into - days * length)

    def set(self, instant: dt.datetime) -> None:
        raise NotImplementedError("the demo clock is never set: it runs from its start")

    def to_environment(self) -> str:
        """What `from_environment` reads in the demo's other processes."""
        assert self.start is not None
        return json.dumps({
            "start": self.start.isoformat(), "real_start": self.real_start, "rate": self.rate,
            "opens": self.opens.isoformat("minutes"), "closes": self.closes.isoformat("minutes"),
            "weekdays": sorted(self.calendar.weekdays),
            "holidays": sorted(d.isoformat() for d in self.calendar.holidays)})

    @classmethod
    def from_environment_value(cls, tz: zoneinfo.ZoneInfo, raw: str) -> DemoClock:
        v: dict[str, Any] = json.loads(raw)
        return cls(tz, dt.datetime.fromisoformat(v["start"]), rate=float(v["rate"]),
                   real_start=float(v["real_start"]), opens=dt.time.fromisoformat(v["opens"]),
                   closes=dt.time.fromisoformat(v["closes"]),
                   calendar=Calendar(frozenset(int(d) for d in v["weekdays"]),
                                     frozenset(dt.date.fromisoformat(d) for d in v["holidays"])))


# A process announces the demo clock once (the worker's jobs ask for the clock every minute).
_announced: set[str] = set()


def from_environment(tz: zoneinfo.ZoneInfo) -> Clock:
    demo = os.environ.get(DEMO_ENV)
    if demo:
        clock = DemoClock.from_environment_value(tz, demo)
        if demo in _announced:
            return clock
        _announced.add(demo)
        print(f"*** DEMO: the clock is the demo's ({clock.now().isoformat(timespec='seconds')}, "
              f"running {clock.rate:g} times as fast), not the real time ***",
              file=sys.stderr, flush=True)
        return clock
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


def seconds_left_today(instant: dt.datetime) -> int:
    """Seconds until the local day of `instant` ends: what a ticket's follow token and phone
    number live (at least one)."""
    return max(1, int((_next_midnight(instant.date(), instant.tzinfo) - instant).total_seconds()))


@functools.lru_cache(maxsize=16)
def _next_midnight(day: dt.date, tz: dt.tzinfo | None) -> dt.datetime:
    # Asked a check-in: made once a day.
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=tz)
