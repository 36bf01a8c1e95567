"""A `serve` process killed outright in the middle of a burst of check-ins and calls through two
processes: nothing is lost, and its displays, reconnecting to the other, miss nothing."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import time

import httpx
import pytest
import redis
from conftest import DAY, HKIDS, Server, make_booking, store
from faults import Desk, Display, event_id, stop_all

from queueserver.auth import credentials as auth
from queueserver.store import keys

C = "/api/v1/centres/wan-chai"
BOOKINGS = 240
DESKS = 12
# Killed once this many check-ins have been answered: well inside the burst.
KILL_AFTER = 80
DISPLAYS_EACH = 4

pytestmark = pytest.mark.e2e


def test_a_killed_process_loses_no_ticket_and_no_event(two_servers: tuple[Server, Server],
                                                        r: redis.Redis) -> None:
    a, b = two_servers
    refs = [f"MEP{i:04d}" for i in range(BOOKINGS)]
    store(r, [make_booking(ref, id_number=HKIDS[i % len(HKIDS)]) for i, ref in enumerate(refs)])
    desk, _ = auth.create_token(r, auth.Role.DESK, "wan-chai")
    sup, _ = auth.create_token(r, auth.Role.SUPERVISOR, "wan-chai")
    display, _ = auth.create_token(r, auth.Role.DISPLAY, "wan-chai")
    for i in range(BOOKINGS):
        httpx.post(b.url + C + "/photo-receipts", json={"barcode": f"PH{i}"},
                   headers={"Authorization": f"Bearer {sup}"}).raise_for_status()

    answers: dict[str, httpx.Response] = {}
    killed = asyncio.Event()

    async def burst() -> list[Display]:
        # Displays on A fall back to B, and B's to A (which stays dead, so on to B again).
        displays = ([Display([a.url, b.url], display) for _ in range(DISPLAYS_EACH)]
                    + [Display([b.url, a.url], display) for _ in range(DISPLAYS_EACH)])
        watching = [asyncio.create_task(d.run()) for d in displays]
        await asyncio.gather(*(d.started() for d in displays))
        limits = httpx.Limits(max_connections=DESKS * 2 + 4)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:
            desks = Desk(client, [a.url, b.url], desk)
            clerks = Desk(client, [a.url, b.url], sup)
            todo = iter(enumerate(refs))

            async def checking_in(prefer: int) -> None:
                for i, ref in todo:
                    answers[ref] = await desks.post(C + "/tickets", {
                        "booking_ref": ref, "id_number": HKIDS[i % len(HKIDS)],
                        "photo_barcode": f"PH{i}"}, key=f"check-in-{ref}", prefer=prefer)
                    if len(answers) >= KILL_AFTER and not killed.is_set():
                        killed.set()
                        os.kill(a.proc.pid, signal.SIGKILL)

            async def calling(counter: int, prefer: int) -> None:
                deadline = time.monotonic() + 120  # the whole burst takes seconds
                for step in itertools.count():
                    if len(answers) == BOOKINGS:
                        return
                    assert time.monotonic() < deadline, f"{len(answers)} of {BOOKINGS} answered"
                    path = f"{C}/counters/{counter}"
                    called = await clerks.post(path + "/call", {}, f"c{counter}-{step}-call",
                                               prefer)
                    assert called.status_code == 200, called.text
                    if called.json()["ticket"] is None:
                        await asyncio.sleep(0.01)
                        continue
                    done = await clerks.post(path + "/no-show", {}, f"c{counter}-{step}-ns",
                                             prefer)
                    assert done.status_code == 200, done.text

            await asyncio.gather(*(checking_in(n % 2) for n in range(DESKS)),
                                 calling(2, 0), calling(3, 1))
        last = r.xrevrange(keys.events("wan-chai"), count=1)[0][0]
        await asyncio.gather(*(d.caught_up(last) for d in displays))
        await stop_all(displays, watching)
        return displays

    displays = asyncio.run(burst())
    assert killed.is_set() and a.proc.wait(5) == -signal.SIGKILL

    # Every desk got its ticket (a retry after the kill replays the first answer).
    assert {ref: x.status_code for ref, x in answers.items()} == dict.fromkeys(refs, 201)
    numbers = [x.json()["ticket"]["number"] for x in answers.values()]
    assert len(set(numbers)) == BOOKINGS, "a number was handed out twice"
    # ...and the store agrees: one ticket per booking, numbered without a gap.
    day = DAY.isoformat()
    issued = r.lrange(keys.day_tickets("wan-chai", day), 0, -1)
    assert sorted(issued) == sorted(numbers) == [f"A{i:03d}" for i in range(1, BOOKINGS + 1)]
    assert r.get(keys.sequence("wan-chai", day, "A")) == str(BOOKINGS)
    for ref, answer in answers.items():
        number = answer.json()["ticket"]["number"]
        assert r.hget(keys.ticket("wan-chai", day, number), "booking_ref") == ref
        assert r.hget(keys.booking("wan-chai", ref), "ticket") == number

    # Every display saw every event after its board, once each and in order.
    stream = [entry_id for entry_id, _ in r.xrange(keys.events("wan-chai"))]
    issued_events = [f for _, f in r.xrange(keys.events("wan-chai"))
                     if f["type"] == "ticket.issued"]
    assert len(issued_events) == BOOKINGS
    for d in displays:
        assert d.start is not None and d.resyncs == 0
        expected = [i for i in stream if event_id(i) > event_id(d.start)]
        assert d.ids == expected
    moved = displays[:DISPLAYS_EACH]
    assert all(d.connections >= 2 for d in moved), "A's displays never reconnected"

