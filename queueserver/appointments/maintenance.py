"""The booking platform's periodic work, run by the worker (`tools/worker.py`'s schedule):

- `repair_moves` (every minute): a move between centres that a crash left half-done — the new
  place taken, the old one not freed — is finished, so nobody holds two places for longer than
  a minute; one whose new place was never taken is forgotten.
- `lapse_offers` (every minute): offers from the waiting lists left unanswered for 2 hours
  pass to the next in line.
- `remind` (every minute): at 10:00 on each working day, a reminder for every appointment of
  the next working day (made once per appointment: `mail.create` keys it).
- `compute_capacity` (hourly, once a local day): capacity "auto" worked out again from the
  last 20 working days' measured service times, for the days nobody has booked yet.
- `purge_applications` (hourly): an application's personal fields go once its booking's did
  (the privacy purge after collection, or an erasure).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

import redis

from queueserver.appointments import applications, calendar, mail
from queueserver.operations import stats
from queueserver.platform import config as config_mod
from queueserver.platform import runtime
from queueserver.platform.clock import Clock, from_environment, ms
from queueserver.platform.config import AUTO, Config
from queueserver.platform.jobs import Periodic
from queueserver.store import keys
from queueserver.store.lua import Scripts

log = logging.getLogger("queueserver.appointments")

EVERY_MINUTE_S = 60.0
HOURLY_S = 3600.0
# A move younger than this may still be under way in its web process: the repair leaves it.
MOVE_GRACE = dt.timedelta(seconds=20)
REMINDER_TIME = dt.time(10, 0)


def repair_moves(config: Config, r: redis.Redis, now: dt.datetime) -> int:
    """Finish or forget each move between centres older than MOVE_GRACE; returns how many."""
    scripts = Scripts(r)
    settled = 0
    found: Any = r.hgetall(keys.appointment_moves())
    for ref, raw in dict(found).items():
        intent = json.loads(raw)
        if ms(now) - int(intent["at_ms"]) < MOVE_GRACE.total_seconds() * 1000:
            continue
        old, new = config.centre(intent["from"]), config.centre(intent["to"])
        if old is None or new is None:
            r.hdel(keys.appointment_moves(), ref)
            continue
        taken: Any = r.hmget(keys.booking(new.id, ref), "status", "move_id")
        if taken[0] == applications.APPROVED and taken[1] == intent["id"]:
            # The new place is held: the older one is freed now, as the move meant to.
            r.hset(keys.booking_index(), ref, new.id)
            declared, ctx = calendar.context(
                old, now, own={"booking": keys.booking(old.id, ref),
                               "history": keys.booking_history(old.id, ref)},
                mode="release", ref=ref, to=new.id, dates=[])
            scripts("appointment_cancel", declared, [ctx])
            log.info("a move between centres finished by the repair (%s -> %s)", old.id, new.id)
        r.hdel(keys.appointment_moves(), ref)
        settled += 1
    return settled


def lapse_offers(config: Config, r: redis.Redis, now: dt.datetime) -> int:
    scripts = Scripts(r)
    lapsed = 0
    for centre in config.centres:
        declared, ctx = calendar.context(centre, now)
        lapsed += int(scripts("appointment_offers", declared, [ctx]))
    return lapsed


def remind(config: Config, r: redis.Redis, now: dt.datetime) -> int:
    """Reminders due now: on a working day from 10:00, for the next working day's visits."""
    made = 0
    for centre in config.centres:
        days = calendar.calendar(centre)
        if not days.works(now.date()) or now.time() < REMINDER_TIME:
            continue
        visit_day = days.add_working_days(now.date(), 1).isoformat()
        refs: Any = r.zrange(keys.bookings_on(centre.id, visit_day), 0, -1)
        pipe = r.pipeline(transaction=False)
        for ref in refs:
            pipe.hmget(keys.booking(centre.id, ref), "status", "appointment", "ticket",
                       "slot_start", "slot_end", "version")
        for ref, got in zip(refs, pipe.execute(), strict=True):
            status, booked_here, ticket, start, end, version = got
            if status != applications.APPROVED or booked_here != "1" or ticket:
                continue
            entry = {"kind": "reminder", "key": f"reminder:{ref}:{centre.id}:{visit_day}:{start}",
                     "ref": ref, "centre": centre.id, "date": visit_day, "start": start,
                     "end": end, "version": version}
            if mail.create(r, entry, now):
                made += 1
    return made


