"""The demo's day: where its clock starts, the sample bookings that fill it, the booking the
visitor tries at the desk, and the earlier day whose permits wait at the kiosk."""

from __future__ import annotations

import datetime as dt
import random
import time
from dataclasses import dataclass

import redis

from queueserver.bookings.store import Booking, BookingStore
from queueserver.platform.clock import DemoClock, iso
from queueserver.platform.config import Centre, Config
from queueserver.rules import identity
from queueserver.rules.vocab import ApplicationType
from queueserver.rules.workdays import Calendar
from queueserver.service import counter_service as service
from queueserver.tools.simulation import hkid

DAY_OPENS = dt.time(10, 0)
DAY_CLOSES = dt.time(17, 0)
# Started before noon on a working day, the demo shows that day; later, the next working day.
SAME_DAY_UNTIL = dt.time(12, 0)


FIRST_SLOT = dt.time(9, 0)
SLOT_MINUTES = 30
SLOTS = 16                 # 09:00 to 17:00
PER_SLOT = 48              # bookings a slot for the simulated arrivals: more than come
VISITOR_COUNTER = 1        # the person trying the demo's counter; no simulated clerk there
# At start, the bookings of the slots starting within this many minutes (check-in opens 30
# minutes before a slot); the rest of the day follows once the centres are at work.
STORED_FIRST_MINUTES = 90
KIOSK_RECEIPTS = 2         # permits from an earlier day ready at each centre's kiosk
SURNAMES = ["CHAN", "WONG", "SMITH", "PATEL", "NGUYEN", "GARCIA", "KHAN", "MÜLLER", "SANTOS",
            "OKAFOR", "LEE", "SATO"]
GIVEN = ["TAI MAN", "MEI LING", "ALEX", "PRIYA", "MINH", "SOFIA", "OMAR", "LENA", "JOÃO", "ADA",
         "KA YAN", "HARUTO"]
# The booking mix: most come to renew.
TYPES = [ApplicationType.RENEWAL, ApplicationType.FIRST, ApplicationType.RENEWAL,
         ApplicationType.FIRST, ApplicationType.RENEWAL, ApplicationType.REISSUE_LOST,
         ApplicationType.RENEWAL, ApplicationType.REISSUE_DAMAGED]
NATIONALITIES = ["GBR", "IND", "PHL", "USA", "AUS", "CAN", "FRA", "JPN"]


def demo_start(calendar: Calendar, now: dt.datetime) -> dt.datetime:
    """10:00 on the next working day, or today's if today is one and it is before noon."""
    day = now.date()
    if not (calendar.works(day) and now.time() < SAME_DAY_UNTIL):
        day = calendar.add_working_days(day, 1)
    return dt.datetime.combine(day, DAY_OPENS, tzinfo=now.tzinfo)


def day_closes(config: Config) -> dt.time:
    """17:00, or earlier where a centre's day-close job ends the day before then."""
    closing = min(dt.time.fromisoformat(c.closing_time) for c in config.centres)
    return closing if DAY_OPENS < closing < DAY_CLOSES else DAY_CLOSES


def demo_clock(config: Config, now: dt.datetime, speed: float,
               kept: dt.datetime | None = None, real_start: float | None = None) -> DemoClock:
    """The demo clock from `now` (the real time, or the test-mode clock's), going on from `kept`
    (a previous run's last reading) where that is later."""
    first = config.centres[0]
    calendar = Calendar.of(first.working_weekdays, first.holidays)
    start = demo_start(calendar, now.astimezone(config.tz))
    if kept is not None and kept > start:
        start = kept.astimezone(config.tz)
    return DemoClock(config.tz, start, rate=speed,
                     real_start=time.time() if real_start is None else real_start,
                     opens=DAY_OPENS, closes=day_closes(config), calendar=calendar)


# --- sample bookings ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    booking: Booking
    barcode: str
    visitor: bool = False  # kept for the person at the desk: no simulated person uses it

    @property
    def slot(self) -> dt.time:
        return dt.time.fromisoformat(self.booking.slot_start)


def _code(centre: Centre) -> str:
    return "".join(part[0] for part in centre.id.split("-")).upper()


