"""Redis killed and started again on its append-only file (`appendfsync always`, as the embedded
default runs it): 503 meanwhile, recovery by itself, and no state lost."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from conftest import DAY, HKIDS, make_booking, server_env, start_server, store
from faults import Display, OwnRedis, event_id, stop_all, wait_for

from queueserver.auth import credentials as auth
from queueserver.store import keys

C = "/api/v1/centres/wan-chai"
BEFORE = 6
# Longer than a socket's credential check and the client's retries of one command.
OUTAGE_S = 6.0

pytestmark = pytest.mark.e2e


@pytest.fixture
def own(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    server.stop()


def test_redis_restart_keeps_every_ticket_and_screens_recover(own: OwnRedis) -> None:
    r = redis.Redis.from_url(own.url, decode_responses=True)
    store(r, [make_booking(f"MEP{i}", id_number=HKIDS[i % 4]) for i in range(BEFORE + 2)])
    sup, _ = auth.create_token(r, auth.Role.SUPERVISOR, "wan-chai")
    display, _ = auth.create_token(r, auth.Role.DISPLAY, "wan-chai")
    server = start_server(server_env(own.url))
    auth_header = {"Authorization": f"Bearer {sup}"}

    def check_in(i: int) -> httpx.Response:
        return httpx.post(server.url + C + "/tickets", headers=auth_header, timeout=30, json={
            "booking_ref": f"MEP{i}", "id_number": HKIDS[i % 4], "photo_barcode": f"PH{i}"})

    async def scenario() -> tuple[Display, Display, list[str]]:
        steady = Display([server.url], display)  # stays connected through the outage
        away = Display([server.url], display)    # leaves before, comes back after
        tasks = [asyncio.create_task(d.run()) for d in (steady, away)]
        await asyncio.gather(steady.started(), away.started())
        async with httpx.AsyncClient(base_url=server.url, headers=auth_header) as client:
            for i in range(BEFORE + 2):
                (await client.post(C + "/photo-receipts", json={"barcode": f"PH{i}"})
                 ).raise_for_status()
        for i in range(BEFORE):
            assert (await asyncio.to_thread(check_in, i)).status_code == 201
        (await asyncio.to_thread(httpx.post, server.url + C + "/counters/1/call",
                                 headers=auth_header)).raise_for_status()
        last = r.xrevrange(keys.events("wan-chai"), count=1)[0][0]
        await asyncio.gather(steady.caught_up(last), away.caught_up(last))
        await stop_all([away], tasks[1:])

        own.kill()
        health = await asyncio.to_thread(httpx.get, server.url + "/healthz", timeout=30)
        assert health.status_code == 503
        refused = await asyncio.to_thread(check_in, BEFORE)
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "unavailable"
        await asyncio.sleep(OUTAGE_S)

        own.start()
        await asyncio.to_thread(wait_for, lambda: httpx.get(server.url + "/healthz").json()
                                == {"status": "ok"}, 30, "healthz ok after the restart")
        # The refused check-in changed nothing: it succeeds now, with the next number.
        again = await asyncio.to_thread(check_in, BEFORE)
        assert again.status_code == 201, again.text
        assert again.json()["ticket"]["number"] == f"A{BEFORE + 1:03d}"
        assert (await asyncio.to_thread(check_in, BEFORE + 1)).json()["ticket"]["number"] \
            == f"A{BEFORE + 2:03d}"
        last = r.xrevrange(keys.events("wan-chai"), count=1)[0][0]
        back = Display([server.url], display)
        back.start, back.ids = away.start, list(away.ids)
        back_task = asyncio.create_task(back.run())
        await asyncio.gather(steady.caught_up(last), back.caught_up(last))
        await stop_all([steady, back], [tasks[0], back_task])
        return steady, back, [i for i, _ in r.xrange(keys.events("wan-chai"))]

    try:
        steady, back, stream = asyncio.run(scenario())
    finally:
        server.stop()
    # The screen that stayed connected was never dropped, and missed nothing.
    assert steady.connections == 1 and steady.close_codes == []
    for d in (steady, back):
        assert d.start is not None and d.resyncs == 0
        assert d.ids == [i for i in stream if event_id(i) > event_id(d.start)]
    # Everything written before the kill is still there, credentials included.
    day = DAY.isoformat()
    assert r.lrange(keys.day_tickets("wan-chai", day), 0, -1) == [
        f"A{i:03d}" for i in range(1, BEFORE + 3)]
    assert r.hget(keys.counter("wan-chai", 1), "ticket") == "A001"
    assert auth.lookup_token(r, sup) is not None
