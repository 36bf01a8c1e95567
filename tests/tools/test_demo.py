"""The demo's parts that need no process: its clock, its sample day, its console lines
(CONTRACT §8). `tests/e2e/test_demo.py` starts the demo itself."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import random
import re
import time

import pytest

from queueserver.platform import clock as clock_mod
from queueserver.platform import config
from queueserver.platform.clock import DemoClock
from queueserver.rules import identity
from queueserver.rules.vocab import EventType
from queueserver.rules.workdays import Calendar
from queueserver.service import counter_service as service
from queueserver.tools.demo import console, day

# The shipped sample, which the demo runs on.
SAMPLE = config.load(config.sample_path())
TZ = SAMPLE.tz
WAN_CHAI = SAMPLE.centres[0]
WEEKDAYS = Calendar.of(WAN_CHAI.working_weekdays, WAN_CHAI.holidays)  # Mon-Fri, 25-26 Dec off


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=TZ)


@pytest.mark.parametrize(("now", "start"), [
    ("2026-11-24 23:10", "2026-11-25 10:00"),  # a Tuesday evening: Wednesday
    ("2026-11-30 00:05", "2026-11-30 10:00"),  # just after midnight on a Monday: that Monday
    ("2026-11-29 15:00", "2026-11-30 10:00"),  # a Sunday: Monday
    ("2026-11-27 11:59", "2026-11-27 10:00"),  # a Friday morning: that Friday, from ten
    ("2026-11-27 12:00", "2026-11-30 10:00"),  # a Friday from noon: Monday
    ("2026-12-24 18:00", "2026-12-28 10:00"),  # Christmas Eve: past the two holidays
])
def test_the_demo_day_is_the_next_working_day_from_ten(now: str, start: str) -> None:
    assert day.demo_start(WEEKDAYS, at(now)) == at(start)


def demo_clock(start: str, rate: float, passed_real_s: float) -> DemoClock:
    return DemoClock(TZ, at(start), rate=rate, real_start=time.time() - passed_real_s,
                     calendar=WEEKDAYS)


def close_to(a: dt.datetime, b: dt.datetime, seconds: float) -> bool:
    return abs((a - b).total_seconds()) <= seconds


def test_the_demo_clock_runs_at_its_speed() -> None:
    c = demo_clock("2026-11-30 10:00", 10, 60)  # a real minute at ten times: ten minutes
    assert close_to(c.now(), at("2026-11-30 10:10"), 5)
    assert c.demo and c.pace == 10
    assert close_to(demo_clock("2026-11-30 10:00", 1, 0).now(), at("2026-11-30 10:00"), 1)


def test_at_five_the_next_working_day_begins_at_ten() -> None:
    # A Friday at 16:50, twenty minutes on: Monday 10:10.
    c = demo_clock("2026-11-27 16:50", 60, 20)
    assert close_to(c.now(), at("2026-11-30 10:10"), 60)
    # Six days of seven hours and half an hour on from Tuesday 22 December, an hour a real
    # second: past Christmas (25, 26) and the weekend (27), to Thursday 31 at 10:30.
    days = demo_clock("2026-12-22 10:00", 3600, 6 * 7 + 0.5)
    assert close_to(days.now(), at("2026-12-31 10:30"), 120)


def test_every_process_reads_the_same_demo_clock() -> None:
    c = demo_clock("2026-11-30 10:00", 10, 30)
    again = DemoClock.from_environment_value(TZ, c.to_environment())
    assert close_to(again.now(), c.now(), 1)
    assert again.calendar == c.calendar and again.closes == c.closes


def test_only_the_demo_sets_the_demo_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QUEUESERVER_TEST_NOW", raising=False)
    monkeypatch.delenv(clock_mod.DEMO_ENV, raising=False)
    real = clock_mod.from_environment(TZ)
    assert not real.demo and real.pace == 1 and not isinstance(real, DemoClock)
    c = demo_clock("2026-11-30 10:00", 10, 0)
    monkeypatch.setenv(clock_mod.DEMO_ENV, c.to_environment())
    read = clock_mod.from_environment(TZ)
    assert isinstance(read, DemoClock) and close_to(read.now(), c.now(), 1)


def test_a_restarted_demo_goes_on_from_its_clock() -> None:
    now = at("2026-11-29 15:00")  # a Sunday: Monday's demo
    fresh = day.demo_clock(SAMPLE, now, 1, real_start=time.time())
    assert close_to(fresh.now(), at("2026-11-30 10:00"), 1)
    kept = day.demo_clock(SAMPLE, now, 1, at("2026-11-30 11:23"), real_start=time.time())
    assert close_to(kept.now(), at("2026-11-30 11:23"), 1)
    # A kept reading of an earlier demo day is history: the new day starts at ten.
    old = day.demo_clock(SAMPLE, now, 1, at("2026-11-27 16:00"), real_start=time.time())
    assert close_to(old.now(), at("2026-11-30 10:00"), 1)


def test_the_sample_day_fills_the_hours_with_real_looking_bookings() -> None:
    monday = dt.date(2026, 11, 30)
    people = day.samples(WAN_CHAI, monday)
    slots = sorted({s.booking.slot_start for s in people})
    assert slots[0] == "09:00" and slots[-1] == "16:30" and len(slots) == day.SLOTS
    assert len(people) == day.SLOTS * (day.PER_SLOT + 1)
    assert sum(s.visitor for s in people) == day.SLOTS
    assert all(identity.valid("hkid", s.booking.id_number) for s in people)
    assert all(re.fullmatch(r"[A-Za-z0-9]{1,32}", s.booking.ref) for s in people)
    assert len({s.booking.ref for s in people}) == len(people)
    assert day.samples(WAN_CHAI, monday) == people  # a restart finds the same people
    other = {s.booking.ref for s in day.samples(WAN_CHAI, monday + dt.timedelta(days=1))}
    assert not other & {s.booking.ref for s in people}


def test_at_any_minute_of_the_demo_day_the_suggested_booking_checks_in() -> None:
    """Within its arrival window now and for half an hour more, whatever the minute (the
    console's booking was once `too_early` after midnight)."""
    monday = dt.date(2026, 11, 30)
    kept = [s for s in day.samples(WAN_CHAI, monday) if s.visitor]
    minute = dt.datetime.combine(monday, dt.time(10, 0), tzinfo=TZ)
    while minute.time() < dt.time(17, 0):
        s = day.suggestion(WAN_CHAI, kept, minute)
        assert s is not None, minute
        assert day.window_open(WAN_CHAI, s.slot, minute, margin=30), (minute, s.slot)
        minute += dt.timedelta(minutes=1)


def test_the_first_hour_is_stored_at_start_and_the_rest_after() -> None:
    people = day.samples(WAN_CHAI, dt.date(2026, 11, 30))
    now = at("2026-11-30 10:00")
    soon, later = day.split_day(people, now)
    assert soon and later and len(soon) + len(later) == len(people)
    # Every slot whose check-in opens within the hour is there at start.
    for s in people:
        opens = dt.datetime.combine(now.date(), s.slot, tzinfo=TZ) - dt.timedelta(
            minutes=WAN_CHAI.arrival_before_minutes)
        if opens <= now + dt.timedelta(hours=1):
            assert s in soon, s.slot


def test_a_wrong_identity_number_is_one_the_desk_refuses() -> None:
    rng = random.Random(7)
    for s in day.samples(WAN_CHAI, dt.date(2026, 11, 30))[:200]:
        wrong = day.wrong_id(s.booking.id_number, rng)
        assert wrong != s.booking.id_number
        # Either no identity number at all (invalid_id_number) or someone else's (id_mismatch).
        assert not identity.valid("hkid", wrong) or identity.normalise(
            "hkid", wrong) != identity.normalise("hkid", s.booking.id_number)


def test_the_earlier_days_permits_are_ready_today() -> None:
    today = dt.date(2026, 11, 30)
    earlier = day.earlier_day(SAMPLE, today)
    assert earlier is not None and earlier < today
    for c in SAMPLE.centres:
        assert service.calendar(c).works(earlier)
        assert service.collection_date(c, earlier) <= today


def event(kind: str, at_: str = "2026-11-30T10:04:12+08:00", **data: object) -> dict[str, object]:
    return {"id": "1-0", "type": kind, "at": at_, "data": data}


def test_each_event_reads_as_one_short_line() -> None:
    assert console.event_line(WAN_CHAI, event("ticket.called", ticket="A023", counter=2,
                                           service="A")) == "A023 → counter 2"
    assert console.event_line(WAN_CHAI, event("ticket.recalled", ticket="A023", counter=2)) == \
        "A023 → counter 2 (called again)"
    assert console.event_line(WAN_CHAI, event("ticket.issued", ticket="P004", service="P",
                                           position=2, priority=True)) == \
        "P004 checked in at the desk (priority), 2 ahead"
    assert console.event_line(WAN_CHAI, event("ticket.transferred", ticket="A023", service="P",
                                           from_counter=3)) == \
        "A023 sent from counter 3 to the priority queue"
    assert console.event_line(WAN_CHAI, event("ticket.declined", ticket="A030", counter=4,
                                           reason="documents_missing")) == \
        "A030 declined at counter 4 (documents missing)"
    assert console.event_line(WAN_CHAI, event("counter.paused", counter=5)) == "counter 5 paused"
    assert console.event_line(WAN_CHAI, event("personal_data.purge")) is None
    assert console.event_line(WAN_CHAI, event("something.new")) == "something.new"
    # Every event the centres' streams carry reads as words, not as its type.
    for kind in EventType:
        if not kind.startswith("personal_data."):
            line = console.event_line(WAN_CHAI, event(kind, ticket="A001", counter=1, service="A"))
            assert line and line != kind, kind


def test_the_console_joins_an_acceptance_and_its_payment() -> None:
    c = demo_clock("2026-11-30 10:00", 10, 0)
    out = io.StringIO()

    async def play() -> None:
        lines = console.Console(SAMPLE, c, out)
        lines.hold_s = 0.05
        lines.show(WAN_CHAI, event("ticket.called", ticket="A019", counter=2))
        lines.show(WAN_CHAI, event("ticket.accepted", "2026-11-30T10:04:30+08:00",
                                     ticket="A019", counter=2))
        lines.show(WAN_CHAI, event("ticket.paid", "2026-11-30T10:04:40+08:00", ticket="A019",
                                     counter=2, amount_hkd=320, method="octopus"))
        # An acceptance whose payment does not follow is shown on its own, a moment later.
        lines.show(WAN_CHAI, event("ticket.accepted", ticket="A020", counter=3))
        for _ in range(200):
            if "A020" in out.getvalue():
                break
            await asyncio.sleep(0.01)
        # A past day's events (a late day close) are not what happens now.
        lines.show(WAN_CHAI, event("ticket.no_show", "2026-11-27T23:59:59+08:00",
                                     ticket="A099", reason="day_closed"))

    asyncio.run(play())
    assert out.getvalue().splitlines() == [
        "10:04:12 wan-chai     A019 → counter 2",
        "10:04:40 wan-chai     A019 accepted, HK$320 paid (octopus)",
        "10:04:12 wan-chai     A020 accepted at counter 3",
    ]
