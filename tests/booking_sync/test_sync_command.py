"""`queueserver bookings sync` and the worker's scheduled sync, as real processes against a
booking platform on loopback (CONTRACT §3)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
import redis
from booking_exports import DATA, booking, history
from feed_server import Answer, FeedServer

from queueserver.store import keys

pytestmark = pytest.mark.e2e
ZERO = "imported=0 updated=0 cancelled=0 unchanged=0 rejected=0\n"


def config_with_feed(tmp_path: Path, url: str | None, interval_s: int = 300) -> Path:
    path = tmp_path / "config.toml"
    text = (DATA / "config.toml").read_text(encoding="utf-8")
    if url:
        text += f'\n[booking_feed]\nurl = "{url}"\ninterval_seconds = {interval_s}\n'
    path.write_text(text, encoding="utf-8")
    return path


def env(redis_url: str, tmp_path: Path) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if k != "QUEUESERVER_CONFIG"}
    out.update(REDIS_URL=redis_url, QUEUESERVER_SECRET="test-secret",
               QUEUESERVER_DATA=str(tmp_path / "var"))
    return out


def sync_command(redis_url: str, tmp_path: Path, config: Path) -> list[str]:
    return ["queueserver", "--config", str(config), "bookings", "sync"]


def sync_once(redis_url: str, tmp_path: Path, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(sync_command(redis_url, tmp_path, config), env=env(redis_url, tmp_path),
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)


def test_sync_prints_and_exits_as_import_does(
        r: redis.Redis, redis_url: str, tmp_path: Path, feed_server: FeedServer) -> None:
    config = config_with_feed(tmp_path, feed_server.url())
    feed_server.serve("/export.json", [booking(), booking(booking_ref="MEP2")], etag='"v1"')
    done = sync_once(redis_url, tmp_path, config)
    assert (done.returncode, done.stdout) == (
        0, "imported=2 updated=0 cancelled=0 unchanged=0 rejected=0\n"), done.stderr
    assert r.hget(keys.booking("wan-chai", "MEP2"), "source") == "feed"

    done = sync_once(redis_url, tmp_path, config)
    assert (done.returncode, done.stdout) == (0, ZERO)
    assert "has not changed since the last sync" in done.stderr
    assert len(feed_server.requests()) == 2

    # MEP240001 was checked in meanwhile: the platform's cancellation is held, and said.
    r.hset(keys.booking("wan-chai", "MEP240001"), "ticket", "A007")
    feed_server.serve("/export.json", [
        booking(status="cancelled"), booking(booking_ref="MEP2", id_number="A123456(4)")],
        etag='"v2"')
    done = sync_once(redis_url, tmp_path, config)
    assert (done.returncode, done.stdout) == (1, (
        "row 1: held: checked in as A007, so the change to status is not applied\n"
        "row 2: id_number: check digit does not match\n"
        "imported=0 updated=0 cancelled=0 unchanged=1 rejected=1\n"))
    assert r.hget(keys.booking("wan-chai", "MEP240001"), "status") == "approved"
    assert "A123456" not in done.stdout + done.stderr


def test_a_feed_that_cannot_be_read_or_is_not_configured_exits_2(
        r: redis.Redis, redis_url: str, tmp_path: Path, feed_server: FeedServer) -> None:
    done = sync_once(redis_url, tmp_path, config_with_feed(tmp_path, feed_server.url()))
    assert (done.returncode, done.stdout) == (2, ZERO)
    assert "cannot sync the booking feed" in done.stderr and "HTTP 404" in done.stderr
    done = sync_once(redis_url, tmp_path, config_with_feed(tmp_path, None))
    assert (done.returncode, done.stdout) == (2, ZERO)
    assert "no [booking_feed]" in done.stderr
    assert r.dbsize() == 0


def test_two_sync_commands_started_together_import_once(
        r: redis.Redis, redis_url: str, tmp_path: Path, feed_server: FeedServer) -> None:
    config = config_with_feed(tmp_path, feed_server.url())
    feed_server.serve("/export.json", [booking(), booking(booking_ref="MEP2")])
    # The first run's request is held until the second run has ended: they overlap, however
    # long either takes to start.
    held = Answer.held(page=True)
    feed_server.queue("/export.json", held)

    def start() -> subprocess.Popen[str]:
        return subprocess.Popen(sync_command(redis_url, tmp_path, config),
                                env=env(redis_url, tmp_path), cwd=tmp_path, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    first = start()
    try:
        held.wait_arrived(60)
        second = start()
        busy_out, busy_err = second.communicate(timeout=60)
    finally:
        held.release()
    ok_out, _ = first.communicate(timeout=60)
    assert (first.returncode, ok_out) == (
        0, "imported=2 updated=0 cancelled=0 unchanged=0 rejected=0\n")
    assert (second.returncode, busy_out) == (4, ZERO)
    assert "another sync of this feed is running" in busy_err
    assert len(feed_server.requests()) == 1
    assert [e["change"] for e in history(r, "wan-chai", "MEP240001")] == ["created"]


def test_the_worker_syncs_the_feed_on_its_schedule(
        r: redis.Redis, redis_url: str, tmp_path: Path, feed_server: FeedServer) -> None:
    config = config_with_feed(tmp_path, feed_server.url(), interval_s=1)
    feed_server.serve("/export.json", [booking()], etag='"v1"')
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(["queueserver", "--config", str(config), "worker"],
                              env=env(redis_url, tmp_path), cwd=tmp_path, stdout=log,
                              stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(feed_server.requests()) < 2:
            time.sleep(0.1)
        output = (tmp_path / "worker.log").read_text(errors="replace")
        assert len(feed_server.requests()) >= 2, output
        assert r.hget(keys.booking_index(), "MEP240001") == "wan-chai"
        # Its later pulls were conditional: the export had not changed.
        assert feed_server.requests()[1].headers.get("if-none-match") == '"v1"'
    finally:
        # RQ's warm shutdown lets the job in hand finish; on a loaded machine a pull may take a
        # while. What this test checks is the schedule, not how fast the worker stops.
        worker.terminate()
        try:
            worker.wait(60)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(10)
        log.close()
    output = (tmp_path / "worker.log").read_text(errors="replace")
    assert "booking feed: imported=1 updated=0 cancelled=0 unchanged=0 rejected=0" in output
