"""The simulated people: arrivals at the desk and clerks at every counter but the visitor's,
acting through the real HTTP API with pauses drawn like a real counter's (all times here are
demo seconds)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import math
import random
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TextIO

import httpx
import redis

from queueserver.auth import credentials as auth
from queueserver.platform.clock import DemoClock
from queueserver.platform.config import Centre, Config
from queueserver.rules.vocab import DeclineReason, PaymentMethod
from queueserver.tools.demo.day import (
    VISITOR_COUNTER,
    Sample,
    samples,
    suggestion,
    window_open,
    wrong_id,
)

log = logging.getLogger("queueserver.demo")

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


def fresh_token(r: redis.Redis, role: auth.Role, centre: str | None, name: str,
                 counter: int | None = None) -> str:
    """A new credential under `name`; the previous run's is revoked."""
    auth.revoke_token(r, name)
    token, _ = auth.create_token(r, role, centre, counter, name=name)
    return token


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
            desk=fresh_token(r, auth.Role.DESK, c.id, f"{prefix}-desk"),
            photo=fresh_token(r, auth.Role.PHOTO, c.id, f"{prefix}-photo-booth"),
            clerks={k.number: fresh_token(r, auth.Role.CLERK, c.id,
                                           f"{prefix}-clerk-{k.number}", k.number)
                    for k in c.counters})
    return out


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


def bearer(token: str) -> dict[str, str]:
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
                                                  headers=bearer(token))
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
