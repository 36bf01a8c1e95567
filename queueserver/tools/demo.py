"""`queueserver demo`: a living centre at any hour, in one process tree (CONTRACT §8).

It runs on the embedded default (or, where no `redis-server` is installed, on a fakeredis server
inside this process, keeping nothing), on its own **demo clock**: 10:00 on the next working day
of the first centre (today, if today is one and it is not yet noon), running `--speed` times as
fast as the real one; at 17:00 the next working day begins at 10:00. The worker and the web
server read the same clock (`QUEUESERVER_DEMO_CLOCK`, clock.py); a restarted demo goes on from
where its clock stopped, so its data never lies in its future.

The sample bookings fill each demo day from 09:00 to 17:00; one booking in each half-hour slot is
kept for the person trying the desk. Simulated people and clerks go through the real HTTP API,
as anyone at a screen does: arrivals check in at the desk (some priority, some with a wrong
identity number first, some who never come when called), clerks at every counter but counter 1
call, serve, recall, accept, take the fee and issue receipts, or decline, transfer and mark
no-shows, with pauses drawn like a real counter's. A few permits from an earlier day wait at the
collection kiosk. The console prints the screens, logins and tokens, then one line per event from
the centres' event streams; the server's and the worker's logs go to `demo.log` in the data
folder.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import datetime as dt
import json
import logging
import logging.config
import math
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TextIO

import httpx
import redis
import redis.asyncio
import uvicorn
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import WebSocketException

from queueserver.auth import credentials as auth
from queueserver.bookings.store import Booking, BookingStore
from queueserver.operations import dayclose
from queueserver.platform import embedded, logs, runtime
from queueserver.platform.clock import DEMO_ENV, Clock, DemoClock, from_environment, iso
from queueserver.platform.config import Centre, Config
from queueserver.rules import identity
from queueserver.rules.vocab import ApplicationType, DeclineReason, PaymentMethod
from queueserver.rules.workdays import Calendar
from queueserver.service import counter_service as service
from queueserver.sounds import clips, engines, render
from queueserver.store import keys
from queueserver.tools.simulation import hkid
from queueserver.web.app import create_app

log = logging.getLogger("queueserver.demo")

# --- the demo clock ---------------------------------------------------------------------------

DAY_OPENS = dt.time(10, 0)
DAY_CLOSES = dt.time(17, 0)
# Started before noon on a working day, the demo shows that day; later, the next working day.
SAME_DAY_UNTIL = dt.time(12, 0)
# The demo clock's reading is kept this often (real seconds), for a restart to go on from it.
CLOCK_KEPT_EVERY_S = 2.0
# Beyond 100 times (a day in four minutes), the simulated desk alone would be rate-limited.
SPEEDS = (0.1, 100.0)

# --- the sample day ---------------------------------------------------------------------------

FIRST_SLOT = dt.time(9, 0)
SLOT_MINUTES = 30
SLOTS = 16                 # 09:00 to 17:00
PER_SLOT = 48              # bookings a slot for the simulated arrivals: more than come
VISITOR_COUNTER = 1        # the person trying the demo's counter; no simulated clerk there
# At start, the bookings of the slots starting within this many minutes (check-in opens 30
# minutes before a slot); the rest of the day follows once the centres are at work.
STORED_FIRST_MINUTES = 90
# The earlier day's clock runs this many times as fast, and its clerk waits this long (real
# seconds) between the steps of a service: about a minute of that day each.
EARLIER_RATE = 600.0
EARLIER_STEP_S = 0.1
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

# --- the simulated people (all times in demo seconds) -----------------------------------------

ARRIVAL_MEAN_S = 20.0      # one arrival at the desk every 20 s a centre, on average ...
WAITING_PER_CLERK = 3      # ... while fewer than this many wait per simulated counter
PRIORITY_SHARE = 0.08      # elderly, disabled, pregnant: the priority queue
WRONG_ID_SHARE = 0.06      # give a wrong identity number first; the desk refuses it
NO_SHOW_SHARE = 0.07       # take a number and are gone when called
SLOW_SHARE = 0.12          # come only after the number is called again
TRANSFER_SHARE = 0.03      # sent to another queue by the clerk
DECLINE_SHARE = 0.04       # documents missing, photo rejected, not eligible
# The hall hears a call at least this often (demo seconds): see Hall.pacer.
CALL_AT_LEAST_EVERY_S = 45.0
BREAK_SHARE = 0.02         # the clerk pauses the counter for a short break
SERVICE_MEAN_S = 120.0     # checking the documents (lognormal: most take 1 to 3.5 minutes)
SERVICE_SIGMA = 0.45
PAYMENT_METHODS = {PaymentMethod.OCTOPUS: 0.35, PaymentMethod.EPS: 0.25,
                   PaymentMethod.CASH: 0.25, PaymentMethod.CARD: 0.15}
# ("other" would need a note.)
DECLINE_REASONS = [r for r in DeclineReason if r is not DeclineReason.OTHER]
# The first calls wait this long (real seconds from start) at most for the offline voice.
VOICE_WAIT_S = 5.0
DAY_CHECK_S = 0.5          # how often (real seconds) the demo looks for a new demo day

LOG_NAME = "demo.log"
GTTS_HOST = ("translate.google.com", 443)
LIVE_MARK = "──── the centres at work, as it happens (Ctrl-C stops the demo) ────"
QUIET_MARK = "──── running quietly (--quiet); Ctrl-C stops the demo ────"


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


# --- credentials --------------------------------------------------------------------------------

STAFF_ROLES = (auth.Role.SUPERVISOR, auth.Role.DESK, auth.Role.CLERK, auth.Role.PHOTO)


def _fresh_token(r: redis.Redis, role: auth.Role, centre: str | None, name: str,
                 counter: int | None = None) -> str:
    auth.revoke_token(r, name)
    token, _ = auth.create_token(r, role, centre, counter, name=name)
    return token


def credentials(r: redis.Redis, config: Config) -> dict[str, str]:
    """A fresh demo credential per role and centre (the previous run's are revoked)."""
    out = {"demo-admin": _fresh_token(r, auth.Role.ADMIN, None, "demo-admin")}
    for c in config.centres:
        for role in auth.Role:
            if role is not auth.Role.ADMIN:
                name = f"demo-{role.value}-{c.id}"
                out[name] = _fresh_token(r, role, c.id, name)
    return out


@dataclass(frozen=True)
class People:
    """The simulated people's credentials at one centre (their actions carry these names)."""

    desk: str
    photo: str
    clerks: dict[int, str]


def simulation_credentials(r: redis.Redis, config: Config) -> dict[str, People]:
    out = {}
    for c in config.centres:
        prefix = f"demo-simulated-{c.id}"
        out[c.id] = People(
            desk=_fresh_token(r, auth.Role.DESK, c.id, f"{prefix}-desk"),
            photo=_fresh_token(r, auth.Role.PHOTO, c.id, f"{prefix}-photo-booth"),
            clerks={k.number: _fresh_token(r, auth.Role.CLERK, c.id,
                                           f"{prefix}-clerk-{k.number}", k.number)
                    for k in c.counters})
    return out


def logins(url: str, config: Config) -> tuple[list[str], str]:
    """Staff logins for the screens, all with one fresh password printed at start."""
    from queueserver.auth import users

    password = secrets.token_urlsafe(9)
    names = ["demo-admin"] + [f"demo-{role.value}-{c.id}" for c in config.centres
                              for role in STAFF_ROLES]
    hashed = users.hash_password(password)  # once: one password for all, and argon2 is slow

    async def create() -> None:
        r = redis.asyncio.Redis.from_url(url, decode_responses=True)
        try:
            for name in names:
                await users.revoke_user(r, name)
                _, role, centre = (name.split("-", 2) + [""])[:3]
                await users.create_user(r, name, password, auth.Role(role), centre or None,
                                        password_hash=hashed)
        finally:
            await r.aclose()

    asyncio.run(create())
    return names, password


# --- the console --------------------------------------------------------------------------------


def _label(centre: Centre, code: str) -> str:
    found = centre.service(code)
    return f"the {found.name_en.lower()} queue" if found else f"queue {code}"


def event_line(centre: Centre, event: dict[str, Any]) -> str | None:
    """What a person reads of one event (None: nothing worth a line). Events carry no personal
    data (CONTRACT §6), and nothing here adds any."""
    kind, d = str(event.get("type", "")), event.get("data") or {}
    t, n = d.get("ticket", ""), d.get("counter")
    lines = {
        "ticket.issued": f"{t} checked in at the desk" + (" (priority)" if d.get("priority")
                                                           else "")
        + (f", {d['position']} ahead" if isinstance(d.get("position"), int) else ""),
        "ticket.called": f"{t} → counter {n}",
        "ticket.recalled": f"{t} → counter {n} (called again)",
        "ticket.no_show": (f"{t} not served: the day closed" if d.get("reason") == "day_closed"
                           else f"{t} did not come to counter {n}"),
        "ticket.transferred": f"{t} sent from counter {d.get('from_counter')} to "
                              f"{_label(centre, d.get('service', ''))}",
        "ticket.requeued": f"{t} back in the queue",
        "ticket.accepted": f"{t} accepted at counter {n}",
        "ticket.paid": f"{t} HK${d.get('amount_hkd')} paid ({d.get('method')})",
        "ticket.payment_voided": f"{t} payment voided",
        "ticket.declined": f"{t} declined at counter {n} "
                           f"({str(d.get('reason', '')).replace('_', ' ')})",
        "ticket.done": f"{t} receipt issued at counter {n}: done",
        "counter.opened": f"counter {n} open",
        "counter.paused": f"counter {n} paused",
        "counter.resumed": f"counter {n} open again",
        "counter.closed": f"counter {n} closed",
        "notice.posted": f"notice: {d.get('text_en', '')}",
        "notice.removed": "notice taken down",
        "centre.issuing_closed": "no more numbers issued today",
        "centre.issuing_opened": "numbers issued again",
        "printer.failed": f"printer {d.get('printer')} failed",
        "collection.collected": "a permit collected at the kiosk",
        "collection.flagged": "a kiosk collection flagged for a check",
    }
    if kind.startswith("personal_data."):
        return None
    return lines.get(kind, kind)


class Console:
    """One line per event of every centre, in the demo clock's time. An acceptance waits a
    moment for its payment, so the two read as one line, as at the counter."""

    def __init__(self, config: Config, clock: DemoClock, out: TextIO) -> None:
        self.config = config
        self.clock = clock
        self.out = out
        self.width = max(len(c.id) for c in config.centres)
        self.held: dict[tuple[str, str], tuple[str, asyncio.TimerHandle]] = {}
        # How long (real seconds) an acceptance waits for its payment: a demo minute.
        self.hold_s = max(1.0, 60.0 / clock.rate)

    def write(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def _line(self, at: str, centre: str, text: str) -> str:
        try:
            when = dt.datetime.fromisoformat(at).astimezone(self.config.tz).strftime("%H:%M:%S")
        except ValueError:
            when = "--:--:--"
        return f"{when} {centre.ljust(self.width)}  {text}"

    def show(self, centre: Centre, event: dict[str, Any]) -> None:
        at = str(event.get("at", ""))
        if at[:10] < self.clock.today():
            return  # a past day's close, or the kiosk's earlier day: not what happens now
        data = event.get("data") or {}
        key = (centre.id, str(data.get("ticket", "")))
        if event.get("type") == "ticket.accepted":
            line = self._line(at, centre.id, event_line(centre, event) or "")
            handle = asyncio.get_running_loop().call_later(self.hold_s, self._release, key)
            self.held[key] = (line, handle)
            return
        if event.get("type") == "ticket.paid" and key in self.held:
            _, handle = self.held.pop(key)
            handle.cancel()
            self.write(self._line(at, centre.id, f"{key[1]} accepted, HK${data.get('amount_hkd')}"
                                  f" paid ({data.get('method')})"))
            return
        self._release(key)
        text = event_line(centre, event)
        if text:
            self.write(self._line(at, centre.id, text))

    def _release(self, key: tuple[str, str]) -> None:
        held = self.held.pop(key, None)
        if held:
            held[1].cancel()
            self.write(held[0])

    async def follow(self, base_ws: str, centre: Centre, token: str, after: str) -> None:
        """The centre's events from `after` on, through the WebSocket the displays use; a
        dropped socket resumes where it stopped."""
        while True:
            url = f"{base_ws}/ws/centres/{centre.id}/events?token={token}&after={after}"
            try:
                async with ws_connect(url, ping_interval=None) as ws:
                    async for raw in ws:
                        message = json.loads(raw)
                        if message.get("type") == "board":
                            after = message["data"]["last_event_id"]
                        elif "id" in message:
                            after = message["id"]
                            self.show(centre, message)
            except (OSError, WebSocketException, json.JSONDecodeError) as e:
                log.info("the console's events of %s paused: %s", centre.id, type(e).__name__)
            await asyncio.sleep(1.0)


# --- the simulated people -----------------------------------------------------------------------


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Hall:
    """One centre's simulated arrivals and clerks, through the real API."""

    def __init__(self, live: Live, centre: Centre, people: People) -> None:
        self.live = live
        self.centre = centre
        self.people = people
        self.base = f"/api/v1/centres/{centre.id}"
        self.rng = random.Random()
        self.clerks = [c.number for c in centre.counters if c.number != VISITOR_COUNTER]
        self.cap = WAITING_PER_CLERK * max(1, len(self.clerks))
        self.pool: dict[dt.time, list[Sample]] = {}
        self.kept: list[Sample] = []
        self.absent: set[str] = set()        # tickets whose holders never come
        self.transferred: set[str] = set()
        self.ready = asyncio.Event()
        # For the pacer: when the hall last heard a call, since when each clerk has been with
        # their person (event-loop seconds), and the nod that cuts a clerk's pauses short.
        self.last_call = 0.0
        self.busy: dict[int, float] = {}
        self.hurry = {n: asyncio.Event() for n in self.clerks}

    # --- plumbing --------------------------------------------------------------------------

    async def sleep(self, demo_seconds: float) -> None:
        await asyncio.sleep(max(0.0, demo_seconds) / self.live.clock.rate)

    async def request(self, method: str, token: str, path: str,
                      body: dict[str, Any] | None = None) -> httpx.Response | None:
        try:
            answer = await self.live.http.request(method, self.base + path, json=body,
                                                  headers=_bearer(token))
        except httpx.HTTPError as e:
            log.warning("demo %s %s%s failed: %s", method, self.base, path, type(e).__name__)
            return None
        if answer.status_code >= 500:
            log.warning("demo %s %s%s answered %s", method, self.base, path, answer.status_code)
        return answer

    async def post(self, token: str, path: str,
                   body: dict[str, Any] | None = None) -> httpx.Response | None:
        return await self.request("POST", token, path, body or {})

    @staticmethod
    def ok(answer: httpx.Response | None) -> bool:
        return answer is not None and answer.status_code < 300

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        self.live.spawn(work)

    # --- the day ---------------------------------------------------------------------------

    def open_day(self, day: dt.date) -> None:
        """The day's bookings, for the simulated people and for the visitor. (A restarted demo
        finds some checked in: the desk says so, and the next booking is taken.)"""
        everyone = samples(self.centre, day)
        self.pool = {}
        for s in everyone:
            if not s.visitor:
                self.pool.setdefault(s.slot, []).append(s)
        self.kept = [s for s in everyone if s.visitor]
        self.absent.clear()
        self.transferred.clear()

    def seeds(self) -> int:
        """How many are waiting when the demo's day opens: a call for every clerk, and more."""
        return 2 * len(self.clerks) + 3

    async def seed(self, wanted: int) -> None:
        """People already waiting when the demo's day opens, checked in at once."""
        tries = 0
        while wanted > 0 and tries < 100:
            tries += 1
            s = self.pick(self.live.clock.now())
            if s is None:
                return
            wanted -= await self.arrive(s, hurry=True)

    async def suggest(self) -> Sample | None:
        """The visitor's booking to try at the desk, its photo receipt registered."""
        while True:
            s = suggestion(self.centre, self.kept, self.live.clock.now())
            if s is None:
                return None
            self.kept.remove(s)
            found = await self.post(self.people.desk, "/bookings/lookup",
                                    {"booking_ref": s.booking.ref})
            if found is None or found.status_code != 200:
                return None
            if not any(b["checked_in"] for b in found.json()["bookings"]):
                await self.post(self.people.photo, "/photo-receipts", {"barcode": s.barcode})
                return s

    def pick(self, now: dt.datetime) -> Sample | None:
        slots = [slot for slot, left in self.pool.items()
                 if left and window_open(self.centre, slot, now, margin=3)]
        if not slots:
            return None
        return self.pool[self.rng.choice(slots)].pop()

    async def waiting(self) -> int:
        answer = await self.request("GET", self.people.desk, "/board")
        if answer is None or answer.status_code != 200:
            return self.cap
        return sum(int(v) for v in answer.json().get("waiting", {}).values())

    # --- arrivals --------------------------------------------------------------------------

    async def arrivals(self) -> None:
        while True:
            await self.sleep(self.rng.expovariate(1.0 / ARRIVAL_MEAN_S))
            await self.ready.wait()
            if await self.waiting() >= self.cap:
                continue  # the hall is full enough: the booked slots were sold for the counters
            s = self.pick(self.live.clock.now())
            if s is not None:
                self.spawn(self.arriving(s))

    async def arriving(self, s: Sample) -> None:
        await self.arrive(s)

    async def arrive(self, s: Sample, hurry: bool = False) -> bool:
        """From the photo booth to the desk, with the booking's papers."""
        b = s.booking
        await self.post(self.people.photo, "/photo-receipts", {"barcode": s.barcode})
        body = {"booking_ref": b.ref, "id_number": b.id_number, "photo_barcode": s.barcode,
                "priority": self.rng.random() < PRIORITY_SHARE}
        if not hurry:
            await self.sleep(self.rng.uniform(10, 40))
            if self.rng.random() < WRONG_ID_SHARE:
                await self.post(self.people.desk, "/tickets",
                                {**body, "id_number": wrong_id(b.id_number, self.rng)})
                await self.sleep(self.rng.uniform(20, 60))  # finds the right card
        answer = await self.post(self.people.desk, "/tickets", body)
        if answer is None or answer.status_code != 201:
            return False
        if self.rng.random() < NO_SHOW_SHARE:
            self.absent.add(answer.json()["ticket"]["number"])
        return True

    # --- clerks ----------------------------------------------------------------------------

    async def clerk(self, n: int, first: float) -> None:
        token = self.people.clerks[n]
        await self.sleep(first)
        await self.ready.wait()
        await self.post(token, f"/counters/{n}/open")
        while True:
            await self.ready.wait()
            answer = await self.post(token, f"/counters/{n}/call")
            ticket = None
            if answer is not None and answer.status_code in (200, 409):
                body = answer.json()
                ticket = body.get("ticket")
                if answer.status_code == 409 and body["error"]["code"] == "counter_paused":
                    await self.post(token, f"/counters/{n}/resume")
                    continue
            if not ticket:
                self.busy.pop(n, None)
                await self.sleep(self.rng.uniform(10, 25))
                continue
            # (A restarted demo's clerk finds the ticket it was serving: 409 counter_busy.)
            self.called(n)
            await self.serve(token, n, ticket)
            await self.pause(n, self.rng.uniform(5, 25))
            if self.rng.random() < BREAK_SHARE:
                self.busy.pop(n, None)
                if self.ok(await self.post(token, f"/counters/{n}/pause")):
                    await self.sleep(self.rng.uniform(120, 300))
                    await self.post(token, f"/counters/{n}/resume")

    def called(self, n: int) -> None:
        now = asyncio.get_running_loop().time()
        self.last_call = now
        self.busy[n] = now
        self.hurry[n].clear()

    async def pause(self, n: int, demo_seconds: float) -> None:
        """A clerk's pause, cut short when the hall has waited too long for a call."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.hurry[n].wait(),
                                   max(0.0, demo_seconds) / self.live.clock.rate)

    async def pacer(self) -> None:
        """At least one call a demo minute: when the hall has heard none for a while, the clerk
        longest with one person finishes with them without the pauses (a supervisor's nod)."""
        loop = asyncio.get_running_loop()
        while True:
            await self.sleep(5)
            await self.ready.wait()
            quiet_s = (loop.time() - self.last_call) * self.live.clock.rate
            if quiet_s >= CALL_AT_LEAST_EVERY_S and self.busy:
                self.hurry[min(self.busy, key=lambda n: self.busy[n])].set()

    def service_seconds(self) -> float:
        mu = math.log(SERVICE_MEAN_S) - SERVICE_SIGMA ** 2 / 2
        return self.rng.lognormvariate(mu, SERVICE_SIGMA)

    async def serve(self, token: str, n: int, ticket: dict[str, Any]) -> None:
        """One person at the counter, from the call to the receipt; a step the API refuses
        (the visitor acted on the ticket, the day closed) ends it."""
        number, status = ticket["number"], ticket["status"]
        t = f"/tickets/{number}"
        if status == "called":
            if number in self.absent:
                await self.pause(n, self.rng.uniform(45, 75))
                if self.ok(await self.post(token, f"/counters/{n}/recall")):
                    self.called(n)
                await self.pause(n, self.rng.uniform(45, 75))
                await self.post(token, f"/counters/{n}/no-show")
                return
            if self.rng.random() < SLOW_SHARE:
                await self.pause(n, self.rng.uniform(30, 50))
                if not self.ok(await self.post(token, f"/counters/{n}/recall")):
                    return
                self.called(n)
            await self.pause(n, self.rng.uniform(10, 30))  # walks up to the counter
            other = self.other_service(ticket.get("service", ""))
            if other and number not in self.transferred and self.rng.random() < TRANSFER_SHARE:
                await self.pause(n, self.rng.uniform(30, 60))
                if self.ok(await self.post(token, f"/counters/{n}/transfer", {"service": other})):
                    self.transferred.add(number)
                return
            await self.pause(n, self.service_seconds())
            if self.rng.random() < DECLINE_SHARE:
                await self.post(token, t + "/decline",
                                {"reason": self.rng.choice(DECLINE_REASONS)})
                return
            if not self.ok(await self.post(token, t + "/acceptance")):
                return
            status = "accepted"
        if status == "accepted":
            booking = await self.request("GET", token, t + "/booking")
            if booking is None or booking.status_code != 200:
                return
            await self.pause(n, self.rng.uniform(10, 30))
            method = self.rng.choices(list(PAYMENT_METHODS), list(PAYMENT_METHODS.values()))[0]
            pay: dict[str, Any] = {"method": method,
                                   "amount_hkd": booking.json()["booking"]["fee_hkd"]}
            if method != "cash":
                pay["reference"] = f"{method.upper()}{self.rng.randrange(10 ** 8):08d}"
            if not self.ok(await self.post(token, t + "/payment", pay)):
                return
            status = "paid"
        if status == "paid":
            await self.pause(n, self.rng.uniform(15, 40))
            await self.post(token, t + "/receipt")

    def other_service(self, code: str) -> str | None:
        """Where a clerk sends someone who belongs in another queue: priority, or back."""
        priority = self.centre.priority_service
        if priority and code != priority.code:
            return priority.code
        others = [s.code for s in self.centre.services if s.code != code]
        return others[0] if others else None

    def start(self) -> None:
        self.last_call = asyncio.get_running_loop().time()
        self.spawn(self.arrivals())
        self.spawn(self.pacer())
        for i, n in enumerate(self.clerks):
            # The first clerk calls at once, the others settle in over half a minute.
            self.spawn(self.clerk(n, 0.0 if i == 0 else self.rng.uniform(3, 30)))


# --- an earlier day, for the kiosk ----------------------------------------------------------------


class _Server(uvicorn.Server):
    """uvicorn's server, leaving signals to the demo, which stops everything it started."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _listen(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


async def _serving(server: _Server, sock: socket.socket) -> asyncio.Task[None]:
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the web server stopped while starting")
        await asyncio.sleep(0.02)
    return task


@dataclass(frozen=True)
class Ready:
    centre: str
    receipt_no: str
    id_number: str


async def kiosk_receipts(live: Live) -> list[Ready]:
    """Permits accepted on an earlier day and ready today, made through the API of a server
    whose clock reads that day (a second one, on a free port, for the moment it takes). A
    restarted demo finds them made: the desk's answer names the ticket and its receipt."""
    today = live.clock.now().date()
    day = earlier_day(live.config, today)
    if day is None:
        return []
    people = {c.id: kiosk_samples(c, day) for c in live.config.centres}
    await asyncio.to_thread(store_bookings, live.r, live.secret,
                            [s for group in people.values() for s in group], live.clock.now())
    # Its clock runs fast and the clerk takes a breath between steps, so that these services
    # take minutes, like the simulated ones, and the wait estimates learn nothing strange.
    then = Clock(live.config.tz, dt.datetime.combine(day, dt.time(10, 15), tzinfo=live.config.tz),
                 rate=EARLIER_RATE)
    app = create_app(live.config, live.redis_url, live.secret, then)
    sock = _listen("127.0.0.1", 0)
    server = _Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on"))
    task = await _serving(server, sock)
    port = sock.getsockname()[1]
    out: list[Ready] = []
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            for ready in await asyncio.gather(*(
                    _earlier_service(http, live.config, c, live.people[c.id], people[c.id])
                    for c in live.config.centres)):
                out += ready
    finally:
        server.should_exit = True
        await task
    return out


async def _earlier_service(http: httpx.AsyncClient, config: Config, centre: Centre,
                           people: People, kiosk: list[Sample]) -> list[Ready]:
    base = f"/api/v1/centres/{centre.id}"
    # The visitor's counter, idle until the screens are printed (the simulated ones are busy).
    n = VISITOR_COUNTER if centre.counter(VISITOR_COUNTER) else centre.counters[-1].number
    clerk = _bearer(people.clerks[n])

    async def check_in(s: Sample) -> dict[str, Any] | None:
        await http.post(base + "/photo-receipts", headers=_bearer(people.photo),
                        json={"barcode": s.barcode})
        answer = await http.post(base + "/tickets", headers=_bearer(people.desk), json={
            "booking_ref": s.booking.ref, "id_number": s.booking.id_number,
            "photo_barcode": s.barcode})
        # 201 issued, or 409 already checked in (a restarted demo): the ticket either way.
        found: dict[str, Any] | None = (answer.json().get("ticket")
                                        if answer.status_code in (201, 409) else None)
        return found

    out = []
    # At the desk all at once; then one after the other at the counter.
    for s, ticket in zip(kiosk, await asyncio.gather(*(check_in(s) for s in kiosk)),
                         strict=True):
        for _ in range(4):  # call, accept, take the fee, issue the receipt
            if not ticket or ticket.get("receipt_no"):
                break
            step = _next_step(ticket, n, config.fees[ApplicationType(s.booking.application_type)])
            if step is None:
                break
            if ticket["status"] != "waiting":
                await asyncio.sleep(EARLIER_STEP_S)
            answer = await http.post(base + step[0], headers=clerk, json=step[1])
            if answer.status_code >= 300:
                log.warning("demo: an earlier day's permit at %s stopped at %s (%s)", centre.id,
                            ticket["status"], answer.status_code)
                break
            ticket = answer.json()["ticket"]  # each answer carries the ticket as it is now
        if ticket and ticket.get("receipt_no"):
            out.append(Ready(centre.id, ticket["receipt_no"], s.booking.id_number))
    await http.post(f"{base}/counters/{n}/close", headers=clerk, json={})
    return out


async def _kiosk_or_none(live: Live) -> list[Ready]:
    """The kiosk's permits are a courtesy: if making them fails, the demo goes on without."""
    try:
        return await kiosk_receipts(live)
    except (httpx.HTTPError, redis.RedisError, OSError, KeyError, ValueError):
        log.exception("demo: the earlier day's permits could not be made")
        return []


def _next_step(ticket: dict[str, Any], counter: int,
               fee: int) -> tuple[str, dict[str, Any]] | None:
    """The counter's next request for a ticket of the earlier day, by its status."""
    t = f"/tickets/{ticket['number']}"
    return {"waiting": (f"/counters/{counter}/call", {"ticket": ticket["number"]}),
            "called": (t + "/acceptance", {}),
            "accepted": (t + "/payment", {"method": "octopus", "amount_hkd": fee}),
            "paid": (t + "/receipt", {})}.get(ticket["status"])


# --- running it all -------------------------------------------------------------------------------


def _fakeredis() -> str:
    from fakeredis import TcpFakeServer

    server = TcpFakeServer(("127.0.0.1", 0), server_type="redis")
    # Its connections' threads (the worker's blocking reads among them) must not keep the demo
    # from ending once it has stopped everything.
    server.daemon_threads = True
    server.block_on_close = False
    threading.Thread(target=server.serve_forever, daemon=True, name="fakeredis").start()
    _warn("no redis-server is installed: the demo runs on an in-memory fakeredis server and "
          "NOTHING WILL BE KEPT when it stops (apt-get install redis-server keeps it)")
    return f"redis://127.0.0.1:{server.server_address[1]}/0"


def _warn(text: str) -> None:
    print(f"WARNING: {text}", file=sys.stderr, flush=True)


def _redis_url(config: Config) -> str:
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"]
    try:
        return embedded.ensure(runtime.data_dir(config), long_running=True)
    except embedded.EmbeddedRedisUnavailable:
        return _fakeredis()


def _die_with_parent() -> None:
    # The worker must not outlive the demo, even when the demo is killed outright.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _start_worker(env: dict[str, str], out: IO[bytes]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "queueserver.tools.cli", "worker"], env=env,
                            stdout=out, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)


def _stop_worker(worker: subprocess.Popen[bytes]) -> None:
    """RQ finishes the job at hand on the first SIGTERM and stops it on the second; the demo's
    jobs (audio, the day close) are all safe to run again, so it waits only a moment."""
    for wait in (2.0, 5.0):
        worker.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.wait(wait)
            return
    worker.kill()
    worker.wait(5)


def _ask_for_voices(config: Config, url: str) -> None:
    """Ask the worker for the offline voice first, so that the first calls already speak;
    gTTS, the centres' own engine, follows when the web server asks for what is missing."""
    if shutil.which(engines.ESPEAK_BINARY) is not None:
        for c in config.centres:
            render.request_render(config, c.id, url, engine="espeak")


def _voice_warning() -> str | None:
    """One line when gTTS cannot be reached (asked while the rest starts)."""
    if os.environ.get("QUEUESERVER_TEST_MODE") == "1":
        reachable = False  # test mode never reaches the network (as engines.Gtts)
    else:
        try:
            socket.create_connection(GTTS_HOST, timeout=3).close()
            reachable = True
        except OSError:
            reachable = False
    if reachable:
        return None
    if shutil.which(engines.ESPEAK_BINARY) is not None:
        return ("gTTS (Google text-to-speech) cannot be reached: calls are announced with "
                "espeak-ng's offline voice")
    return ("gTTS (Google text-to-speech) cannot be reached and espeak-ng is not installed: "
            "calls are announced with the chime only (apt-get install espeak-ng)")


def _voices_ready(config: Config, url: str, deadline: float) -> None:
    """Until the offline voice is rendered for every centre, or the deadline."""
    if shutil.which(engines.ESPEAK_BINARY) is None:
        return
    r = clips.connect(url)
    try:
        store = clips.SegmentStore(r)
        while time.monotonic() < deadline:
            if all(render.missing(store, c, "espeak") == 0 for c in config.centres):
                return
            time.sleep(0.1)
    finally:
        r.close()


@dataclass
class Live:
    """Everything the running demo shares."""

    config: Config
    clock: DemoClock
    redis_url: str
    secret: bytes
    r: redis.Redis
    people: dict[str, People]
    http: httpx.AsyncClient = field(init=False)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    out: TextIO | None = None  # the console, once the screens are printed (not with --quiet)

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(self._guarded(work))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    @staticmethod
    async def _guarded(work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception:
            # A simulated person's mistake must not stop the demo; the log says what it was.
            log.exception("a simulated person stopped")


@dataclass(frozen=True)
class Start:
    """What `run` prepared before the event loop starts."""

    host: str
    sock: socket.socket
    tokens: dict[str, str]
    staff: concurrent.futures.Future[tuple[list[str], str]]
    log_path: Path
    quiet: bool
    started: float
    voice_warning: concurrent.futures.Future[str | None]
    later: list[Sample]  # the rest of the day's bookings, stored once the centres are at work


def _url_host(host: str) -> str:
    if host in ("", "0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def screens_text(base: str, config: Config, clock: DemoClock, tokens: dict[str, str],
                 staff: tuple[list[str], str], tries: dict[str, Sample],
                 kiosk: list[Ready], log_path: Path) -> str:
    """The console's first block: where every screen is, who signs in where, what to try."""
    names, password = staff
    now = clock.now()
    pace = "at the real rate" if clock.rate == 1 else f"{clock.rate:g} times as fast as real time"
    lines = [f"\nqueueserver demo is running at {base}",
             f"  demo clock 「示範 DEMO」: {now:%A %d %B %Y, %H:%M} ({config.timezone}), {pace}; "
             f"each day runs from {clock.opens:%H:%M} to {clock.closes:%H:%M}",
             "  simulated people check in and simulated clerks serve at every counter but "
             "counter 1, which is yours",
             f"\nStaff screens: sign in at {base}/login (password of every staff login: "
             f"{password})",
             f"  {'demo-admin':<34} every centre: supervisor screen {base}/admin and all below"]
    for c in config.centres:
        lines += [f"  {'demo-supervisor-' + c.id:<34} {c.id}: supervisor screen and all below",
                  f"  {'demo-desk-' + c.id:<34} {c.id}: inquiry desk",
                  f"  {'demo-clerk-' + c.id:<34} {c.id}: the counters",
                  f"  {'demo-photo-' + c.id:<34} {c.id}: photo booth"]
    lines += [f"  staff logins: {', '.join(names)}",
              f"  password of every staff login: {password}"]
    for c in config.centres:
        t = {role.value: tokens[f"demo-{role.value}-{c.id}"] for role in auth.Role
             if role is not auth.Role.ADMIN}
        simulated = [k.number for k in c.counters if k.number != VISITOR_COUNTER]
        lines += [f"\n{c.name_en} / {c.name_zh} ({c.id})",
                  f"  hall display:  {base}/display/{c.id}?token={t['display']}",
                  f"  kiosk:         {base}/kiosk/{c.id}?token={t['kiosk']}",
                  f"  inquiry desk:  {base}/desk/{c.id}   (login demo-desk-{c.id})",
                  f"  photo booth:   {base}/photo/{c.id}   (login demo-photo-{c.id})",
                  f"  counter {VISITOR_COUNTER}:     {base}/counter/{c.id}/{VISITOR_COUNTER}   "
                  f"(login demo-clerk-{c.id}): yours"]
        if simulated:
            lines.append(f"  counters {', '.join(map(str, simulated))}: "
                         f"{base}/counter/{c.id}/N   (simulated clerks)")
        lines += [f"  board (API):   {base}/api/v1/centres/{c.id}/board",
                  *(f"  {role:<10} token: {token}" for role, token in t.items())]
        s = tries.get(c.id)
        if s is not None:
            b = s.booking
            lines.append(f"  try the desk with booking {b.ref}, identity number {b.id_number}, "
                         f"photo receipt {s.barcode} (slot {b.slot_start}-{b.slot_end})")
        for k in kiosk:
            if k.centre == c.id:
                lines.append(f"  try the kiosk with receipt {k.receipt_no}, identity number "
                             f"{k.id_number}")
    lines += [f"\nadmin token (API, every centre): {tokens['demo-admin']}",
              f"the server's and the worker's logs: {log_path}"]
    return "\n".join(lines)


def run(config: Config, host: str, port: int, speed: float = 1.0, quiet: bool = False) -> int:
    started = time.monotonic()
    if not SPEEDS[0] <= speed <= SPEEDS[1]:
        print(f"queueserver: --speed must be from {SPEEDS[0]:g} to {SPEEDS[1]:g}",
              file=sys.stderr)
        return 2
    try:
        sock = _listen(host, port)
    except OSError as e:
        print(f"queueserver: cannot listen on {host}:{port}: {e}", file=sys.stderr)
        return 2
    log_path = runtime.data_dir(config) / LOG_NAME
    log_path.write_bytes(b"")
    # Operators' structured logs, whole, in the file; the console is for the person trying it.
    logging.config.dictConfig(logs.config(path=str(log_path)))
    url = _redis_url(config)
    secret = runtime.secret(config)
    r = runtime.connect(url)
    kept = r.get(keys.demo_clock())
    clock = demo_clock(config, from_environment(config.tz).now(), speed,
                       dt.datetime.fromisoformat(str(kept)) if kept else None)
    r.set(keys.demo_clock(), iso(clock.now()))
    # This process's own jobs (the render requests, the day close) and its children alike.
    os.environ.update({"REDIS_URL": url, "QUEUESERVER_SECRET": secret.decode(),
                       DEMO_ENV: clock.to_environment()})
    env = dict(os.environ)
    if config.path:
        env["QUEUESERVER_CONFIG"] = str(config.path)
    with log_path.open("ab") as out:
        worker = _start_worker(env, out)
    # Asking for gTTS and hashing the logins' password take seconds: beside the rest.
    aside = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="demo-start")
    try:
        warning = aside.submit(_voice_warning)
        staff = aside.submit(logins, url, config)
        _ask_for_voices(config, url)
        tokens = credentials(r, config)
        people = simulation_credentials(r, config)
        soon, later = split_day([s for c in config.centres
                                 for s in samples(c, clock.now().date())], clock.now())
        store_bookings(r, secret, soon, clock.now())
        log.info("demo: bookings stored after %.1f s", time.monotonic() - started)
        live = Live(config, clock, url, secret, r, people)
        begin = Start(host, sock, tokens, staff, log_path, quiet, started, warning, later)
        code = asyncio.run(_live(live, begin))
    finally:
        aside.shutdown(wait=False, cancel_futures=True)
        _stop_worker(worker)
        log.info("demo: the worker stopped")
        r.close()
    return code


async def _live(live: Live, begin: Start) -> int:
    """Serve and simulate until a signal (exit 0) or until the web server stops by itself (1)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    config, clock = live.config, live.clock
    server = _Server(uvicorn.Config(
        create_app(config, live.redis_url, live.secret, clock), log_config=None,
        access_log=False, ws_ping_interval=20.0, ws_ping_timeout=20.0, lifespan="on",
        timeout_graceful_shutdown=5))
    # The earlier day's permits are made beside the start-up (their own server, clock and day).
    kiosk = asyncio.create_task(_kiosk_or_none(live))
    try:
        serving = await _serving(server, begin.sock)
    except BaseException:
        kiosk.cancel()
        raise
    base = f"http://{_url_host(begin.host)}:{begin.sock.getsockname()[1]}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            live.http = http
            # A signal stops the demo at any moment, its start-up included.
            stopping = asyncio.create_task(stop.wait())
            business = asyncio.create_task(_in_business(live, begin, base, kiosk))
            try:
                done, _ = await asyncio.wait([business, stopping, serving],
                                             return_when=asyncio.FIRST_COMPLETED)
                if business in done:
                    business.result()  # its error, if any, ends the demo
                    await asyncio.wait([stopping, serving], return_when=asyncio.FIRST_COMPLETED)
            finally:
                # The simulated people stop before their HTTP client closes.
                log.info("demo: stopping")
                ours = [stopping, business, kiosk, *live.tasks]
                for task in ours:
                    task.cancel()
                await asyncio.gather(*ours, return_exceptions=True)
    finally:
        with contextlib.suppress(redis.RedisError, OSError):
            await asyncio.to_thread(live.r.set, keys.demo_clock(), iso(clock.now()))
        stopped_itself = serving.done()
        server.should_exit = True
        await serving
        log.info("demo: the web server stopped")
    if stopped_itself:
        print("queueserver: the demo's web server stopped; its log says why: "
              f"{begin.log_path}", file=sys.stderr)
        return 1
    return 0


async def _in_business(live: Live, begin: Start, base: str,
                       kiosk_task: asyncio.Task[list[Ready]]) -> None:
    """The centres come to life first (the 15 seconds of CONTRACT §8); the screens are printed
    beside them, and the console's lines start where the centres' event streams stood."""
    config, clock = live.config, live.clock
    log.info("demo: serving after %.1f s", time.monotonic() - begin.started)
    halls = [Hall(live, c, live.people[c.id]) for c in config.centres]
    marks: dict[str, str] = {}
    for hall in halls:
        board = await hall.request("GET", hall.people.desk, "/board")
        marks[hall.centre.id] = (board.json()["last_event_id"]
                                 if board is not None and board.status_code == 200 else "0-0")
    opened = asyncio.Event()
    live.spawn(_days(live, halls, begin, opened))
    warning = await asyncio.wrap_future(begin.voice_warning)
    if warning:
        _warn(warning)
    kiosk = await kiosk_task
    log.info("demo: kiosk permits after %.1f s", time.monotonic() - begin.started)
    await opened.wait()
    tries = {h.centre.id: s for h in halls if (s := await h.suggest()) is not None}
    staff = await asyncio.wrap_future(begin.staff)
    log.info("demo: screens printed after %.1f s", time.monotonic() - begin.started)
    print(screens_text(base, config, clock, begin.tokens, staff, tries, kiosk,
                       begin.log_path), flush=True)
    print("\n" + (QUIET_MARK if begin.quiet else LIVE_MARK), flush=True)
    if not begin.quiet:
        live.out = sys.stdout
        console = Console(config, clock, sys.stdout)
        ws = base.replace("http", "ws", 1)
        for hall in halls:
            live.spawn(console.follow(ws, hall.centre,
                                      begin.tokens[f"demo-display-{hall.centre.id}"],
                                      marks[hall.centre.id]))
    live.spawn(_keep_clock(live))


async def _keep_clock(live: Live) -> None:
    while True:
        await asyncio.sleep(CLOCK_KEPT_EVERY_S)
        await asyncio.to_thread(live.r.set, keys.demo_clock(), iso(live.clock.now()))


async def _days(live: Live, halls: list[Hall], begin: Start, opened: asyncio.Event) -> None:
    """Each demo day: its bookings, people waiting when it opens, clerks at work. The first
    waits a moment for the offline voice; at 17:00 on the demo clock the next working day
    begins at 10:00, and the day just ended is closed (as the worker's day close would)."""
    day: dt.date | None = None
    while True:
        now = live.clock.now()
        if now.date() != day:
            first, day = day is None, now.date()
            for hall in halls:
                hall.ready.clear()
            if not first:
                if live.out is not None:
                    live.out.write(f"──── {now:%A %d %B %Y}: a new day at the centres ────\n")
                    live.out.flush()
                await asyncio.to_thread(dayclose.close_due, live.config, live.r, live.clock)
            # The start stored the first hour of the day it began on; any other day, all of it.
            started_today = bool(begin.later) and begin.later[0].booking.date == day.isoformat()
            if not started_today:
                await asyncio.to_thread(store_bookings, live.r, live.secret,
                                        [s for h in halls for s in samples(h.centre, day)], now)
            for hall in halls:
                hall.open_day(day)
            opened.set()
            if first:
                await asyncio.to_thread(_voices_ready, live.config, live.redis_url,
                                        begin.started + VOICE_WAIT_S)
            await asyncio.gather(*(_open(hall, start_clerks=first) for hall in halls))
            log.info("demo: %s open after %.1f s", day, time.monotonic() - begin.started)
            if first and started_today:
                await asyncio.to_thread(store_bookings, live.r, live.secret, begin.later, now)
        await asyncio.sleep(DAY_CHECK_S)


async def _open(hall: Hall, start_clerks: bool) -> None:
    """A few at the desk, then the clerks go on (or start) while the others check in."""
    first = min(3, hall.seeds())
    await hall.seed(first)
    hall.ready.set()
    if start_clerks:
        hall.start()
    await hall.seed(hall.seeds() - first)
