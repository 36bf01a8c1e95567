"""The day close: at the centre's closing time, once, and for a day the worker missed."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
import redis
from conftest import DAY, TZ, bearer
from operations.scripted_day import C, Day, play_the_scripted_day
from starlette.testclient import TestClient

from queueserver.operations import dayclose
from queueserver.platform.clock import Clock
from queueserver.platform.config import Config
from queueserver.store import keys

WC = "wan-chai"
TODAY = DAY.isoformat()


@pytest.fixture
def day(client: TestClient, tokens: dict[str, str], seed: Callable[..., Any],
        clock: Clock) -> Day:
    return Day(client, tokens, seed, clock)


def events(r: redis.Redis, stream: str) -> list[tuple[str, str, dict[str, Any]]]:
    return [(i, f["type"], json.loads(f["data"])) for i, f in r.xrange(stream)]


def ticket(client: TestClient, tokens: dict[str, str], number: str) -> dict[str, Any]:
    answer = client.get(f"{C}/tickets/{number}", headers=bearer(tokens["supervisor"]))
    return dict(answer.json()["ticket"])


def test_the_day_closes_at_closing_time_once(
        day: Day, r: redis.Redis, cfg: Config, clock: Clock, client: TestClient,
        tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dayclose, "LIVE_TAIL", 3)
    play_the_scripted_day(day)                 # A002 is being called at counter 2
    day.at("10:30")
    assert day.issue()["number"] == "A004"     # and A004 waits
    first_id = r.xrange(keys.events(WC), count=1)[0][0]

    day.at("17:59")
    assert TODAY not in dayclose.close_due(cfg, r, clock).get(WC, [])
    assert ticket(client, tokens, "A004")["status"] == "waiting"

    day.at("18:00")
    assert TODAY in dayclose.close_due(cfg, r, clock)[WC]
    for number in ("A002", "A004"):
        assert ticket(client, tokens, number)["status"] == "no_show"
    board = client.get(f"{C}/board", headers=bearer(tokens["supervisor"])).json()
    assert board["waiting"] == {"A": 0, "P": 0}
    assert {c["state"] for c in board["counters"]} == {"closed"}

    archived = events(r, keys.archive(WC, TODAY))
    closing = [(t, d) for _, t, d in archived if d.get("reason") == "day_closed"]
    assert [(t, d) for t, d in closing if t == "ticket.no_show"] == [
        ("ticket.no_show", {"ticket": "A002", "service": "A", "counter": 2,
                            "reason": "day_closed"}),
        ("ticket.no_show", {"ticket": "A004", "service": "A", "reason": "day_closed"})]
    assert {d["counter"] for t, d in closing if t == "counter.closed"} == {1, 2, 3}
    assert archived[0][0] == first_id
    # The live stream keeps the day's last LIVE_TAIL events; the archive has them all.
    live = events(r, keys.events(WC))
    assert [e[0] for e in live] == [e[0] for e in archived[-3:]]
    record = r.hgetall(keys.day_close(WC, TODAY))
    assert (record["closed_at"], record["events"]) == ("2026-11-27T18:00:00+08:00",
                                                       str(len(archived)))
    frozen = day.stats()
    assert (frozen["arrivals"], frozen["served"], frozen["no_shows"], frozen["declined"]) == (
        5, 2, 2, 1)

    # A second run does nothing more, even after more work on the same day.
    day.at("18:05")
    day.requeue("A004")
    assert day.call(3) == "A004"
    assert TODAY not in dayclose.close_due(cfg, r, clock).get(WC, [])
    assert ticket(client, tokens, "A004")["status"] == "called"
    assert events(r, keys.archive(WC, TODAY)) == archived
    assert day.stats() == frozen              # a closed day's figures never change

    # A screen resuming from before the trim is told to resync, then gets the board.
    url = f"/ws/centres/{WC}/events?token={tokens['display']}&after={first_id}"
    with client.websocket_connect(url) as ws:
        assert ws.receive_json() == {"type": "resync_required"}
        assert ws.receive_json()["type"] == "board"

    # The next morning numbers start again, and the closed day stays as it was.
    day.at("09:00", DAY + dt.timedelta(days=1))
    assert day.issue()["number"] == "A001"
    assert day.stats(TODAY) == frozen


def test_a_missed_close_runs_the_next_morning_within_its_own_day(
        day: Day, r: redis.Redis, cfg: Config, clock: Clock, client: TestClient,
        tokens: dict[str, str]) -> None:
    day.at("09:00")
    day.issue()
    day.at("09:10")
    day.issue()
    assert day.call(1) == "A001"
    # The worker was down at 18:00; it comes back just after midnight.
    clock.set(dt.datetime(2026, 11, 28, 0, 0, 1, tzinfo=TZ))
    closed = dayclose.close_due(cfg, r, clock)
    assert TODAY in closed[WC] and "2026-11-28" not in closed[WC]
    closing = [(t, d["ticket"]) for _, t, d in events(r, keys.archive(WC, TODAY))
               if t == "ticket.no_show"]
    assert closing == [("ticket.no_show", "A001"), ("ticket.no_show", "A002")]
    at = {f["at"] for _, f in r.xrange(keys.archive(WC, TODAY))
          if json.loads(f["data"]).get("reason") == "day_closed"}
    assert at == {"2026-11-27T23:59:59+08:00"}
    s = day.stats(TODAY)
    assert (s["arrivals"], s["no_shows"], s["by_hour"][-1]) == (
        2, 2, {"hour": 23, "arrivals": 0, "served": 0, "no_shows": 2})
    # One second later, at the day boundary's other side, nothing is left to close.
    clock.set(dt.datetime(2026, 11, 28, 0, 0, 2, tzinfo=TZ))
    assert dayclose.close_due(cfg, r, clock) == {}


def test_the_day_close_is_a_scheduled_worker_job() -> None:
    from queueserver.tools.worker import SCHEDULE

    job = next(j for j in SCHEDULE if j.name == "day-close")
    assert (job.queue, job.func) == ("maintenance", "queueserver.operations.dayclose.run_due")
    assert job.interval is not None
