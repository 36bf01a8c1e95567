"""Thermal printers with real processes: `serve` enqueues, `worker` prints through python-escpos to
a fake ESC/POS printer (a TCP server in the test that records the bytes), a printer that is off
makes no check-in slower, and after two minutes of the test clock `printer.failed` reaches the
desk's socket."""

from __future__ import annotations

import contextlib
import json
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from conftest import MORNING, make_booking, store
from escpos_printer import BARCODE_COMMAND, QR_COMMAND, RASTER_IMAGE, FakePrinter, closed_port
from hall import Hall, config_with_printers, start_hall
from websockets.sync.client import ClientConnection, connect

from queueserver.auth import credentials as auth
from queueserver.platform import config as config_mod
from queueserver.platform.clock import Clock
from queueserver.printing import jobs

pytestmark = pytest.mark.e2e

C = "/api/v1/centres/wan-chai"
FOLLOW = "https://queue.example/t/Zm9sbG93LXRva2VuLWZvci10ZXN0cw"


@pytest.fixture
def printer() -> Iterator[FakePrinter]:
    p = FakePrinter().start()
    yield p
    p.stop()


@pytest.fixture
def hall(r: redis.Redis, redis_url: str, tmp_path: Path,
         printer: FakePrinter) -> Iterator[Hall]:
    h = start_hall(redis_url, config_with_printers(
        tmp_path, {"desk-1": printer.port, "desk-off": closed_port()}))
    yield h
    h.stop()


def token(r: redis.Redis, role: auth.Role) -> dict[str, str]:
    made, _ = auth.create_token(r, role, "wan-chai")
    return {"Authorization": f"Bearer {made}"}


def wait_for(condition: Any, what: str, within_s: float = 30.0) -> Any:
    deadline = time.monotonic() + within_s
    while not (found := condition()):
        assert time.monotonic() < deadline, f"no {what} within {within_s} s"
        time.sleep(0.05)
    return found


class Desk:
    def __init__(self, http: httpx.Client, r: redis.Redis) -> None:
        self.http, self.photo, self.desk = http, token(r, auth.Role.PHOTO), token(r, auth.Role.DESK)
        self.r = r
        self.n = 0

    def check_in(self, **extra: Any) -> httpx.Response:
        self.n += 1
        ref = f"MEP{self.n:04d}"
        store(self.r, [make_booking(ref)])
        self.http.post(C + "/photo-receipts", json={"barcode": f"PH{self.n}"},
                       headers=self.photo)
        return self.http.post(C + "/tickets", headers=self.desk, json={
            "booking_ref": ref, "id_number": "A123456(3)", "photo_barcode": f"PH{self.n}",
            **extra})


@contextlib.contextmanager
def desk_socket(hall: Hall, r: redis.Redis) -> Iterator[ClientConnection]:
    made, _ = auth.create_token(r, auth.Role.DESK, "wan-chai")
    url = hall.server.url.replace("http://", "ws://") + f"/ws/centres/wan-chai/events?token={made}"
    with connect(url, open_timeout=10) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "board"
        yield ws


