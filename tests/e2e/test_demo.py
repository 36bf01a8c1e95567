"""`queueserver demo` started as users start it: a board with numbers to call, and a clean end."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import TEST_NOW, alive, children, free_port

pytestmark = pytest.mark.e2e


class Demo:
    def __init__(self, tmp: Path, path: str | None = None) -> None:
        self.port = free_port()
        self.out = tmp / "demo.out"
        self.err = tmp / "demo.err"
        env = {k: v for k, v in os.environ.items()
               if k not in ("REDIS_URL", "QUEUESERVER_CONFIG", "QUEUESERVER_SECRET")}
        env.update({"QUEUESERVER_DATA": str(tmp / "var"), "QUEUESERVER_TEST_MODE": "1",
                    "QUEUESERVER_TEST_NOW": TEST_NOW})
        if path is not None:
            env["PATH"] = path
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "queueserver.tools.cli", "demo", "--port", str(self.port)],
                cwd=tmp, env=env, stdout=out, stderr=err)
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.out.read_text(errors="replace")
            m = re.search(r"admin token \(API, every centre\): (\S+)", text)
            if m and "try the desk" in text.split("Kowloon Bay")[-1]:
                return m.group(1)
            assert self.proc.poll() is None, self.err.read_text()
            time.sleep(0.1)
        raise AssertionError("the demo did not print its screens: " + self.err.read_text())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    d = Demo(tmp_path)
    yield d
    d.stop()


def call_a_sample_number(demo: Demo, admin: str) -> None:
    h = {"Authorization": f"Bearer {admin}"}
    board = httpx.get(f"{demo.url}/api/v1/centres/wan-chai/board", headers=h).json()
    waiting = sum(board["waiting"].values())
    assert waiting >= 6
    called = httpx.post(f"{demo.url}/api/v1/centres/wan-chai/counters/1/call", headers=h)
    assert called.status_code == 200, called.text
    assert re.fullmatch(r"[AP]\d{3}", called.json()["ticket"]["number"])
    after = httpx.get(f"{demo.url}/api/v1/centres/wan-chai/board", headers=h).json()
    assert sum(after["waiting"].values()) == waiting - 1
    assert after["now_serving"][0]["counter"] == 1


def test_the_demo_serves_a_board_whose_numbers_can_be_called(demo: Demo) -> None:
    admin = demo.wait_ready()
    out = demo.out.read_text()
    for screen in ("/display/wan-chai?token=", "/kiosk/wan-chai?token=", "/desk/wan-chai",
                   "/photo/wan-chai", "/counter/wan-chai/1", "/admin", "/login",
                   "/display/kowloon-bay?token="):
        assert screen in out, screen
    call_a_sample_number(demo, admin)
    # The booking platform's sample applicant: its printed link opens its booking page.
    link = re.search(r"book a visit:\s+(\S+)", out)
    assert link and "/book/" in link.group(1)
    page = httpx.get(link.group(1), timeout=10)
    assert page.status_code == 200 and "DEMO, A***" in page.text
    # The printed staff login opens the staff screens.
    password = re.search(r"password of every staff login: (\S+)", out)
    assert password
    with httpx.Client(base_url=demo.url) as browser:
        form = browser.get("/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert csrf, form.text
        signed_in = browser.post("/login", data={
            "username": "demo-desk-wan-chai", "password": password.group(1),
            "csrf_token": csrf.group(1)})
        assert signed_in.status_code in (200, 303), signed_in.text
        assert browser.get("/desk/wan-chai").status_code == 200
    # SIGTERM ends the demo and everything it started: the worker and the embedded Redis.
    started = children(demo.proc.pid)
    assert len(started) >= 2
    demo.proc.send_signal(signal.SIGTERM)
    assert demo.proc.wait(30) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal
    deadline = time.monotonic() + 15
    while any(alive(p) for p in started) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(p) for p in started)


def test_a_restarted_demo_keeps_its_data(tmp_path: Path) -> None:
    first = Demo(tmp_path)
    try:
        admin = first.wait_ready()
        h = {"Authorization": f"Bearer {admin}"}
        httpx.post(f"{first.url}/api/v1/centres/wan-chai/counters/2/call", headers=h)
        first.proc.send_signal(signal.SIGTERM)
        first.proc.wait(30)
    finally:
        first.stop()
    second = Demo(tmp_path)
    try:
        admin = second.wait_ready()
        board = httpx.get(f"{second.url}/api/v1/centres/wan-chai/board",
                          headers={"Authorization": f"Bearer {admin}"}).json()
        assert [s["counter"] for s in board["now_serving"]] == [2]
    finally:
        second.stop()


def test_without_redis_server_the_demo_runs_on_fakeredis(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    demo = Demo(tmp_path, path=str(empty))   # no redis-server anywhere on PATH
    try:
        admin = demo.wait_ready()
        assert "NOTHING WILL BE KEPT" in demo.err.read_text()
        call_a_sample_number(demo, admin)
        demo.proc.send_signal(signal.SIGTERM)
        assert demo.proc.wait(30) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal
    finally:
        demo.stop()
