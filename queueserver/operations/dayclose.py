"""The day close: a worker job that ends each centre's day at its closing time (config).

One Lua script (`day_close.lua`) turns the tickets still waiting or called into no-shows, closes
the counters, archives the day's events and trims the live stream, together; then the day's
statistics are worked out from the archive and frozen. Both steps are idempotent, so a job that
stopped half-way, or ran twice, leaves the same day behind. A day whose close did not run (the
worker was down) is closed later, its events dated within that day. Ticket numbers restart by the
local date whether or not this ran.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

import redis

from queueserver.operations import stats
from queueserver.platform import config as config_mod
from queueserver.platform import runtime
from queueserver.platform.clock import Clock, from_environment, iso, ms
from queueserver.platform.config import Centre, Config
from queueserver.platform.jobs import Periodic
from queueserver.store import keys, lua

log = logging.getLogger("queueserver.operations.dayclose")

# How often the worker looks for a day to close: a minute late is on time for a closing hall.
CHECK_INTERVAL_S = 60.0
# Days a stopped worker may have missed that are still closed when it comes back.
LOOKBACK_DAYS = 7
# The day's last events stay in the live stream, so a screen that blinked at closing time
# resumes without a resync; everything older is in the archive.
LIVE_TAIL = 200


def _closing(centre: Centre, day: dt.date, tz: Any) -> dt.datetime:
    hour, minute = (int(p) for p in centre.closing_time.split(":"))
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=tz)


def _call(centre: Centre, day: dt.date, at: dt.datetime) -> tuple[list[str], dict[str, Any]]:
    """The script's keys and context (see _lib.lua) for the day being closed, at the close's
    time."""
    date = day.isoformat()
    names, at_keys = lua.declare({
        **keys.centre_day(centre.id, date, [c.number for c in centre.counters],
                          [s.code for s in centre.services]),
        "day_close": keys.day_close(centre.id, date), "archive": keys.archive(centre.id, date)})
    return names, {
        "keys": at_keys, "ticket_prefix": keys.ticket(centre.id, date, ""), "date": date,
        "now_iso": iso(at), "now_ms": ms(at), "now_minutes": at.hour * 60 + at.minute, "by": "",
        "counters": {str(c.number): list(c.services) for c in centre.counters},
        "default_service_s": centre.default_service_minutes * 60, "idem_fp": None,
        "live_tail": LIVE_TAIL,
    }


def close_day(r: redis.Redis, centre: Centre, day: dt.date, now: dt.datetime) -> dict[str, Any]:
    """Close one day (today, or one missed); a day already closed changes nothing."""
    last_second = dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=now.tzinfo)
    at = min(now, last_second)
    date = day.isoformat()
    record = keys.day_close(centre.id, date)
    names, context = _call(centre, day, at)
    result: dict[str, Any] = lua.Scripts(r)("day_close", names, [context])
    if not r.hexists(record, "stats"):
        figures = stats.compute(stats.read_events(r, keys.archive(centre.id, date)), date,
                                centre.wait_target_minutes)
        r.hsetnx(record, "stats", json.dumps(figures, ensure_ascii=False))
        result["frozen"] = True
    if result.get("closed"):
        log.info("closed %s %s: %s no-shows, %s counters closed, %s events archived",
                 centre.id, date, result["no_shows"], result["counters_closed"],
                 result["events"])
    return result


def due(r: redis.Redis, centre: Centre, now: dt.datetime) -> list[dt.date]:
    """The days to close now, oldest first: missed ones, then today once past closing time."""
    today = now.date()
    days = [today - dt.timedelta(days=n) for n in range(LOOKBACK_DAYS, 0, -1)]
    if now >= _closing(centre, today, now.tzinfo):
        days.append(today)
    pipe = r.pipeline(transaction=False)
    for day in days:
        pipe.hexists(keys.day_close(centre.id, day.isoformat()), "stats")
    done = pipe.execute()
    return [day for day, closed in zip(days, done, strict=True) if not closed]


def close_due(config: Config, r: redis.Redis, clock: Clock) -> dict[str, list[str]]:
    """Close every centre's due days; returns what it closed, per centre."""
    now = clock.now()
    out: dict[str, list[str]] = {}
    for centre in config.centres:
        for day in due(r, centre, now):
            close_day(r, centre, day, now)
            out.setdefault(centre.id, []).append(day.isoformat())
    return out


def run_due() -> dict[str, list[str]]:
    """The worker's job: the config, Redis and clock from the environment the worker set up."""
    config = config_mod.load_default()
    r = runtime.connect(runtime.redis_url(config))
    try:
        return close_due(config, r, from_environment(config.tz))
    finally:
        r.close()


DAY_CLOSE = Periodic("day-close", "maintenance", "queueserver.operations.dayclose.run_due",
                     lambda config: CHECK_INTERVAL_S)
