"""`queueserver simulate`: play a whole day against a running server, through its real API and
its WebSocket, and report throughput, waits and the accuracy of the wait estimates.

The bookings are written through the booking store into the server's Redis (the same one
`bookings import` would use: `REDIS_URL` or the embedded default, with the same secret), so the
simulation runs beside the server, as the demo does. Everything else goes over HTTP: photo
receipts and check-ins as the arrivals come, clerks calling as they finish, then acceptance,
payment and receipt (or a decline). Times are the server's: with `--speed X` its clock must run
X times as fast (`QUEUESERVER_TEST_MODE=1 QUEUESERVER_TEST_SPEED=X`), which is checked first.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import secrets
import sys
import time
from typing import Any

import httpx
from websockets.asyncio.client import connect

from queueserver.auth import credentials as auth
from queueserver.bookings.store import Booking, BookingStore
from queueserver.platform import runtime
from queueserver.platform.config import Centre, Config
from queueserver.rules.vocab import DeclineReason, EventType, PaymentMethod
from queueserver.tools import simulation
from queueserver.tools.simulation import Outcome, Tally, Visit

# First slot this long after the server's now, so the earliest arrivals are still to come.
LEAD_MINUTES = 25
# An idle clerk looks again this often (server seconds) even if no new ticket was announced.
IDLE_POLL_S = 60
# The server's clock is measured over this many of its own seconds (at least 0.2 s real).
PROBE_SERVER_S = 120
# A called ticket's check-in answer reaches its arrival coroutine within this (real seconds).
ANSWER_WAIT_S = 30.0
# The server's measured rate may be this far off --speed (request times blur the probe).
RATE_TOLERANCE = 2.0


class SimulationError(Exception):
    pass


def _parse(at: str) -> dt.datetime:
    return dt.datetime.fromisoformat(at)


class Day:
    def __init__(self, config: Config, centre: Centre, url: str, counters: int, speed: float,
                 token: str, display_token: str) -> None:
        self.config, self.centre, self.url = config, centre, url.rstrip("/")
        self.counters = [c.number for c in centre.counters[:counters]]
        self.speed = speed
        self.headers = {"Authorization": f"Bearer {token}"}
        self.display_token = display_token
        self.tally = Tally()
        self.visits: dict[str, asyncio.Future[Visit]] = {}
        self.wake = asyncio.Event()
        self.called: dict[str, dt.datetime] = {}  # the first call of each ticket
        self.arrivals_done = False
        self.base = f"{self.url}/api/v1/centres/{centre.id}"
        self.anchor_server: dt.datetime | None = None
        self.anchor_real = 0.0

    # --- the server's time -------------------------------------------------------------------

    def server_now(self) -> dt.datetime:
        assert self.anchor_server is not None
        passed = (time.monotonic() - self.anchor_real) * self.speed
        return self.anchor_server + dt.timedelta(seconds=passed)

    async def until(self, at: dt.datetime) -> None:
        wait = (at - self.server_now()).total_seconds() / self.speed
        if wait > 0:
            await asyncio.sleep(wait)

    async def post(self, http: httpx.AsyncClient, path: str,
                   body: dict[str, Any] | None = None) -> httpx.Response:
        answer = await http.post(self.base + path, json=body or {}, headers=self.headers)
        if answer.status_code >= 500:
            self.tally.errors.append(f"{path}: {answer.status_code}")
        return answer

    async def probe(self, http: httpx.AsyncClient, run: str) -> None:
        """Read the server's clock twice and check it runs at --speed."""
        stamps = []
        for i in range(2):
            if i:
                await asyncio.sleep(max(0.2, min(3.0, PROBE_SERVER_S / self.speed)))
            answer = await self.post(http, "/photo-receipts", {"barcode": f"SIM{run}PROBE{i}"})
            if answer.status_code != 201:
                raise SimulationError(f"the server refused a photo receipt: {answer.text}")
            stamps.append((time.monotonic(), _parse(answer.json()["issued_at"])))
        (r1, s1), (r2, s2) = stamps
        rate = (s2 - s1).total_seconds() / (r2 - r1)
        if not self.speed / RATE_TOLERANCE <= rate <= self.speed * RATE_TOLERANCE:
            raise SimulationError(
                f"the server's clock runs at about {rate:.1f}x but --speed is {self.speed:g}: "
                f"start it with QUEUESERVER_TEST_MODE=1 QUEUESERVER_TEST_SPEED={self.speed:g}")
        self.anchor_server, self.anchor_real = s2, r2

    # --- the people --------------------------------------------------------------------------

    async def arrive(self, http: httpx.AsyncClient, v: Visit) -> None:
        assert v.arrives is not None
        await self.until(v.arrives)
        barcode = "PH" + v.ref
        await self.post(http, "/photo-receipts", {"barcode": barcode})
        answer = await self.post(http, "/tickets", {
            "booking_ref": v.ref, "id_number": v.id_number, "photo_barcode": barcode,
            "priority": v.priority})
        self.tally.check_ins += 1
        if answer.status_code != 201:
            code = answer.json().get("error", {}).get("code", str(answer.status_code))
            self.tally.refused[code] = self.tally.refused.get(code, 0) + 1
            return
        ticket = answer.json()["ticket"]
        number = ticket["number"]
        estimate = ticket["estimated_wait_minutes"]
        self.tally.outcomes[number] = Outcome(
            number, None if estimate is None else int(estimate), _parse(ticket["issued_at"]))
        self.visits.setdefault(number, asyncio.get_running_loop().create_future())
        self.visits[number].set_result(v)

    def finished(self) -> bool:
        return self.arrivals_done and all(
            o.ended is not None for o in self.tally.outcomes.values())

    async def clerk(self, http: httpx.AsyncClient, counter: int) -> None:
        while not self.finished():
            answer = await self.post(http, f"/counters/{counter}/call")
            ticket = answer.json().get("ticket") if answer.status_code == 200 else None
            if ticket is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), IDLE_POLL_S / self.speed)
                continue
            number = ticket["number"]
            self.visits.setdefault(number, asyncio.get_running_loop().create_future())
            # The check-in's answer may still be on its way to its arrival coroutine.
            v = await asyncio.wait_for(self.visits[number], ANSWER_WAIT_S)
            await asyncio.sleep(v.service_s / self.speed)
            await self.serve(http, number, v)

    async def serve(self, http: httpx.AsyncClient, number: str, v: Visit) -> None:
        t = f"/tickets/{number}"
        if v.declined:
            await self.post(http, t + "/decline", {"reason": DeclineReason.DOCUMENTS_MISSING,
                                                   "note": "simulated"})
            self.tally.outcomes[number].declined = True
            self.tally.outcomes[number].ended = self.server_now()
            return
        await self.post(http, t + "/acceptance")
        fee = self.config.fees[v.application_type]
        await self.post(http, t + "/payment", {"method": PaymentMethod.CASH, "amount_hkd": fee})
        answer = await self.post(http, t + "/receipt")
        if answer.status_code != 201:
            self.tally.errors.append(f"receipt {number}: {answer.text[:120]}")
        self.tally.outcomes[number].ended = self.server_now()

    async def listen(self) -> None:
        """The hall's view: every call as the displays get it (the waits are measured here)."""
        ws_url = self.url.replace("http", "ws", 1) + (
            f"/ws/centres/{self.centre.id}/events?token={self.display_token}")
        async with connect(ws_url) as ws:
            async for raw in ws:
                event = json.loads(raw)
                self.tally.events += 1
                kind = event.get("type")
                if kind in (EventType.TICKET_ISSUED, EventType.TICKET_REQUEUED,
                            EventType.TICKET_TRANSFERRED):
                    self.wake.set()
                    self.wake.clear()
                elif kind == EventType.TICKET_CALLED:
                    # A call may come before its check-in's answer: joined up at the end.
                    self.called.setdefault(event["data"]["ticket"], _parse(event["at"]))

    def join_calls(self) -> None:
        for number, o in self.tally.outcomes.items():
            o.called = self.called.get(number)


