"""Text messages through the centre's gateway (CONTRACT §9), against real `serve` and `worker`
processes, real Redis and a real HTTP gateway on loopback: `near_turn` and `called`, signed;
each message exactly once with one delivery id however often the gateway fails first; a gateway
that never answers delays no check-in and no call; a message failing for 10 minutes is given
up and counted."""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from conftest import HKIDS, MORNING, SAMPLE_CONFIG, Server, make_booking, server_env, start_server
from conftest import store as store_bookings
from follow.gateway import KEY, Gateway

from queueserver.auth import credentials as auth
from queueserver.follow import notify
from queueserver.platform import config
from queueserver.store import keys

C = "/api/v1/centres/wan-chai"
PHONE = "+85291234567"
WHEN_AHEAD = 2
pytestmark = pytest.mark.e2e


class Processes:
    def __init__(self, server: Server, worker: subprocess.Popen[bytes], worker_log: Path,
                 config_path: Path) -> None:
        self.server = server
        self.worker = worker
        self.worker_log = worker_log
        self.config_path = config_path

    def stop(self) -> str:
        """Stops both; every line they wrote."""
        self.server.stop()
        if self.worker.poll() is None:
            self.worker.terminate()
            try:
                self.worker.wait(30)
            except subprocess.TimeoutExpired:
                self.worker.kill()
                self.worker.wait(5)
        return self.server.output() + self.worker_log.read_text(errors="replace")


def notify_config(folder: Path, webhook_url: str) -> Path:
    path = folder / "config.toml"
    path.write_text(SAMPLE_CONFIG.read_text(encoding="utf-8") + f"""
[notify]
webhook_url = "{webhook_url}"
secret_env = "TEST_NOTIFY_KEY"
when_ahead = {WHEN_AHEAD}
""", encoding="utf-8")
    return path


def start(folder: Path, redis_url: str, gateway: Gateway) -> Processes:
    path = notify_config(folder, gateway.url)
    env = server_env(redis_url, QUEUESERVER_CONFIG=str(path), TEST_NOTIFY_KEY=KEY)
    server = start_server(env)
    log = Path(tempfile.mkstemp(prefix="worker-", suffix=".log")[1])
    with log.open("wb") as out:
        worker = subprocess.Popen(["queueserver", "worker"], env=env, stdout=out,
                                  stderr=subprocess.STDOUT)
    return Processes(server, worker, log, path)


@pytest.fixture
def run(tmp_path: Path, r: redis.Redis, redis_url: str) -> Iterator[Any]:
    made: list[tuple[Processes, Gateway]] = []

    def go(gateway: Gateway) -> Processes:
        processes = start(tmp_path, redis_url, gateway)
        made.append((processes, gateway))
        return processes

    yield go
    for processes, gateway in made:
        processes.stop()
        gateway.close()


class Desk:
    def __init__(self, server: Server, r: redis.Redis) -> None:
        self.server = server
        self.r = r
        self.token = auth.create_token(r, auth.Role.SUPERVISOR, "wan-chai")[0]
        self.made = 0
        self.timings: list[float] = []

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        started = time.perf_counter()
        answer = httpx.post(self.server.url + C + path, json=body or {}, timeout=30,
                            headers={"Authorization": f"Bearer {self.token}"})
        self.timings.append(time.perf_counter() - started)
        assert answer.status_code < 300, answer.text
        return answer.json()

    def check_in(self, phone: str | None = None) -> dict[str, Any]:
        i = self.made
        self.made += 1
        store_bookings(self.r, [make_booking(f"MEP{i:04d}", id_number=HKIDS[0])])
        self.post("/photo-receipts", {"barcode": f"PH{i}"})
        ticket: dict[str, Any] = self.post("/tickets", {
            "booking_ref": f"MEP{i:04d}", "id_number": HKIDS[0], "photo_barcode": f"PH{i}",
            "override_window": True, **({"phone": phone} if phone else {})})["ticket"]
        return ticket


