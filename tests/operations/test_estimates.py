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
    # Counter 2 took 2 minutes a case today; blended with the service's 8 minutes as if seen
    # ten times: (20 x 120 + 10 x 480) / 30 = 240 s. Counter 3 has no record: 8 minutes.
    r.hset(keys.service_pace("wan-chai", "A"),
           mapping={"date": "2026-11-27", "n": 0, "sum": 0, "n:2": 20, "sum:2": 20 * 120})
    # A001 and A002 go now; counter 2 takes A003 at 4 minutes, and A004 at 8 (counter 3 is
    # free then too).
    assert [estimate(day, n) for n in ("A003", "A004")] == [4, 8]


def test_one_fast_service_barely_moves_the_estimate(day: Day) -> None:
    """Issue 20's sequence: six waiting with every counter closed were told 48 minutes, with
    one counter open 56, and after one 30-second service 2 minutes (a factor of 28)."""
    for _ in range(6):
        day.issue()

    def figures() -> tuple[int | None, int | None]:
        return board(day)["A"], day.client.get(
            f"{C}/tickets/A006", headers=bearer(day.tokens["supervisor"])
        ).json()["ticket"]["estimated_wait_minutes"]

    # Every counter closed: no figure at all (the screens say no counter is open).
    assert figures() == (None, None)
    day.post("counters/3/open")
    # One counter at 8 minutes a service: a newcomer behind six waits 48, A006 behind five 40.
    assert figures() == (48, 40)
    assert day.call(3) == "A001"
    day.clock.advance(30)
    day.done("A001")
    # The 30 seconds count as a third of the prior (160 s), and the prior as eight services:
    # (8 x 480 + 160) / 9 = 444 s a service; counter 3's own pace weighs that as ten services
    # against its one: (10 x 444 + 160) / 11 = 418 s. A newcomer behind five: 35 minutes;
    # A006, now behind four: 28.
    newcomer, a006 = figures()
    assert (newcomer, a006) == (35, 28)
    # A place's worth of waiting moved by 13% (8.0 to 7.0 minutes), not by a factor of 28.
    assert newcomer is not None and 0.85 * 48 / 6 <= newcomer / 5 <= 48 / 6


def test_the_recent_days_are_the_prior(day: Day, r: redis.Redis) -> None:
    # Yesterday ended ten services in 5 minutes each, and today has ended none yet.
    r.hset(keys.service_pace("wan-chai", "A"),
           mapping={"date": "2026-11-26", "n": 10, "sum": 3000})
    day.post("counters/3/open")
    day.issue()
    # The config's 8 minutes as eight services, then yesterday's ten: 380 s a service.
    assert board(day)["A"] == 6
    assert day.call(3) == "A001"
    day.clock.advance(380)
    day.done("A001")
    pace = r.hgetall(keys.service_pace("wan-chai", "A"))
    # Today's first service folds yesterday into the prior, worth eighteen services.
    assert (pace["date"], pace["prior"], pace["prior_n"], pace["n"], pace["sum"]) == (
        "2026-11-27", "380", "18", "1", "380")


def test_positions_stay_right_after_transfers_and_requeues(day: Day, r: redis.Redis) -> None:
    day.post("counters/3/open")
    for _ in range(4):
        day.issue()
    day.issue(priority=True)                    # P001
    assert day.call(3) == "A001"
    day.transfer(3, "P")                        # keeps its place: ahead of P001 in P
    assert day.call(3) == "A002"
    day.no_show(3)
    day.requeue("A002")                         # to the back of A
    expected = {"A": ["A003", "A004", "A002"], "P": ["A001", "P001"]}
    for service, numbers in expected.items():
        assert r.zrange(keys.queue("wan-chai", "2026-11-27", service), 0, -1) == numbers
        figures = []
        for position, number in enumerate(numbers):
            ticket = day.client.get(f"{C}/tickets/{number}",
                                    headers=bearer(day.tokens["supervisor"])).json()["ticket"]
            assert (ticket["service"], ticket["position"]) == (service, position)
            figures.append(ticket["estimated_wait_minutes"])
        # Only counter 3 is open, and it serves A alone: A's figures rise with the place, and
        # P, which no open counter serves, has none.
        assert figures == ([0, 8, 16] if service == "A" else [None, None])
