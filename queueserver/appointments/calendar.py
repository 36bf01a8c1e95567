"""Which slots a centre offers, and when (CONTRACT §11, `[centres.appointments]`).

The centre's configuration and a time in, slots out (and the scripts' context). A slot is a
start on a working day (the centre's working weekdays less its holidays: the calendar of
collection dates) within the bookable hours; it can be booked from today to `horizon_days`
ahead and not inside the minimum notice. Times are local; a slot is named by its date and its
start, "HH:MM".
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from dataclasses import dataclass
from typing import Any

from queueserver.platform.clock import iso, ms
from queueserver.platform.config import AUTO, Centre
from queueserver.rules.workdays import Calendar
from queueserver.store import keys, lua

# A waiting list's offer holds its place this long for the one offered it (CONTRACT §11).
OFFER_HOLD = dt.timedelta(hours=2)
# After a block cancelled their appointment, an applicant may take a slot inside the minimum
# notice for this long (CONTRACT §11).
REBOOK_PRIVILEGE = dt.timedelta(days=7)
# The most days one listing may span (CONTRACT §11).
MAX_LISTING_DAYS = 31
# Days of measured service times that capacity "auto" averages (CONTRACT §11).
MEASURED_DAYS = 20


def hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def minutes_of(text: str) -> int:
    hours, _, minutes = text.partition(":")
    return int(hours) * 60 + int(minutes)


def local_text(instant: dt.datetime) -> str:
    """'YYYY-MM-DD HH:MM', how the scripts compare local times (as text, in order)."""
    return instant.strftime("%Y-%m-%d %H:%M")


# A listing asks these for each of 31 days: worked out once per centre (a configuration never
# changes while a process runs).
@functools.cache
def calendar(centre: Centre) -> Calendar:
    return Calendar.of(centre.working_weekdays, centre.holidays)


@functools.cache
def _starts(centre: Centre) -> tuple[str, ...]:
    slot = centre.appointments.slot_minutes
    out: list[str] = []
    for begin, end in centre.appointments.periods:
        t = begin
        while t + slot <= end:
            out.append(hhmm(t))
            t += slot
    return tuple(out)


def starts(centre: Centre) -> list[str]:
    """Every slot start of a working day, in order."""
    return list(_starts(centre))


def end_of(centre: Centre, start: str) -> str:
    return ends(centre).get(start) or hhmm(minutes_of(start) + centre.appointments.slot_minutes)


@functools.cache
def ends(centre: Centre) -> dict[str, str]:
    """Each slot start's end (one dict per centre, shared: read it, never change it)."""
    return {s: hhmm(minutes_of(s) + centre.appointments.slot_minutes) for s in _starts(centre)}


def last_day(centre: Centre, today: dt.date) -> dt.date:
    return today + dt.timedelta(days=centre.appointments.horizon_days)


def is_slot(centre: Centre, date: dt.date, start: str) -> bool:
    """A slot of the centre at all: a working day and one of its starts (the horizon and the
    notice aside)."""
    return calendar(centre).works(date) and start in starts(centre)


def at(centre: Centre, date: dt.date, start: str, tz: Any) -> dt.datetime:
    return dt.datetime.combine(date, dt.time(*divmod(minutes_of(start), 60)), tzinfo=tz)


def earliest(centre: Centre, now: dt.datetime, rebook: bool = False) -> dt.datetime:
    """The first instant a slot may start to be booked now: past the minimum notice, or with
    the privilege of a block's cancellation, any time still ahead."""
    if rebook:
        return now
    return now + dt.timedelta(hours=centre.appointments.min_notice_hours)


def bookable(centre: Centre, now: dt.datetime, date: dt.date, rebook: bool = False) -> list[str]:
    """The starts of `date` that can be booked now (blocks and places aside): local times
    compared as the scripts compare them, 'YYYY-MM-DD HH:MM'."""
    if not calendar(centre).works(date) or not now.date() <= date <= last_day(centre, now.date()):
        return []
    first = local_text(earliest(centre, now, rebook))
    day = date.isoformat()
    if day > first[:10]:
        return starts(centre)
    after = local_text(now)
    return [s for s in _starts(centre) if f"{day} {s}" >= first and f"{day} {s}" > after]


def serving_counters(centre: Centre) -> int:
    """Counters that serve applications: those with a service that takes application types."""
    takes = {s.code for s in centre.services if s.application_types}
    return sum(1 for c in centre.counters if takes & set(c.services))


def auto_capacity(centre: Centre, mean_service_minutes: float | None) -> int:
    """People a slot when capacity is "auto": counters serving applications x slot minutes /
    mean service minutes (the centre's default while nothing was measured), at least one."""
    mean = mean_service_minutes or float(centre.default_service_minutes)
    people = serving_counters(centre) * centre.appointments.slot_minutes / max(mean, 0.1)
    return max(1, math.floor(people))


def context(centre: Centre, now: dt.datetime, own: dict[str, str] | None = None,
            **extra: Any) -> tuple[list[str], dict[str, Any]]:
    """An appointment script's KEYS and context (store/scripts/_appointments.lua): the centre's
    offers, capacity and outbox and the script's `own` keys, declared by name; the prefixes of
    the keys it finds while it runs."""
    settings = centre.appointments
    is_auto = settings.capacity == AUTO
    c = centre.id
    declared, at = lua.declare({"offers": keys.offers(c), "capacity": keys.slot_capacity(c),
                                "outbox": keys.mail_outbox(c), **(own or {})})
    prefixes = {"slots": keys.slot_places(c, ""), "blocks": keys.slot_blocks(c, ""),
                "waitlist": keys.waitlist(c, ""), "offer": keys.offer(c, ""),
                "bookings": keys.bookings_on(c, ""), "by_id": keys.bookings_by_id(c, ""),
                "booking": keys.booking(c, ""), "history": keys.booking_history(c, "")}
    return declared, {
        "keys": at, "prefixes": prefixes, "ends": ends(centre),
        "centre": centre.id, "now_iso": iso(now),
        "now_ms": ms(now), "now_local": local_text(now),
        "cutoff": local_text(earliest(centre, now)), "slot_minutes": settings.slot_minutes,
        "capacity": auto_capacity(centre, None) if is_auto else settings.capacity,
        "capacity_auto": is_auto, "hold_ms": int(OFFER_HOLD.total_seconds() * 1000),
        "max_changes": settings.max_changes,
        **extra,
    }


@dataclass(frozen=True)
class Day:
    """One day of a listing: its date and the starts that may be booked now (shared between
    listings: read them, never change them)."""

    date: dt.date
    starts: list[str]


def days(centre: Centre, now: dt.datetime, first: dt.date, last: dt.date,
         rebook: bool = False) -> list[Day]:
    """The days from `first` to `last` with a slot that can be booked now (blocks and places
    aside), and those slots. What can be booked changes by the minute: a listing is worked
    out once a minute for each span asked (an opening rush asks the same one thousands of
    times)."""
    return list(_days(centre, now.replace(second=0, microsecond=0), first, last, rebook))


@functools.lru_cache(maxsize=1024)
def _days(centre: Centre, minute: dt.datetime, first: dt.date, last: dt.date,
          rebook: bool) -> tuple[Day, ...]:
    out = []
    day = first
    while day <= last:
        found = bookable(centre, minute, day, rebook)
        if found:
            out.append(Day(day, found))
        day += dt.timedelta(days=1)
    return tuple(out)
