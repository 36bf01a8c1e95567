"""Wait estimates: the calling order played forward (8 minutes a service until measured)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis
from conftest import bearer
from operations.scripted_day import C, Day
from starlette.testclient import TestClient

from queueserver.platform.clock import Clock
from queueserver.store import keys


@pytest.fixture
def day(client: TestClient, tokens: dict[str, str], seed: Callable[..., Any],
        clock: Clock) -> Day:
    d = Day(client, tokens, seed, clock)
    d.at("09:00")
    return d


def estimate(day: Day, number: str) -> int:
    answer = day.client.get(f"{C}/tickets/{number}", headers=bearer(day.tokens["supervisor"]))
    return int(answer.json()["ticket"]["estimated_wait_minutes"])


def board(day: Day) -> dict[str, int | None]:
    answer = day.client.get(f"{C}/board", headers=bearer(day.tokens["supervisor"]))
    return dict(answer.json()["estimated_wait_minutes"])


def test_a_counter_serving_p_first_takes_the_priority_tickets_first(day: Day) -> None:
    for n in (1, 2):          # counter 1 calls P before A; counter 2 A before P
        day.post(f"counters/{n}/open")
    for priority in (True, True, True, False):
        day.issue(priority)
    # 1 takes P001 and 2 takes A001 now; at 8 minutes 1 takes P002 and 2, with no A left,
    # P003. A newcomer to A would be counter 2's at 8 (it lists A first); one to P waits for
    # counter 1 at 16, behind P002 and P003 (the old model said 3 x 8 / 2 = 12).
    assert [estimate(day, n) for n in ("P001", "P002", "P003", "A001")] == [0, 8, 8, 0]
    assert board(day) == {"A": 8, "P": 16}


def test_a_busy_counter_frees_when_its_service_should_end(day: Day) -> None:
    day.issue()
    day.issue()
    assert day.call(3) == "A001"
    day.at("09:03")
    assert estimate(day, "A002") == 5          # 8 minutes expected, 3 spent
    day.at("09:13")
    # Running late: still a quarter of the mean to go, not a negative time.
    assert estimate(day, "A002") == 2


def test_a_paused_counter_calls_nobody(day: Day) -> None:
    for n in (2, 3):
        day.post(f"counters/{n}/open")
    for _ in range(3):
        day.issue()
    assert estimate(day, "A003") == 8
    day.post("counters/2/pause")
    assert estimate(day, "A003") == 16
    day.post("counters/3/pause")
    # Nobody open serves A: no figure to give (the screens say no counter is open).
    answer = day.client.get(f"{C}/tickets/A003", headers=bearer(day.tokens["supervisor"]))
    assert answer.json()["ticket"]["estimated_wait_minutes"] is None
    assert board(day) == {"A": None, "P": None}


def test_a_transferred_ticket_waits_ahead_in_its_new_queue(day: Day) -> None:
    day.issue()
    assert day.call(3) == "A001"
    day.transfer(3, "P")                       # keeps its place: issued before P001
    day.issue(priority=True)
    day.post("counters/1/open")
    assert estimate(day, "A001") == 0
    assert estimate(day, "P001") == 8


def test_each_counter_at_its_own_pace(day: Day, r: redis.Redis) -> None:
    for n in (2, 3):
        day.post(f"counters/{n}/open")
    for _ in range(4):
        day.issue()
    # Counter 2 took 2 minutes a case lately; blended with the service's 8 minutes as if seen
    # five times: (20 x 120 + 5 x 480) / 25 = 192 s. Counter 3 has no record: 8 minutes.
    r.hset(keys.service_pace("wan-chai", "A"),
           mapping={"date": "2026-11-27", "n": 0, "sum": 0, "n:2": 20, "sum:2": 20 * 120})
    # A001 and A002 go now; counter 2 takes A003 at 3.2 and A004 at 6.4 minutes.
    assert [estimate(day, n) for n in ("A003", "A004")] == [3, 6]
