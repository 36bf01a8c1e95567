"""The core scenario, unchanged, on a 3-node Redis Cluster the test starts on loopback ports:
`REDIS_URL=redis+cluster://` naming one node, two serve processes, the command line."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import redis.cluster
from conftest import HKIDS, SAMPLE_CONFIG, make_booking, server_env, start_server, store
from faults import Cluster, wait_for
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from queueserver.auth import credentials as auth
from queueserver.platform import connections
from queueserver.store import keys

C = "/api/v1/centres/wan-chai"
BOOKINGS = SAMPLE_CONFIG.parent / "bookings.csv"
# A node silent this long is declared failed, and the cluster down (no replica to promote).
NODE_TIMEOUT_MS = 1000

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        c.start()
        yield c
    finally:
        c.stop()


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["queueserver", *args], env=env, capture_output=True, text=True,
                          timeout=60)


def test_the_day_runs_on_a_cluster(cluster: Cluster, tmp_path: Path) -> None:
    env = server_env(cluster.url)
    imported = cli(env, "bookings", "import", str(BOOKINGS))
    assert imported.returncode in (0, 1), imported.stderr
    assert "imported=" in imported.stdout
    sup = cli(env, "tokens", "create", "--role", "supervisor", "--centre", "wan-chai")
    display = cli(env, "tokens", "create", "--role", "display", "--centre", "wan-chai",
                  "--name", "hall-tv")
    kiosk = cli(env, "tokens", "create", "--role", "kiosk", "--centre", "wan-chai")
    sup_token, display_token = (sup.stdout.split()[-1], display.stdout.split()[-1])
    a, b = start_server(env), start_server(env)
    headers = {"Authorization": f"Bearer {sup_token}"}

    def post(server: Any, path: str, body: dict[str, Any] | None = None,
             key: str | None = None) -> Any:
        extra = {"Idempotency-Key": key} if key else {}
        url = server.url + (path if path.startswith("/api/") else C + path)
        answer = httpx.post(url, json=body or {}, timeout=10, headers={**headers, **extra})
        assert answer.status_code < 300, answer.text
        return answer.json()

    try:
        assert httpx.get(a.url + "/healthz").json() == {"status": "ok"}
        ws_url = b.url.replace("http://", "ws://") + \
            f"/ws/centres/wan-chai/events?token={display_token}"
        with connect(ws_url) as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "board"
            post(a, "/photo-receipts", {"barcode": "PH1"})
            body = {"booking_ref": "MEP240001", "id_number": "A123456(3)",
                    "photo_barcode": "PH1"}
            first = post(a, "/tickets", body, key="desk-1")
            assert first["ticket"]["number"] == "A001"
            again = post(b, "/tickets", body, key="desk-1")  # replayed, not redone
            # The follow URL names the host asked (no public_url here): the same token on each.
            url_a, url_b = first["ticket"].pop("follow_url"), again["ticket"].pop("follow_url")
            assert url_a.startswith(a.url) and url_b.startswith(b.url)
            assert url_a.removeprefix(a.url) == url_b.removeprefix(b.url)
            assert again == first
            # The token's key lies in no centre's slot: registered after the script, it works.
            followed = httpx.get(a.url + "/api/v1/follow/" + url_a.rsplit("/", 1)[1], timeout=10)
            assert followed.json()["ticket"]["number"] == "A001", followed.text
            post(a, "/counters/2/call")
            post(b, "/counters/2/recall")
            post(a, "/counters/2/no-show")
            post(b, "/tickets/A001/requeue")
            called = post(a, "/counters/3/call")
            assert called["ticket"]["number"] == "A001"
            seen = [json.loads(ws.recv(timeout=10))["type"] for _ in range(8)]
            assert seen == ["ticket.issued", "counter.opened", "ticket.called",
                            "ticket.recalled", "ticket.no_show", "ticket.requeued",
                            "counter.opened", "ticket.called"]
            board = httpx.get(b.url + C + "/board", headers=headers).json()
            assert board["now_serving"][0]["ticket"] == "A001"
            # The counter's steps to the receipt, whose script reads the ticket's booking.
            post(b, "/tickets/A001/acceptance")
            post(a, "/tickets/A001/payment", {"method": "cash", "amount_hkd": 320})
            receipt_no = post(b, "/tickets/A001/receipt")["receipt_no"]
            # A kiosk's route names no centre: its Idempotency-Key record lies outside the
            # centre's slot, and the answer is kept all the same.
            headers["Authorization"] = f"Bearer {kiosk.stdout.split()[-1]}"
            check = {"receipt_no": receipt_no, "id_number": "A123456(3)"}
            early = post(a, "/api/v1/collection/eligibility", check, key="kiosk-1")
            assert (early["eligible"], early["reason"]) == (False, "not_yet")
            assert post(b, "/api/v1/collection/eligibility", check, key="kiosk-1") == early
            headers["Authorization"] = f"Bearer {sup_token}"
            # Revoked from the command line: the socket on the other process closes.
            assert cli(env, "tokens", "revoke", "hall-tv").returncode == 0
            with pytest.raises(ConnectionClosed):
                while True:
                    ws.recv(timeout=15)
    finally:
        a.stop()
        b.stop()

    # Every key of the centre sits in its one slot; the keys of no centre lie elsewhere.
    r = connections.connect(cluster.url)
    assert isinstance(r, redis.cluster.RedisCluster)
    slot = r.keyslot(keys.events("wan-chai"))
    centre_keys = [k for k in r.scan_iter("qs:{wan-chai}:*", target_nodes=r.ALL_NODES)]
    assert len(centre_keys) > 5
    assert {r.keyslot(k) for k in centre_keys} == {slot}
    assert r.hget(keys.booking_index(), "MEP240001") == "wan-chai"


def test_a_script_that_strays_from_its_centre_is_refused(cluster: Cluster) -> None:
    """The guarantee is Redis's, not luck: a key outside the declared key's slot is refused
    even when the same node holds it (what a plain EVAL would let through)."""
    r = connections.connect(cluster.url)
    assert isinstance(r, redis.cluster.RedisCluster)
    stream = keys.events("wan-chai")
    node = r.get_node_from_key(stream)
    stray = next(k for k in (f"qs:token:{i}" for i in range(1000))
                 if r.get_node_from_key(k) == node and r.keyslot(k) != r.keyslot(stream))
    write_stray = r.register_script("return redis.call('SET', ARGV[1], '1')")
    with pytest.raises(redis.ResponseError, match="same slot"):
        write_stray(keys=[stream], args=[stray])
    write_own = r.register_script("return redis.call('SET', ARGV[1], '1')")
    assert write_own(keys=[stream], args=[keys.centre_prefix("wan-chai") + "probe"])
    assert r.delete(keys.centre_prefix("wan-chai") + "probe") == 1


def test_background_jobs_refuse_a_cluster_without_rq_redis_url(cluster: Cluster) -> None:
    done = cli(server_env(cluster.url), "worker", "--burst")
    assert done.returncode == 2
    assert "RQ_REDIS_URL" in done.stderr


def test_a_node_down_answers_503_and_the_cluster_recovers_by_itself(tmp_path: Path) -> None:
    c = Cluster(tmp_path, node_timeout_ms=NODE_TIMEOUT_MS)
    c.start()
    server = None
    try:
        r = connections.connect(c.url)
        store(r, [make_booking("MEP1"), make_booking("MEP2", id_number=HKIDS[1])])
        sup, _ = auth.create_token(r, auth.Role.SUPERVISOR, "wan-chai")
        h = {"Authorization": f"Bearer {sup}"}
        server = start_server(server_env(c.url))

        def check_in(i: int) -> httpx.Response:
            return httpx.post(server.url + C + "/tickets", headers=h, timeout=60, json={
                "booking_ref": f"MEP{i}", "id_number": HKIDS[i - 1], "photo_barcode": f"PH{i}"})

        for i in (1, 2):
            httpx.post(server.url + C + "/photo-receipts", json={"barcode": f"PH{i}"},
                       headers=h, timeout=10).raise_for_status()
        assert check_in(1).json()["ticket"]["number"] == "A001"
        holder = c.ports.index(int(r.get_node_from_key(keys.events("wan-chai")).port))
        r.close()
        c.kill(holder)
        wait_for(lambda: httpx.get(server.url + "/healthz", timeout=60).status_code == 503, 60,
                 "healthz 503 with a node down")
        refused = check_in(2)
        assert (refused.status_code, refused.json()["error"]["code"]) == (503, "unavailable")
        c.restart(holder)
        wait_for(c.settled, 60, "the cluster whole again")
        wait_for(lambda: httpx.get(server.url + "/healthz", timeout=60).status_code == 200, 60,
                 "healthz ok again, without restarting serve")
        again = wait_for(lambda: (a := check_in(2)).status_code == 201 and a, 60,
                         "a check-in after the node came back")
        assert again.json()["ticket"]["number"] == "A002"  # A001 survived on the node's AOF
    finally:
        if server is not None:
            server.stop()
        c.stop()