def _store(config: Config, visits: list[Visit], centre: Centre, date: str) -> None:
    r = runtime.connect(runtime.redis_url(config))
    try:
        rows = [Booking(ref=v.ref, centre=centre.id, date=date,
                        slot_start=v.slot.strftime("%H:%M"),
                        slot_end=(v.slot + dt.timedelta(minutes=simulation.SLOT_MINUTES)
                                  ).strftime("%H:%M"),
                        application_type=v.application_type, surname="SIMULATED",
                        given_names="APPLICANT", id_kind="hkid", id_number=v.id_number,
                        passport_no="", nationality="GBR", status="approved")
                for v in visits]
        BookingStore(r, runtime.secret(config), "simulate", dt.datetime.now(dt.UTC).isoformat()
                     ).apply(rows)
    finally:
        r.close()


async def play(config: Config, centre: Centre, url: str, bookings: int, counters: int,
               speed: float, hours: float, seed: int) -> dict[str, Any]:
    r = runtime.connect(runtime.redis_url(config))
    run = secrets.token_hex(3).upper()
    try:
        token, _ = auth.create_token(r, auth.Role.SUPERVISOR, centre.id, name=f"simulate-{run}")
        display, _ = auth.create_token(r, auth.Role.DISPLAY, centre.id,
                                       name=f"simulate-display-{run}")
    finally:
        r.close()
    day = Day(config, centre, url, counters, speed, token, display)
    started = time.monotonic()
    limits = httpx.Limits(max_connections=len(day.counters) + 32)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        await day.probe(http, run)
        now = day.server_now()
        first = (now + dt.timedelta(minutes=LEAD_MINUTES)).replace(second=0, microsecond=0)
        last_end = first + dt.timedelta(hours=hours, minutes=simulation.ARRIVAL_SPREAD_MINUTES)
        if last_end.date() != now.date():
            raise SimulationError("the day would run past midnight on the server's clock: "
                                  "start the server earlier in the day (QUEUESERVER_TEST_NOW)")
        visits = simulation.plan_day(bookings, first, hours, run, seed)
        await asyncio.to_thread(_store, config, visits, centre, now.date().isoformat())
        day.tally.bookings = len(visits)
        day.tally.no_shows = sum(1 for v in visits if v.arrives is None)
        listener = asyncio.create_task(day.listen())
        clerks = [asyncio.create_task(day.clerk(http, n)) for n in day.counters]
        await asyncio.gather(*(day.arrive(http, v) for v in visits if v.arrives))
        day.arrivals_done = True
        await asyncio.gather(*clerks)
        for n in day.counters:
            await day.post(http, f"/counters/{n}/close")
        await asyncio.sleep(0.2)  # the last calls' events reach the listener
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await listener
        day.join_calls()
    settings = {"centre": centre.id, "counters": len(day.counters), "speed": speed,
                "hours": hours, "seed": seed, "url": url}
    return simulation.report(day.tally, settings, time.monotonic() - started)


def run(config: Config, url: str, bookings: int, counters: int | None, speed: float,
        hours: float, seed: int, centre_id: str | None, json_path: str | None) -> int:
    centre = config.centre(centre_id) if centre_id else config.centres[0]
    if centre is None:
        print(f"queueserver: unknown centre {centre_id!r}", file=sys.stderr)
        return 2
    counters = counters or len(centre.counters)
    if counters > len(centre.counters):
        print(f"queueserver: {centre.id} has {len(centre.counters)} counters in the config; "
              f"--counters {counters} needs as many", file=sys.stderr)
        return 2
    try:
        result = asyncio.run(play(config, centre, url, bookings, counters, speed, hours, seed))
    except (SimulationError, httpx.HTTPError, OSError) as e:
        print(f"queueserver: simulate: {e}", file=sys.stderr)
        return 1
    print(simulation.text(result))
    if json_path:
        with open(json_path, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2, ensure_ascii=False)
    return 0 if not result["errors"] and result["tickets"] == result["check_ins"] else 1