def test_a_check_in_prints_its_slip_and_a_receipt_prints_with_its_barcode(
        hall: Hall, r: redis.Redis, printer: FakePrinter) -> None:
    with httpx.Client(base_url=hall.server.url, timeout=10) as http:
        desk = Desk(http, r)
        issued = desk.check_in(printer="desk-1")
        assert issued.status_code == 201, issued.text
        number = issued.json()["ticket"]["number"]
        (slip,) = wait_for(printer.slips, "ticket slip")
        assert number.encode() in slip and RASTER_IMAGE in slip
        if issued.json()["ticket"].get("follow_url"):
            assert QR_COMMAND in slip

        # The worker prints the follow page's QR code where the ticket has one.
        cfg = config_mod.load(hall.env["QUEUESERVER_CONFIG"])
        centre = cfg.centre("wan-chai")
        assert centre is not None and (desk_1 := centre.printer("desk-1")) is not None
        jobs.enqueue(cfg, hall.env["REDIS_URL"], Clock(cfg.tz, MORNING), centre, desk_1,
                     "ticket", number, {**issued.json()["ticket"], "follow_url": FOLLOW})
        followed = wait_for(lambda: printer.slips()[1:], "slip with a QR code")[0]
        assert QR_COMMAND in followed and FOLLOW.encode() in followed

        # A reprint from the desk, and the receipt at the counter's end of the visit.
        supervisor = token(r, auth.Role.SUPERVISOR)
        again = http.post(f"{C}/tickets/{number}/print", json={"printer": "desk-1"},
                          headers=desk.desk)
        assert again.status_code == 202
        assert again.json() == {"print": {"printer": "desk-1", "slip": "ticket",
                                          "ticket": number}}
        wait_for(lambda: len(printer.slips()) == 3, "reprint")
        http.post(C + "/counters/1/call", json={}, headers=supervisor)
        http.post(f"{C}/tickets/{number}/acceptance", headers=supervisor)
        http.post(f"{C}/tickets/{number}/payment", json={"method": "cash", "amount_hkd": 320},
                  headers=supervisor)
        receipt_no = http.post(f"{C}/tickets/{number}/receipt",
                               headers=supervisor).json()["receipt_no"]
        printed = http.post(f"/api/v1/receipts/{receipt_no}/print", json={"printer": "desk-1"},
                            headers=desk.desk)
        assert printed.status_code == 202, printed.text
        receipt = wait_for(lambda: printer.slips()[3:], "receipt slip")[0]
        assert BARCODE_COMMAND in receipt and receipt_no.encode() in receipt
        # The receipt number never reaches a log line (the job's description omits it).
        assert receipt_no not in hall.worker_output() + hall.server.output()

        for path in (f"{C}/tickets/{number}/print", f"/api/v1/receipts/{receipt_no}/print"):
            unknown = http.post(path, json={"printer": "nowhere"}, headers=desk.desk)
            assert unknown.status_code == 422
            assert unknown.json()["error"]["code"] == "unknown_printer"
        refused = desk.check_in(printer="nowhere")
        assert refused.json()["error"]["code"] == "unknown_printer"
        assert http.get(f"{C}/board", headers=desk.desk).json()["waiting"]["A"] == 0
    assert len(printer.slips()) == 4


def test_a_printer_that_is_off_never_slows_a_check_in_and_the_desk_is_told(
        hall: Hall, r: redis.Redis) -> None:
    with httpx.Client(base_url=hall.server.url, timeout=10) as http, \
            desk_socket(hall, r) as ws:
        desk = Desk(http, r)
        desk.check_in()  # the first request of a process pays for its imports

        def timed(**extra: Any) -> tuple[float, str]:
            started = time.perf_counter()
            answer = desk.check_in(**extra)
            took = time.perf_counter() - started
            assert answer.status_code == 201, answer.text
            return took, str(answer.json()["ticket"]["number"])

        plain = [timed()[0] for _ in range(8)]
        off = [timed(printer="desk-off") for _ in range(8)]
        slowest_plain, slowest_off = max(plain), max(t for t, _ in off)
        # As fast as without a printer: the enqueue is the only difference.
        assert statistics.median(t for t, _ in off) < statistics.median(plain) + 0.05, (plain, off)
        assert slowest_off < max(0.5, 3 * slowest_plain), (plain, off)

        # Two minutes on the clock of every process: the next try gives up and says so, once
        # per slip, on the desk's socket.
        hall.advance(jobs.RETRY_FOR_S + 1)
        failed: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + 60
        while len(failed) < len(off):
            left = deadline - time.monotonic()
            assert left > 0, (failed, hall.worker_output()[-3000:])
            message = json.loads(ws.recv(timeout=left))
            if message.get("type") == "printer.failed":
                failed[message["data"]["ticket"]] = message["data"]
        assert set(failed) == {n for _, n in off}
        assert {(d["printer"], d["slip"]) for d in failed.values()} == {("desk-off", "ticket")}
    events = [f for _, f in r.xrange("qs:{wan-chai}:events") if f["type"] == "printer.failed"]
    assert len(events) == len(off)
