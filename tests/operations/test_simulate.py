"""`queueserver simulate` against a real `serve` process: a short day, every check-in a ticket."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest
import redis
from conftest import SAMPLE_CONFIG, SECRET, server_env, start_server

from queueserver.auth import credentials as auth

pytestmark = pytest.mark.e2e
SPEED = "1200"  # an hour of the centre in three seconds


def test_a_short_simulated_day(r: redis.Redis, redis_url: str, tmp_path: Path) -> None:
    server = start_server(server_env(redis_url, QUEUESERVER_TEST_SPEED=SPEED,
                                     QUEUESERVER_TEST_NOW="2026-11-27T08:00:00+08:00"))
    out = tmp_path / "report.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUEUESERVER_TEST")}
    env.update({"REDIS_URL": redis_url, "QUEUESERVER_SECRET": SECRET.decode(),
                "QUEUESERVER_CONFIG": str(SAMPLE_CONFIG)})
    try:
        done = subprocess.run(
            ["queueserver", "simulate", "--bookings", "30", "--counters", "3", "--hours", "1",
             "--speed", SPEED, "--url", server.url, "--seed", "7", "--json", str(out)],
            env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        report = json.loads(out.read_text())
        token, _ = auth.create_token(r, auth.Role.SUPERVISOR, "wan-chai")
        stats = httpx.get(server.url + "/api/v1/centres/wan-chai/stats",
                          headers={"Authorization": f"Bearer {token}"}).json()
    finally:
        server.stop()

    came = report["bookings"] - report["no_shows"]
    assert report["bookings"] == 30 and 0 < came < 30
    # Every simulated check-in got a ticket, and every ticket ended.
    assert report["check_ins"] == report["tickets"] == came
    assert (report["refused"], report["errors"], report["unfinished"]) == ({}, [], 0)
    assert report["served"] + report["declined"] == came
    waits = report["waiting_minutes"]
    assert None not in (waits["mean"], waits["median"], waits["p90"], waits["max"])
    assert sum(waits["histogram"].values()) == came
    estimates = report["estimates"]
    assert estimates["compared"] == came and estimates["mae_minutes"] is not None
    assert 0 <= estimates["within_5_minutes"] <= 1
    assert report["throughput"]["served_per_hour"] > 0
    assert report["events_received"] >= 3 * came   # issued, called, ended for each at least
    for line in ("simulated day", "waiting minutes", "estimates at check-in"):
        assert line in done.stdout
    # The server's own statistics, from its event stream, tell the same day.
    assert (stats["arrivals"], stats["served"], stats["declined"]) == (
        came, report["served"], report["declined"])


def test_simulate_refuses_a_server_whose_clock_runs_at_another_speed(
        r: redis.Redis, redis_url: str, tmp_path: Path) -> None:
    server = start_server(server_env(redis_url))   # the test clock at the real rate
    env = {**os.environ, "REDIS_URL": redis_url, "QUEUESERVER_SECRET": SECRET.decode(),
           "QUEUESERVER_CONFIG": str(SAMPLE_CONFIG)}
    try:
        done = subprocess.run(
            ["queueserver", "simulate", "--bookings", "5", "--speed", "600", "--url",
             server.url], env=env, capture_output=True, text=True, timeout=60)
    finally:
        server.stop()
    assert done.returncode == 1
    assert "QUEUESERVER_TEST_SPEED=600" in done.stderr