def _person(centre: Centre, day: dt.date, n: int, ref: str, slot: dt.datetime,
            barcode: str, visitor: bool = False) -> Sample:
    rng = random.Random(f"{centre.id}/{day.isoformat()}/{ref}")
    return Sample(Booking(
        ref=ref, centre=centre.id, date=day.isoformat(), slot_start=slot.strftime("%H:%M"),
        slot_end=(slot + dt.timedelta(minutes=SLOT_MINUTES)).strftime("%H:%M"),
        application_type=TYPES[n % len(TYPES)], surname=rng.choice(SURNAMES),
        given_names=rng.choice(GIVEN), id_kind="hkid", id_number=hkid(rng),
        passport_no=f"X{rng.randrange(10 ** 7):07d}", nationality=rng.choice(NATIONALITIES),
        status="approved"), barcode=barcode, visitor=visitor)


def samples(centre: Centre, day: dt.date) -> list[Sample]:
    """A demo day's bookings: PER_SLOT + 1 in each half-hour slot from 09:00 to 17:00, the first
    of each slot kept for the visitor. The same centre and day always give the same people."""
    stamp = day.strftime("%y%m%d")
    code = _code(centre)
    out = []
    for s in range(SLOTS):
        slot = dt.datetime.combine(day, FIRST_SLOT) + dt.timedelta(minutes=SLOT_MINUTES * s)
        for k in range(PER_SLOT + 1):
            n = s * (PER_SLOT + 1) + k
            out.append(_person(centre, day, n, f"DM{code}{stamp}{n:04d}", slot,
                               f"PH{code}{stamp}{n:04d}", visitor=k == 0))
    return out


def kiosk_samples(centre: Centre, day: dt.date) -> list[Sample]:
    """The people whose permits wait at the kiosk: booked on an earlier day at 10:00."""
    stamp = day.strftime("%y%m%d")
    code = _code(centre)
    slot = dt.datetime.combine(day, DAY_OPENS)
    return [_person(centre, day, n, f"DK{code}{stamp}{n:02d}", slot, f"PK{code}{stamp}{n:02d}")
            for n in range(KIOSK_RECEIPTS)]


def _minutes(t: dt.time) -> int:
    return t.hour * 60 + t.minute


def window_open(centre: Centre, slot: dt.time, now: dt.datetime, margin: int = 0) -> bool:
    """Whether the desk checks a booking of this slot in now (and still `margin` minutes on)."""
    start, at = _minutes(slot), _minutes(now.time())
    return (start - centre.arrival_before_minutes <= at
            and at + margin <= start + centre.arrival_after_minutes)


def suggestion(centre: Centre, kept: list[Sample], now: dt.datetime) -> Sample | None:
    """The visitor's booking to try at the desk: the one checked in longest from now on."""
    open_now = [s for s in kept if window_open(centre, s.slot, now)]
    return max(open_now, key=lambda s: s.slot, default=None)


def earlier_day(config: Config, today: dt.date) -> dt.date | None:
    """The latest working day of every centre whose permits are ready today."""
    for back in range(1, 120):
        day = today - dt.timedelta(days=back)
        if all(service.calendar(c).works(day) and service.collection_date(c, day) <= today
               for c in config.centres):
            return day
    return None


def wrong_id(right: str, rng: random.Random) -> str:
    """What a person gives by mistake: a digit misread (the check digit fails), or someone
    else's card (it is valid, but not the booking's)."""
    if rng.random() < 0.5:
        body = right[:-3]
        for check in "0123456789A":
            candidate = f"{body}({check})"
            if not identity.valid("hkid", candidate):
                return candidate
    return hkid(rng)


def split_day(people: list[Sample], now: dt.datetime) -> tuple[list[Sample], list[Sample]]:
    """The bookings whose check-in opens within the hour (stored at start), and the rest of the
    day (stored once the centres are at work: the start is quicker)."""
    limit = (now + dt.timedelta(minutes=STORED_FIRST_MINUTES)).time()
    if (now + dt.timedelta(minutes=STORED_FIRST_MINUTES)).date() != now.date():
        limit = dt.time.max
    soon = [s for s in people if s.slot <= limit]
    return soon, [s for s in people if s.slot > limit]


def store_bookings(r: redis.Redis, secret: bytes, people: list[Sample], at: dt.datetime) -> None:
    """Through the booking store, as an import does (a second time changes nothing)."""
    BookingStore(r, secret, "demo", iso(at)).apply([s.booking for s in people])


@dataclass(frozen=True)
class Ready:
    centre: str
    receipt_no: str
    id_number: str
