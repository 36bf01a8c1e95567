"""Redis's SLOWLOG on the benchmark's private Redis: every command over `THRESHOLD_US`, by phase,
each script named. Redis runs one script at a time for every centre it holds, so one that runs
long holds up all of them (issue 20's target: none over 500 µs)."""

from __future__ import annotations

import math
from typing import Any

import redis

from queueserver.store import lua

THRESHOLD_US = 500
# Entries kept between two readings: above what one phase logs, and what every command of the
# measured check-ins at one depth logs while traced (a handful each).
MAX_ENTRIES = 50000


def configure(r: redis.Redis) -> None:
    """Log every command slower than the threshold, from now on (a private Redis only). Every
    script is loaded first: compiling one (`SCRIPT LOAD`, up to a millisecond) happens once a
    process, at the start of its day, not on the run's requests."""
    for name in lua.names():
        r.script_load(lua.source(name))
    r.config_set("slowlog-log-slower-than", THRESHOLD_US)
    r.config_set("slowlog-max-len", MAX_ENTRIES)
    r.slowlog_reset()


def _script_names() -> dict[str, str]:
    """Each script's SHA-1 as Redis knows it (`EVALSHA`), to its name."""
    return {lua.sha(name): name for name in lua.names()}


def _name(entry: dict[str, Any], names: dict[str, str]) -> str:
    """A script's name, else the command's."""
    command = entry.get("command", "")
    if isinstance(command, bytes):
        command = command.decode(errors="replace")
    words = str(command).split()
    if words and words[0].upper() == "EVALSHA" and len(words) > 1:
        return names.get(words[1].lower(), "unknown script")
    return words[0].lower() if words else ""


def _project_s(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Without the benchmark's own reading of the log (`SLOWLOG GET` of thousands of entries
    takes milliseconds) and its settings."""
    return [e for e in entries if _name(e, {}) not in ("slowlog", "config")]


def summary(entries: list[dict[str, Any]], names: dict[str, str]) -> dict[str, Any]:
    """`count`, the slowest entry's µs and name, and each name's count and slowest µs."""
    slowest: dict[str, Any] | None = max(entries, key=lambda e: e["duration"], default=None)
    by_name: dict[str, dict[str, int]] = {}
    for e in entries:
        seen = by_name.setdefault(_name(e, names), {"count": 0, "slowest_us": 0})
        seen["count"] += 1
        seen["slowest_us"] = max(seen["slowest_us"], int(e["duration"]))
    return {"count": len(entries), "slowest_us": slowest["duration"] if slowest else None,
            "slowest": _name(slowest, names) if slowest else None, "by_name": by_name}


class Slowlog:
    """What each phase of the run logged; `take` reads the log and empties it."""

    def __init__(self, r: redis.Redis) -> None:
        self.r = r
        self.names = _script_names()
        self.phases: dict[str, dict[str, Any]] = {}
        self.entries: list[dict[str, Any]] = []
        self.pending: list[dict[str, Any]] = []  # the current phase's so far

    def trace(self) -> None:
        """From now until `traced`, every command is logged: each script's own time."""
        self.take(None)
        self.r.config_set("slowlog-log-slower-than", 0)

    def traced(self, script: str) -> list[int]:
        """`script`'s times (µs) since `trace`, sorted; the log goes back to logging what is
        over the threshold, and what was over it is kept."""
        self.r.config_set("slowlog-log-slower-than", THRESHOLD_US)
        entries = _project_s(list(self.r.slowlog_get(MAX_ENTRIES)))
        self.r.slowlog_reset()
        over = [e for e in entries if e["duration"] > THRESHOLD_US]
        self.entries += over
        self.pending += over
        return sorted(int(e["duration"]) for e in entries if _name(e, self.names) == script)

    @staticmethod
    def spread(times: list[int]) -> dict[str, Any]:
        """The median and 99th percentile of `times` (µs), and how many."""
        times = sorted(times)
        if not times:
            return {"count": 0, "p50": None, "p99": None}
        return {"count": len(times), "p50": times[len(times) // 2],
                "p99": times[max(0, math.ceil(0.99 * len(times)) - 1)]}

    def take(self, phase: str | None) -> None:
        """What was logged since the last reading, as `phase`'s (None: the phase goes on)."""
        entries = _project_s(list(self.r.slowlog_get(MAX_ENTRIES)))
        self.r.slowlog_reset()
        self.entries += entries
        self.pending += entries
        if phase is not None:
            self.phases[phase] = summary(self.pending, self.names)
            self.pending = []

    def result(self) -> dict[str, Any]:
        return {"threshold_us": THRESHOLD_US, **summary(self.entries, self.names),
                "by_phase": self.phases}