def deliveries(r: redis.Redis) -> list[str]:
    return sorted(r.scan_iter(keys.notify_delivery("wan-chai", "*", "*", "*")))


def test_near_turn_and_called_reach_the_gateway_signed(run: Any, r: redis.Redis) -> None:
    gateway = Gateway()
    processes = run(gateway)
    desk = Desk(processes.server, r)
    others = [desk.check_in() for _ in range(3)]
    mine = desk.check_in(PHONE)
    assert mine["position"] == 3
    desk.post("/counters/1/call")   # two ahead now: near_turn
    near = gateway.wait_for(1)[0]
    for counter in (2, 3):
        desk.post(f"/counters/{counter}/call")
    desk.post("/counters/1/no-show")
    called = desk.post("/counters/1/call")["ticket"]
    assert called["number"] == mine["number"]
    taken = gateway.wait_for(2)
    assert taken[0] is near
    assert [m.message["kind"] for m in taken] == ["near_turn", "called"]
    for m in taken:
        assert m.signed(), "the signature does not check under the centre's key"
        assert not m.signed("another key")
        assert m.headers["content-type"] == "application/json"
        assert re.fullmatch(r"[0-9a-f]{32}", m.delivery)
        assert set(m.message) == {"kind", "centre", "ticket", "counter", "phone", "follow_url",
                                  "text"}
        assert (m.message["centre"], m.message["ticket"], m.message["phone"]) == \
            ("wan-chai", mine["number"], PHONE)
        assert m.message["follow_url"] == mine["follow_url"]
        assert mine["number"] in m.message["text"]["en"]
        assert mine["number"] in m.message["text"]["zh"]
    assert taken[0].delivery != taken[1].delivery
    assert taken[0].message["counter"] is None
    assert "2 ahead" in taken[0].message["text"]["en"]
    assert taken[1].message["counter"] == 1
    assert "counter 1" in taken[1].message["text"]["en"]
    assert "1 號櫃位" in taken[1].message["text"]["zh"]
    # Only the ticket that gave a number gets messages, once per kind.
    assert len(deliveries(r)) == 2
    assert all(o["follow_url"] for o in others)
    metrics = httpx.get(processes.server.url + "/metrics").text
    assert 'queueserver_text_messages_total{outcome="sent"} 2.0' in metrics
    log = processes.stop()
    assert "91234567" not in log
    assert mine["follow_url"].rsplit("/", 1)[1] not in log
    assert "text message sent" in log


def test_a_gateway_failing_twice_gets_each_message_exactly_once_with_one_delivery_id(
        run: Any, r: redis.Redis) -> None:
    gateway = Gateway(fail_first=2)
    processes = run(gateway)
    desk = Desk(processes.server, r)
    mine = desk.check_in(PHONE)     # nobody ahead: near its turn at once
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not gateway.received:
        time.sleep(0.1)
    assert gateway.received, "near_turn was never tried"
    desk.post("/counters/2/call")
    taken = gateway.wait_for(2, timeout=90)
    assert sorted(m.message["kind"] for m in taken) == ["called", "near_turn"]
    for m in taken:
        attempts = [a for a in gateway.received if a.delivery == m.delivery]
        assert [a.answered for a in attempts] == [503, 503, 200]
        assert all(a.signed() and a.body == m.body for a in attempts)
        assert attempts[0].at < attempts[1].at < attempts[2].at
    # Still exactly one each, and settled as sent after three attempts.
    time_left = time.monotonic() + 5
    while time.monotonic() < time_left and len(gateway.received) == 6:
        time.sleep(0.2)
    assert len(gateway.received) == 6
    for key in deliveries(r):
        assert (r.hget(key, "state"), r.hget(key, "attempts")) == ("sent", "3")
    assert r.zcard(keys.notify_pending("wan-chai")) == 0
    assert mine["number"] == taken[0].message["ticket"]
    processes.stop()


