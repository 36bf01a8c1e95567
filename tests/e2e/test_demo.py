"""`queueserver demo` started as a person starts it, at hours when no Hong Kong centre works: a
centre at work within 15 seconds, calls that keep coming, a console for a person, a booking to
try that checks in, and a clean end (CONTRACT §8).

The three starts (a Tuesday evening at 23:10, just after midnight, a Sunday) each run at --speed
10 and are shared by the tests of this module; the Sunday one also runs where no redis-server is
installed (on fakeredis, keeping nothing).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from conftest import alive
from demo_process import AFTER_MIDNIGHT, DEMO_DAY, EVENING, SUNDAY, TRY_KIOSK, Demo
from websockets.sync.client import connect

from queueserver.platform import config
from queueserver.tools.demo import command, day

pytestmark = pytest.mark.e2e

CENTRES = ("wan-chai", "kowloon-bay")
# The shipped sample, which the demo runs on.
SAMPLE = config.load(config.sample_path())
HKID = re.compile(r"[A-Z]{1,2}[0-9]{6}\([0-9A]\)")
LINE = re.compile(r"^\d\d:\d\d:\d\d (wan-chai|kowloon-bay) +\S.*$")
T = TypeVar("T")


def until(check: Callable[[], T | None], timeout: float, what: str) -> T:
    """The first truthy answer of `check`, asked until `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        answer = check()
        if answer:
            return answer
        assert time.monotonic() < deadline, f"not within {timeout:.1f} s: {what}"
        time.sleep(0.1)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Running:
    demo: Demo
    admin: str
    now: str
    fakeredis: bool
    ready_after: float  # seconds from start to the screens printed
    # What the visitor did at the desk and counter 1: (ticket number, called_at).
    visited: dict[str, tuple[str, str]] = field(default_factory=dict)


# The Monday run's data folder and what was done there, for the restarted demo (the last test).
SHARED: dict[str, Any] = {}


@pytest.fixture(scope="module")
def shared_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("demo-kept")


@pytest.fixture(scope="module", params=[EVENING, AFTER_MIDNIGHT, SUNDAY],
                ids=["tuesday-23h10", "monday-00h05", "sunday"])
def running(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
            shared_data: Path) -> Iterator[Running]:
    fakeredis = request.param == SUNDAY
    data = shared_data if request.param == AFTER_MIDNIGHT else tmp_path_factory.mktemp("demo")
    path = None
    if fakeredis:
        empty = data / "bin"
        empty.mkdir()
        path = str(empty)  # no redis-server (nor espeak-ng) anywhere on PATH
    d = Demo(data, request.param, speed=10, path=path)
    try:
        admin = d.wait_ready()
        run = Running(d, admin, request.param, fakeredis, time.monotonic() - d.started)
        if request.param == AFTER_MIDNIGHT:
            SHARED["monday"] = run
        yield run
    finally:
        d.stop()


def test_people_wait_and_a_call_is_made_within_15_seconds(running: Running) -> None:
    d = running.demo
    # The screens' URLs are there to open by then, too.
    assert running.ready_after < 15, running.ready_after
    for centre in CENTRES:
        def alive_board(centre: str = centre) -> dict[str, Any] | None:
            board = d.board(running.admin, centre)
            waiting = sum(board["waiting"].values())  # type: ignore[attr-defined]
            return board if waiting > 0 and board["recent_calls"] else None

        board = until(alive_board, d.started + 15 - time.monotonic(),
                      f"{centre}'s board with people waiting and a call")
        assert board["date"] == DEMO_DAY[running.now]
        # The hall display's view, through its WebSocket, is the same centre at work.
        ws_url = d.url.replace("http", "ws") + (
            f"/ws/centres/{centre}/events?token={d.token('display', centre)}")
        with connect(ws_url) as ws:
            first = json.loads(ws.recv(timeout=10))
        assert first["type"] == "board"
        assert sum(first["data"]["waiting"].values()) > 0
        assert first["data"]["recent_calls"] and first["data"]["date"] == DEMO_DAY[running.now]
    if running.fakeredis:
        assert "NOTHING WILL BE KEPT" in d.err.read_text()


def test_calls_keep_coming_and_speak(running: Running) -> None:
    """At --speed 10 a minute is ten demo minutes: at least one call a demo minute at speed 1
    means more calls well within it, for each centre; and they speak (the worker renders the
    offline voice at start: within the minute, calls carry a clip in each language)."""
    d = running.demo
    for centre in CENTRES:
        ws_url = d.url.replace("http", "ws") + (
            f"/ws/centres/{centre}/events?token={d.token('display', centre)}")
        calls: list[dict[str, Any]] = []
        with connect(ws_url) as ws:
            board = json.loads(ws.recv(timeout=10))
            assert board["type"] == "board"
            deadline = time.monotonic() + 60
            while not (calls and (running.fakeredis or _spoken(calls[-1]))):
                left = deadline - time.monotonic()
                assert left > 0, f"{centre}: {len(calls)} calls in a minute, none spoken"
                event = json.loads(ws.recv(timeout=left))
                if event["type"] == "ticket.called":
                    calls.append(event)
        assert all(c["at"].startswith(DEMO_DAY[running.now]) for c in calls)
        clips = calls[-1]["data"]["announcement"]["clips"]
        assert clips[0] == "/sounds/chime.wav"
        if running.fakeredis:
            # No espeak-ng on its PATH either: the chime, as its one-line warning said.
            assert clips == ["/sounds/chime.wav"]
            assert "calls are announced with the chime only" in d.err.read_text()
        else:
            assert httpx.get(d.url + clips[1], timeout=10).headers["content-type"] == "audio/wav"


def _spoken(call: dict[str, Any]) -> bool:
    """The chime, then a clip in each of the three languages."""
    return len(call["data"]["announcement"]["clips"]) == 4


def test_the_console_is_for_a_person(running: Running) -> None:
    d = running.demo
    until(lambda: len(d.lines_after()) >= 20, 30, "twenty lines of what happens")
    lines = d.lines_after()
    # The demo day's people, at either centre: none of them is named on the console.
    people = [s.booking for c in SAMPLE.centres
              for s in day.samples(c, dt.date.fromisoformat(DEMO_DAY[running.now]))]
    names = {p.surname for p in people} | {p.given_names for p in people}
    for line in lines:
        assert not line.startswith("{"), line
        assert LINE.match(line), line
        assert not HKID.search(line), line
        assert not any(re.search(rf"\b{re.escape(name)}\b", line) for name in names), line
    assert any(" → counter " in line for line in lines)
    assert any(" checked in at the desk" in line for line in lines)
    # Before the lines: the screens, who signs in where, the tokens.
    block = d.block()
    for screen in ("/display/wan-chai?token=", "/kiosk/wan-chai?token=", "/desk/wan-chai",
                   "/photo/wan-chai", "/counter/wan-chai/1", "/admin", "/login",
                   "/display/kowloon-bay?token="):
        assert screen in block, screen
    assert "「示範 DEMO」" in block and "demo-desk-wan-chai" in block
    assert len(TRY_KIOSK.findall(block)) == 2 * day.KIOSK_RECEIPTS
    # The booking platform's sample applicant: its printed link opens its booking page.
    link = re.search(r"book a visit:\s+(\S+)", block)
    assert link and "/book/" in link.group(1), block
    page = httpx.get(link.group(1), timeout=10)
    assert page.status_code == 200 and "DEMO, A***" in page.text
    # Warnings are single plain lines; the structured logs are in the file.
    for line in d.err.read_text().splitlines():
        assert not line.lstrip().startswith("{"), line
    log = (d.data / "var" / command.LOG_NAME).read_text()
    assert any(json.loads(line)["logger"].startswith("queueserver")
               for line in log.splitlines() if line.startswith("{"))


def test_the_suggested_booking_checks_in_at_the_desk(running: Running) -> None:
    """And its person is called to counter 1, the visitor's: no simulated clerk is there."""
    d = running.demo
    for centre in CENTRES:
        ref, id_number, barcode = d.suggested(centre)
        answer = httpx.post(f"{d.url}/api/v1/centres/{centre}/tickets",
                            headers=bearer(d.token("desk", centre)),
                            json={"booking_ref": ref, "id_number": id_number,
                                  "photo_barcode": barcode}, timeout=10)
        assert answer.status_code == 201, answer.text
        number = answer.json()["ticket"]["number"]
        assert re.fullmatch(r"A\d{3}", number)
        called = httpx.post(f"{d.url}/api/v1/centres/{centre}/counters/1/call",
                            headers=bearer(d.token("clerk", centre)),
                            json={"ticket": number}, timeout=10)
        assert called.status_code == 200, called.text
        running.visited[centre] = (number, called.json()["ticket"]["called_at"])
        serving = d.board(running.admin, centre)["now_serving"]
        assert {"counter": 1, "ticket": number,
                "called_at": running.visited[centre][1]} in serving  # type: ignore[operator]


def test_a_permit_from_an_earlier_day_is_ready_at_the_kiosk(running: Running) -> None:
    d = running.demo
    receipt, id_number = TRY_KIOSK.findall(d.block())[0]
    answer = httpx.post(f"{d.url}/api/v1/collection/eligibility",
                        headers=bearer(d.token("kiosk", "wan-chai")),
                        json={"receipt_no": receipt, "id_number": id_number}, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json()["eligible"] is True and answer.json()["reason"] == "ready"


def test_sigterm_ends_every_process_it_started(running: Running) -> None:
    code, started = running.demo.terminate()
    assert code == 0, running.demo.err.read_text()
    # The worker, and the embedded redis-server unless it ran on fakeredis.
    assert len(started) >= (1 if running.fakeredis else 2)
    assert not any(alive(p) for p in started)


def test_a_restarted_demo_goes_on_from_its_clock_and_keeps_its_data() -> None:
    """The Monday demo started again on its data folder, with --quiet: the visitor's person is
    still at counter 1, the demo clock goes on from where it stopped, and nothing is printed
    after the screens though the centres are at work."""
    first: Running = SHARED["monday"]  # the Monday run of this module, stopped by SIGTERM
    assert first.demo.proc.poll() is not None and first.visited
    number, called_at = first.visited["wan-chai"]
    second = Demo(first.demo.data, AFTER_MIDNIGHT, speed=10, quiet=True)
    try:
        admin = second.wait_ready()
        board = second.board(admin, "wan-chai")
        assert board["date"] == DEMO_DAY[AFTER_MIDNIGHT]
        assert {"counter": 1, "ticket": number, "called_at": called_at} in board["now_serving"]  # type: ignore[operator]
        # Nothing lies in the demo's future: its clock goes on from where it stopped (not from
        # 10:00 again), and its new calls come after the last run's.
        clock = re.search(r"demo clock 「示範 DEMO」: \w+ \d+ \w+ \d{4}, (\d\d:\d\d) ",
                          second.block())
        assert clock and clock.group(1) >= called_at[11:16], (clock, called_at)
        until(lambda: any(c["called_at"] > called_at for c in
                          second.board(admin, "wan-chai")["recent_calls"]),  # type: ignore[attr-defined]
              30, "a call after the first run's")
        # The earlier day's permits are the same ones, found made (not made again).
        assert TRY_KIOSK.findall(second.block()) == TRY_KIOSK.findall(first.demo.block())
        # The booking checked in then is not suggested again.
        assert second.suggested("wan-chai")[0] != first.demo.suggested("wan-chai")[0]
        # --quiet: the screens, then nothing.
        assert second.lines_after() == []
        code, started = second.terminate()
        assert code == 0 and not any(alive(p) for p in started)
    finally:
        second.stop()
