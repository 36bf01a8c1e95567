"""`queueserver serve` as users start it, with real HTTP clients."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import redis
from conftest import (
    HKIDS,
    Server,
    free_port,
    make_booking,
    server_env,
    start_server,
    store,
)
from websockets.sync.client import connect

from queueserver.auth import credentials as auth

C = "/api/v1/centres/wan-chai"
CONCURRENT = 200

pytestmark = pytest.mark.e2e


def test_concurrent_check_ins_get_distinct_gap_free_numbers(
        server: Server, r: redis.Redis) -> None:
    store(r, [
        make_booking(f"MEP{i:04d}", id_number=HKIDS[i % len(HKIDS)]) for i in range(CONCURRENT)])
    desk, _ = auth.create_token(r, auth.Role.DESK, "wan-chai")
    photo, _ = auth.create_token(r, auth.Role.PHOTO, "wan-chai")

    async def run() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=CONCURRENT, max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=60) as client:
            for i in range(CONCURRENT):
                await client.post(C + "/photo-receipts", json={"barcode": f"PH{i}"},
                                  headers={"Authorization": f"Bearer {photo}"})
            return await asyncio.gather(*(
                client.post(C + "/tickets", headers={"Authorization": f"Bearer {desk}"}, json={
                    "booking_ref": f"MEP{i:04d}", "id_number": HKIDS[i % len(HKIDS)],
                    "photo_barcode": f"PH{i}"})
                for i in range(CONCURRENT)))

    answers = asyncio.run(run())
    assert {a.status_code for a in answers} == {201}
    numbers = sorted(a.json()["ticket"]["number"] for a in answers)
    assert numbers == [f"A{i:03d}" for i in range(1, CONCURRENT + 1)]
    board = httpx.get(server.url + C + "/board", headers={"Authorization": f"Bearer {desk}"})
    assert board.json()["waiting"]["A"] == CONCURRENT


def test_health_follows_redis_and_recovers_by_itself(tmp_path: Path) -> None:
    port = free_port()
    cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
           "--appendonly", "no", "--dir", str(tmp_path)]
    own = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        _wait(lambda: redis.Redis.from_url(url).ping())
        admin, _ = auth.create_token(redis.Redis.from_url(url, decode_responses=True),
                                     auth.Role.ADMIN)
        server = start_server(server_env(url))
        try:
            assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}
            # A display has watched the centre, so the process's reader of its events is
            # running when Redis goes away, and must carry on when it is back.
            with connect(_events_url(server, admin)) as ws:
                assert json.loads(ws.recv(timeout=10))["type"] == "board"
            own.terminate()
            own.wait(10)
            down = httpx.get(server.url + "/healthz", timeout=10)
            assert down.status_code == 503
            board = httpx.get(server.url + C + "/board", timeout=10,
                              headers={"Authorization": f"Bearer {admin}"})
            assert (board.status_code, board.json()["error"]["code"]) == (503, "unavailable")
            own = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
            # The new Redis is empty (no persistence here), so a fresh credential.
            _wait(lambda: redis.Redis.from_url(url).ping())
            _wait(lambda: httpx.get(server.url + "/healthz", timeout=5).status_code == 200)
            assert server.proc.poll() is None
            # Recovered means working, not only healthy: a display's socket gets its board and
            # then the event of a change a supervisor makes, which the board then shows.
            sup, _ = auth.create_token(redis.Redis.from_url(url, decode_responses=True),
                                       auth.Role.SUPERVISOR, "wan-chai")
            display, _ = auth.create_token(redis.Redis.from_url(url, decode_responses=True),
                                           auth.Role.DISPLAY, "wan-chai")
            with connect(_events_url(server, display)) as ws:
                assert json.loads(ws.recv(timeout=10))["type"] == "board"
                opened = httpx.post(server.url + C + "/counters/1/open", json={}, timeout=10,
                                    headers={"Authorization": f"Bearer {sup}"})
                assert opened.status_code == 200, opened.text
                event = json.loads(ws.recv(timeout=10))
                assert (event["type"], event["data"]["counter"]) == ("counter.opened", 1)
            board = httpx.get(server.url + C + "/board", timeout=10,
                              headers={"Authorization": f"Bearer {sup}"})
            assert board.status_code == 200
            assert {"number": 1, "state": "open"} in board.json()["counters"]
        finally:
            server.stop()
    finally:
        own.terminate()
        own.wait(10)


def _events_url(server: Server, token: str) -> str:
    return server.url.replace("http://", "ws://") + f"/ws/centres/wan-chai/events?token={token}"


def _wait(probe, timeout: float = 20) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        try:
            if probe():
                return
        except Exception:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.1)
