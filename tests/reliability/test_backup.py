"""The runbook of docs/deploy.md, step by step: back up one centre, lose it, put it back, and
the other centres are untouched."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from conftest import HKIDS, make_booking, server_env, start_server, store
from websockets.sync.client import connect

from queueserver.auth import credentials as auth
from queueserver.store import keys

pytestmark = pytest.mark.e2e


def snapshot(r: redis.Redis, pattern: str) -> dict[str, Any]:
    """Every key's type, contents and whether it expires: what a restore must bring back."""
    out: dict[str, Any] = {}
    read = {"string": r.get, "hash": r.hgetall, "list": lambda k: r.lrange(k, 0, -1),
            "set": lambda k: sorted(r.smembers(k)),
            "zset": lambda k: r.zrange(k, 0, -1, withscores=True), "stream": r.xrange}
    for key in r.scan_iter(pattern, count=1000):
        kind = r.type(key)
        value: Any = read[kind](key)
        out[key] = (kind, value, r.ttl(key) > 0)
    return out


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["queueserver", *args], env=env, capture_output=True, text=True,
                          timeout=60)


def test_back_up_lose_and_restore_a_centre(r: redis.Redis, redis_url: str,
                                           tmp_path: Path) -> None:
    env = server_env(redis_url)
    store(r, [make_booking(f"MEP{i}", id_number=HKIDS[i]) for i in range(3)]
          + [make_booking("KB1", centre="kowloon-bay")])
    sup, _ = auth.create_token(r, auth.Role.ADMIN)
    display, _ = auth.create_token(r, auth.Role.DISPLAY, "wan-chai")
    server = start_server(env)
    h = {"Authorization": f"Bearer {sup}"}

    def post(centre: str, path: str, body: dict[str, Any] | None = None) -> Any:
        answer = httpx.post(f"{server.url}/api/v1/centres/{centre}{path}", json=body or {},
                            headers=h)
        assert answer.status_code < 300, answer.text
        return answer.json()

    def check_in(i: int) -> str:
        post("wan-chai", "/photo-receipts", {"barcode": f"PH{i}"})
        return str(post("wan-chai", "/tickets", {"booking_ref": f"MEP{i}",
                                                 "id_number": HKIDS[i],
                                                 "photo_barcode": f"PH{i}"})["ticket"]["number"])

    try:
        assert [check_in(0), check_in(1)] == ["A001", "A002"]
        post("wan-chai", "/counters/1/call")
        before = snapshot(r, "qs:{wan-chai}:*")
        backed_up_id = r.xrevrange(keys.events("wan-chai"), count=1)[0][0]

        # 1. Back up (a new file: an old backup is never overwritten).
        file = tmp_path / "wan-chai.jsonl"
        done = cli(env, "backup", "wan-chai", str(file))
        assert done.returncode == 0, done.stderr
        header = json.loads(file.read_text().splitlines()[0])
        assert (header["centre"], header["keys"]) == ("wan-chai", len(before))
        assert cli(env, "backup", "wan-chai", str(file)).returncode == 2

        # Life goes on, then the centre's data is lost (here: a wrong script deleted it).
        assert check_in(2) == "A003"
        late = make_booking("MEP9", id_number=HKIDS[3])
        store(r, [late])
        post("kowloon-bay", "/counters/1/open")
        kowloon = snapshot(r, "qs:{kowloon-bay}:*")
        with connect(server.url.replace("http://", "ws://")
                     + f"/ws/centres/wan-chai/events?token={display}") as ws:
            seen_last = json.loads(ws.recv(timeout=10))["data"]["last_event_id"]
        r.delete(*r.scan_iter("qs:{wan-chai}:*"))

        # 2. Restore: refused over data unless --replace; a backup of another centre never.
        assert cli(env, "restore", "kowloon-bay", str(file)).returncode == 2
        store(r, [make_booking("MEP8", id_number=HKIDS[0])])  # something there again
        refused = cli(env, "restore", "wan-chai", str(file))
        assert refused.returncode == 2 and "--replace" in refused.stderr
        restored = cli(env, "restore", "wan-chai", str(file), "--replace")
        assert restored.returncode == 0, restored.stderr

        # The centre is as it was at the backup; the others as they are now.
        assert snapshot(r, "qs:{wan-chai}:*") == before
        assert snapshot(r, "qs:{kowloon-bay}:*") == kowloon
        index = r.hgetall(keys.booking_index())
        assert index == {"MEP0": "wan-chai", "MEP1": "wan-chai", "MEP2": "wan-chai",
                         "KB1": "kowloon-bay"}
        assert r.exists(keys.restore_check("wan-chai")) == 0

        # 3. Restart serve (gracefully): a screen that had seen later events gets a fresh
        # board at the backup's moment, and the desk carries on from the backup's numbers.
        server.stop()
        server = start_server(env)
        with connect(server.url.replace("http://", "ws://")
                     + f"/ws/centres/wan-chai/events?token={display}&after={seen_last}") as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "resync_required"
            board = json.loads(ws.recv(timeout=10))
            assert board["data"]["last_event_id"] == backed_up_id
            assert board["data"]["now_serving"][0]["ticket"] == "A001"
        assert check_in(2) == "A003"
    finally:
        server.stop()