def compute_capacity(config: Config, r: redis.Redis, now: dt.datetime) -> dict[str, int]:
    """Capacity "auto" for each such centre, once a local day: the figure, and every day of the
    horizon that nobody has booked yet takes it."""
    today = now.date()
    out: dict[str, int] = {}
    for centre in config.centres:
        if centre.appointments.capacity != AUTO:
            continue
        key = keys.slot_capacity(centre.id)
        if r.hget(key, "computed_on") == today.isoformat():
            continue
        days = calendar.calendar(centre)
        measured: list[str] = []
        day = today
        for _ in range(366):
            if len(measured) == calendar.MEASURED_DAYS:
                break
            day -= dt.timedelta(days=1)
            if days.works(day):
                measured.append(day.isoformat())
        people = calendar.auto_capacity(
            centre, stats.measured_service_minutes(r, centre.id, measured))
        r.hset(key, mapping={"auto": people})
        day = today
        while day <= calendar.last_day(centre, today):
            taken: Any = r.hgetall(keys.slot_places(centre.id, day.isoformat()))
            if not any(int(v) for v in dict(taken).values()):
                r.hset(key, day.isoformat(), people)
            day += dt.timedelta(days=1)
        r.hset(key, "computed_on", today.isoformat())
        out[centre.id] = people
        log.info("capacity auto of %s: %d a slot", centre.id, people)
    return out


def purge_applications(config: Config, r: redis.Redis) -> int:
    """Applications whose booking lost its personal fields lose theirs."""
    forgotten = 0
    for ref in r.hkeys(keys.application_refs()):
        where: Any = r.hget(keys.booking_index(), ref)
        if not where:
            continue
        if r.hget(keys.booking(str(where), str(ref)), "personal_removed_at"):
            digest: Any = r.hget(keys.application_refs(), ref)
            if r.hget(keys.application(str(digest)), "email"):
                applications.forget_personal(r, str(ref))
                forgotten += 1
    return forgotten


def _run(work: Any) -> Any:
    config = config_mod.load_default()
    r = runtime.connect(runtime.redis_url(config))
    try:
        return work(config, r, from_environment(config.tz))
    finally:
        r.close()


def run_every_minute() -> dict[str, int]:
    """The worker's job: repairs, lapsed offers and reminders."""
    def work(config: Config, r: redis.Redis, clock: Clock) -> dict[str, int]:
        now = clock.now()
        return {"moves_repaired": repair_moves(config, r, now),
                "offers_lapsed": lapse_offers(config, r, now),
                "reminders": remind(config, r, now)}
    result: dict[str, int] = _run(work)
    return result


def run_hourly() -> dict[str, Any]:
    def work(config: Config, r: redis.Redis, clock: Clock) -> dict[str, Any]:
        return {"capacity": compute_capacity(config, r, clock.now()),
                "applications_purged": purge_applications(config, r)}
    result: dict[str, Any] = _run(work)
    return result


APPOINTMENTS_MINUTE = Periodic("appointments-minute", "maintenance",
                               "queueserver.appointments.maintenance.run_every_minute",
                               lambda config: EVERY_MINUTE_S)
APPOINTMENTS_HOURLY = Periodic("appointments-hourly", "maintenance",
                               "queueserver.appointments.maintenance.run_hourly",
                               lambda config: HOURLY_S)