def test_a_gateway_that_never_answers_delays_no_check_in_and_no_call(
        run: Any, r: redis.Redis) -> None:
    gateway = Gateway(never_answer=True)
    processes = run(gateway)
    desk = Desk(processes.server, r)
    for _ in range(8):
        desk.check_in(PHONE)
    # The worker is stuck on the gateway now (each message waits 5 s for an answer)...
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not gateway.received:
        time.sleep(0.1)
    assert gateway.received, "the worker never tried the gateway"
    # ...while the desk and the counters go on at their own pace.
    desk.timings.clear()
    for _ in range(4):
        desk.check_in(PHONE)
    for counter in (1, 2, 3):
        desk.post(f"/counters/{counter}/call")
    for counter in (1, 2, 3):
        desk.post(f"/counters/{counter}/no-show")
        desk.post(f"/counters/{counter}/call")
    assert len(desk.timings) == 4 * 2 + 3 + 6
    # Each answered well inside the gateway's 5-second timeout: none waited on it.
    assert max(desk.timings) < notify.TIMEOUT_S / 2, desk.timings
    assert any(a.answered is None for a in gateway.received)
    metrics = httpx.get(processes.server.url + "/metrics", timeout=10).text
    pending = re.search(r'queueserver_text_messages_pending\{centre="wan-chai"\} (\d+)', metrics)
    assert pending and int(pending.group(1)) > 0
    processes.stop()


def test_a_message_failing_for_ten_minutes_is_given_up_and_counted(
        r: redis.Redis, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gateway = Gateway(fail_first=100)
    try:
        cfg = config.load(notify_config(tmp_path, gateway.url))
        monkeypatch.setenv("TEST_NOTIFY_KEY", KEY)
        date, number = MORNING.date().isoformat(), "A001"
        r.hset(keys.phones("wan-chai", date), number,
               json.dumps({"phone": PHONE, "base": "http://desk"}))
        dispatch = notify.Dispatch(cfg, r, redis.Redis.from_url(redis_url))
        made_at = int((time.time() - notify.GIVE_UP_AFTER_S - 1) * 1000)
        assert notify.Delivery(cfg, r, b"secret").scripts(
            "notify_claim", [keys.phones("wan-chai", date),
                             keys.notify_delivery("wan-chai", date, number, "called"),
                             keys.notify_pending("wan-chai")],
            ["d" * 32, made_at, 1, "", 600, f"{date}:{number}:called", number]) == 1
        # A second claim of the same message (another worker) makes nothing.
        assert dispatch.claim("wan-chai", date, number, "called", counter=1) == 0
        answer = notify.Delivery(cfg, r, b"secret").send("wan-chai", date, number, "called")
        assert answer == "given up"
        assert len(gateway.received) == 1 and gateway.received[0].answered == 503
        record = keys.notify_delivery("wan-chai", date, number, "called")
        assert r.hget(record, "state") == "given_up"
        assert r.zcard(keys.notify_pending("wan-chai")) == 0
        assert r.hget(keys.notify_counts(), "given_up") == "1"
        # Settled once: a late job changes nothing and counts nothing.
        assert notify.Delivery(cfg, r, b"secret").send("wan-chai", date, number, "called") \
            .startswith("nothing to do")
        assert r.hget(keys.notify_counts(), "given_up") == "1"
        # The day ended: the number is gone, and a pending message is dropped, not sent.
        r.hdel(keys.phones("wan-chai", date), number)
        r.hset(record, "state", "pending")
        assert notify.Delivery(cfg, r, b"secret").send("wan-chai", date, number, "called") \
            == "dropped"
        assert len(gateway.received) == 1
    finally:
        gateway.close()


def test_the_worker_refuses_to_start_without_its_signing_key(
        tmp_path: Path, redis_url: str) -> None:
    path = notify_config(tmp_path, "http://127.0.0.1:9/never")
    env = {k: v for k, v in server_env(redis_url, QUEUESERVER_CONFIG=str(path)).items()
           if k != "TEST_NOTIFY_KEY"}
    done = subprocess.run(["queueserver", "worker", "--burst"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "TEST_NOTIFY_KEY" in done.stderr
