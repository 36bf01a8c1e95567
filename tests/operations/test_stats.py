"""Statistics of a scripted day, every figure worked out by hand from the script's times."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import pytest
from conftest import bearer
from operations.scripted_day import C, Day, play_the_scripted_day
from starlette.testclient import TestClient

from queueserver.operations import stats
from queueserver.platform.clock import Clock


@pytest.fixture
def day(client: TestClient, tokens: dict[str, str], seed: Callable[..., Any],
        clock: Clock) -> Day:
    return Day(client, tokens, seed, clock)


def nothing() -> dict[str, None]:
    return {"mean": None, "median": None, "p90": None, "max": None}


def test_the_scripted_day_by_hand(day: Day) -> None:
    play_the_scripted_day(day)
    s = day.stats()
    # Waits (first call less issue): P001 09:10→09:12 = 120 s; A001 09:00→09:21 = 1260;
    # A002 09:05→09:25 = 1200 (its second call, after the requeue, does not count);
    # A003 09:32→10:10 = 2280. Sorted 120, 1200, 1260, 2280: mean 4860 / 4 = 1215, median
    # (1200 + 1260) / 2 = 1230, p90 the 4th of 4 (nearest rank), max 2280; one in four is over
    # the 30-minute target.
    # Service (end less last call): P001 09:12→09:20 = 480; A001 declined 09:21→09:31 = 600;
    # A003 10:14→10:24 = 600 (the call after its transfer). A002 is still being served.
    assert (s["date"], s["arrivals"], s["served"], s["no_shows"], s["declined"]) == (
        "2026-11-27", 4, 2, 0, 1)
    assert s["waiting_time_s"] == {"mean": 1215.0, "median": 1230, "p90": 2280, "max": 2280}
    assert s["service_time_s"] == {"mean": 560.0, "median": 600, "p90": 600, "max": 600}
    assert (s["wait_target_minutes"], s["waited_over_target"]) == (30, 0.25)

    a, p = s["by_service"]["A"], s["by_service"]["P"]
    # A: issued A001, A002, A003 (waits 1260, 1200, 2280); ended there: A001 declined.
    assert (a["arrivals"], a["served"], a["no_shows"], a["declined"]) == (3, 0, 0, 1)
    assert a["waiting_time_s"] == {"mean": 1580.0, "median": 1260, "p90": 2280, "max": 2280}
    assert a["service_time_s"] == {"mean": 600.0, "median": 600, "p90": 600, "max": 600}
    assert a["waited_over_target"] == 0.333
    # P: issued P001 (120); ended there: P001 and A003 (transferred), services 480 and 600.
    assert (p["arrivals"], p["served"], p["no_shows"], p["declined"]) == (1, 2, 0, 0)
    assert p["waiting_time_s"] == {"mean": 120.0, "median": 120, "p90": 120, "max": 120}
    assert p["service_time_s"] == {"mean": 540.0, "median": 540, "p90": 600, "max": 600}

    c1, c2, c3 = (s["by_counter"][n] for n in ("1", "2", "3"))
    # Counter 1 called P001, A001, A003; its first calls ended the waits of P001 and A001;
    # it ended P001 (done), A001 (declined), A003 (done).
    assert (c1["calls"], c1["served"], c1["declined"], c1["no_shows"]) == (3, 2, 1, 0)
    assert c1["waiting_time_s"] == {"mean": 690.0, "median": 690, "p90": 1260, "max": 1260}
    assert c1["service_time_s"] == {"mean": 560.0, "median": 600, "p90": 600, "max": 600}
    # Counter 2 called A002 twice (no-show, requeue), ended nothing yet; counter 3 called A003.
    assert (c2["calls"], c2["served"], c2["service_time_s"]) == (2, 0, nothing())
    assert c2["waiting_time_s"]["max"] == 1200
    assert (c3["calls"], c3["waiting_time_s"]["max"]) == (1, 2280)

    assert s["by_hour"] == [{"hour": 9, "arrivals": 4, "served": 1, "no_shows": 0},
                            {"hour": 10, "arrivals": 0, "served": 1, "no_shows": 0}]
    # Waiting counts: 1, 2, 3 by 09:10, then 2 (09:12); 1 (09:21), 0 (09:25); 1 (09:32),
    # 2 (09:40); 1 (10:10), 2 (10:12, the transfer), 1 (10:14); 0 (10:25).
    assert s["queue_length"] == [
        {"at": "09:00", "waiting": 3}, {"at": "09:15", "waiting": 2},
        {"at": "09:30", "waiting": 2}, {"at": "09:45", "waiting": 2},
        {"at": "10:00", "waiting": 2}, {"at": "10:15", "waiting": 1}]
    # 120 s in 0-5 min; 1200 and 1260 in 20-25; 2280 in 35-40.
    counts = {b["from_min"]: b["count"] for b in s["waiting_histogram"]}
    assert (counts[0], counts[20], counts[35], sum(counts.values())) == (1, 2, 1, 4)


def test_the_same_figures_as_csv(day: Day, client: TestClient, tokens: dict[str, str]) -> None:
    play_the_scripted_day(day)
    answer = client.get(f"{C}/stats.csv?date=2026-11-27", headers=bearer(tokens["admin"]))
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [(r["scope"], r["key"]) for r in rows] == [
        ("day", "2026-11-27"), ("service", "A"), ("service", "P"), ("counter", "1"),
        ("counter", "2"), ("counter", "3"), ("hour", "09"), ("hour", "10")]
    whole = rows[0]
    assert (whole["arrivals"], whole["served"], whole["declined"]) == ("4", "2", "1")
    assert (whole["waiting_mean_s"], whole["waiting_median_s"], whole["service_p90_s"],
            whole["waited_over_target"]) == ("1215.0", "1230", "600", "0.25")
    assert rows[4]["service_mean_s"] == ""   # counter 2 has ended no service yet


def test_statistics_are_for_supervisors_and_check_their_date(
        client: TestClient, tokens: dict[str, str]) -> None:
    for role in ("desk", "clerk", "display", "kiosk", "photo"):
        answer = client.get(f"{C}/stats", headers=bearer(tokens[role]))
        assert (answer.status_code, answer.json()["error"]["code"]) == (403, "forbidden"), role
    assert client.get(f"{C}/stats").status_code == 401
    bad = client.get(f"{C}/stats?date=27/11/2026", headers=bearer(tokens["supervisor"]))
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "bad_request")
    unknown = client.get("/api/v1/centres/nowhere/stats", headers=bearer(tokens["admin"]))
    assert unknown.status_code == 404
    other = client.get("/api/v1/centres/kowloon-bay/stats", headers=bearer(tokens["supervisor"]))
    assert other.status_code == 403


def test_a_quiet_day_has_no_figures_to_average(client: TestClient,
                                               tokens: dict[str, str]) -> None:
    s = client.get(f"{C}/stats", headers=bearer(tokens["supervisor"])).json()
    assert (s["date"], s["arrivals"], s["served"]) == ("2026-11-27", 0, 0)
    assert s["waiting_time_s"] == nothing() and s["waited_over_target"] is None
    assert (s["by_service"], s["by_counter"], s["by_hour"], s["queue_length"]) == ({}, {}, [], [])


def test_summary_uses_nearest_rank_percentiles() -> None:
    assert stats.summary([5]) == {"mean": 5.0, "median": 5, "p90": 5, "max": 5}
    values = list(range(1, 21))  # 1..20: p90 is the 18th value
    assert stats.summary(values) == {"mean": 10.5, "median": 10.5, "p90": 18, "max": 20}
