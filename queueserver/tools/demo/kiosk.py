"""An earlier day's permits, ready at the collection kiosk today: made through the API of a
second server whose clock reads that day."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

import httpx
import redis
import uvicorn

from queueserver.platform.clock import Clock
from queueserver.platform.config import Centre, Config
from queueserver.rules.vocab import ApplicationType
from queueserver.tools.demo.day import (
    VISITOR_COUNTER,
    Ready,
    Sample,
    earlier_day,
    kiosk_samples,
    store_bookings,
)
from queueserver.tools.demo.people import Live, People, bearer
from queueserver.tools.demo.serving import Server, listen, serve
from queueserver.web.app import create_app

log = logging.getLogger("queueserver.demo")

# The earlier day's clock runs this many times as fast, and its clerk waits this long (real
# seconds) between the steps of a service: about a minute of that day each.
EARLIER_RATE = 600.0
EARLIER_STEP_S = 0.1


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
    sock = listen("127.0.0.1", 0)
    server = Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on"))
    task = await serve(server, sock)
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
    clerk = bearer(people.clerks[n])

    async def check_in(s: Sample) -> dict[str, Any] | None:
        await http.post(base + "/photo-receipts", headers=bearer(people.photo),
                        json={"barcode": s.barcode})
        answer = await http.post(base + "/tickets", headers=bearer(people.desk), json={
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


async def kiosk_or_none(live: Live) -> list[Ready]:
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
