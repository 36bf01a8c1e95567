"""Appointments on the Cluster test's three nodes (tests/faults.py): a centre's slots live in its
own hash slot, so a move to another centre crosses slots — the new place is taken first, the
old freed after — and a crash between the two is settled by the repair job."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis.cluster
from conftest import MORNING, SECRET, server_env, start_server
from faults import Cluster

from queueserver.appointments import maintenance, service
from queueserver.appointments.service import Appointments
from queueserver.platform import config, connections
from queueserver.platform.clock import Clock
from queueserver.store import keys

from .conftest import APPOINTMENTS_CONFIG, MONDAY, approve, person

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        c.start()
        yield c
    finally:
        c.stop()


def places(r: redis.Redis, centre: str) -> str | None:
    value = r.hget(keys.slot_places(centre, MONDAY), "09:00")
    return None if value is None else str(value)


def test_a_move_between_centres_on_a_cluster(cluster: Cluster) -> None:
    cfg = config.load(APPOINTMENTS_CONFIG)
    r = connections.connect(cluster.url)
    assert isinstance(r, redis.cluster.RedisCluster)
    assert r.keyslot(keys.slot_places("wan-chai", MONDAY)) != \
        r.keyslot(keys.slot_places("kowloon-bay", MONDAY))
    tokens = approve(r, cfg, Clock(cfg.tz, MORNING), [person("CLU1", 0)])
    server = start_server(server_env(cluster.url,
                                     QUEUESERVER_CONFIG=str(APPOINTMENTS_CONFIG)))
    try:
        url = f"{server.url}/api/v1/book/{tokens['CLU1']}/appointment"
        first = httpx.post(url, json={"centre": "wan-chai", "date": MONDAY, "start": "09:00"})
        assert first.status_code == 201, first.text
        moved = httpx.post(url, json={"centre": "kowloon-bay", "date": MONDAY,
                                      "start": "09:00"})
        assert moved.status_code == 201, moved.text
        assert moved.json()["appointment"]["centre"] == "kowloon-bay"
        assert moved.json()["changes_left"] == 2
    finally:
        server.stop()
    assert (places(r, "wan-chai"), places(r, "kowloon-bay")) == ("0", "1")
    assert r.hget(keys.booking("wan-chai", "CLU1"), "status") == "moved"
    assert r.hget(keys.booking("kowloon-bay", "CLU1"), "status") == "approved"
    assert r.hget(keys.booking_index(), "CLU1") == "kowloon-bay"
    assert not r.hexists(keys.appointment_moves(), "CLU1")
    r.close()


class Crash(BaseException):
    """The web process dying between the two steps of a move."""


def test_a_crash_between_the_two_steps_is_repaired(
        cluster: Cluster, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = config.load(APPOINTMENTS_CONFIG)
    clock = Clock(cfg.tz, MORNING)
    r = connections.connect(cluster.url)
    approve(r, cfg, clock, [person("CLU2", 1)])

    async def crash(*_: object) -> None:
        raise Crash

    async def move() -> None:
        ra = connections.connect_async(cluster.url)
        try:
            s = Appointments(cfg, ra, clock, SECRET)
            holder = await s.admit(_token(r, "CLU2"), "127.0.0.1")
            await s.book(holder, {"centre": "wan-chai", "date": MONDAY, "start": "09:30"})
            monkeypatch.setattr(service, "release", crash)
            with pytest.raises(Crash):
                await s.book(holder, {"centre": "kowloon-bay", "date": MONDAY,
                                      "start": "09:30"})
        finally:
            await ra.aclose()

    asyncio.run(move())
    # Both places held, for now: the new one taken first, the old not yet freed.
    for centre in ("wan-chai", "kowloon-bay"):
        assert r.hget(keys.booking(centre, "CLU2"), "status") == "approved"
        assert r.hget(keys.slot_places(centre, MONDAY), "09:30") == "1"
    assert r.hexists(keys.appointment_moves(), "CLU2")
    # Within the grace a move may still be under way: the repair leaves it.
    assert maintenance.repair_moves(cfg, r, clock.now()) == 0
    later = clock.now() + dt.timedelta(minutes=1)
    assert maintenance.repair_moves(cfg, r, later) == 1
    assert r.hget(keys.booking("wan-chai", "CLU2"), "status") == "moved"
    assert r.hget(keys.slot_places("wan-chai", MONDAY), "09:30") == "0"
    assert r.hget(keys.slot_places("kowloon-bay", MONDAY), "09:30") == "1"
    assert r.hget(keys.booking_index(), "CLU2") == "kowloon-bay"
    assert not r.hexists(keys.appointment_moves(), "CLU2")
    r.close()


def _token(r: redis.Redis, ref: str) -> str:
    from .conftest import token_of

    return token_of(r, ref)
