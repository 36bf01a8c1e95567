"""On a single Redis a booking is one script, the request's own checks in it, and a listing its
scripts sent together, those checks in the first (service.book_at_once and slots_at_once: the
opening rush's path); on a Redis Cluster they are taken step by step (test_cluster.py). Here:
one round trip each, the contract's order of checks kept, and the cases the script hands back
to Python (a move from another centre, an applicant who may book inside the notice)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
import redis
from conftest import bearer
from starlette.testclient import TestClient

from queueserver.appointments import applications, service
from queueserver.auth import ratelimit
from queueserver.platform.clock import Clock
from queueserver.store import keys

from .conftest import MONDAY, book, free

People = Callable[..., dict[str, str]]
ADDRESS = "testclient"  # the address Starlette's TestClient requests come from


def watch_round_trips(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The web process's Redis round trips from now on: each command or pipeline sent, by
    redis-py or on the scripts' shared connection (store/multiplexed.py)."""
    r: Any = client.app_state["redis"]
    sent: list[str] = []
    command, pipeline = r.execute_command, r.pipeline
    shared: Any = client.app_state["appointments"].scripts.shared
    assert shared is not None, "one Redis: the scripts share one connection"
    shared_command = shared.execute

    async def shared_counted(*args: Any) -> Any:
        sent.append(str(args[0]))
        return await shared_command(*args)

    async def counted(*args: Any, **options: Any) -> Any:
        sent.append(str(args[0]))
        return await command(*args, **options)

    def piped(*args: Any, **options: Any) -> Any:
        sent.append("pipeline")
        return pipeline(*args, **options)

    monkeypatch.setattr(r, "execute_command", counted)
    monkeypatch.setattr(r, "pipeline", piped)
    monkeypatch.setattr(shared, "execute", shared_counted)
    return sent


def listing_scripts(slots: list[dict[str, Any]]) -> int:
    """The scripts a listing of these slots' days takes (every working day has free places
    here): DAYS_A_CALL days a script."""
    return -(-len({s["date"] for s in slots}) // service.DAYS_A_CALL)


def test_a_booking_and_a_31_day_listing_are_one_round_trip_each(
        client: TestClient, people: People, monkeypatch: pytest.MonkeyPatch) -> None:
    t = people("APP1", "APP2")
    assert free(client, t["APP2"])["09:00"] == 6      # the scripts are loaded
    assert book(client, t["APP2"], start="14:00").status_code == 201
    sent = watch_round_trips(client, monkeypatch)
    listed = client.get(f"/api/v1/book/{t['APP1']}/slots",
                        params={"centre": "wan-chai", "from": MONDAY, "to": "2026-12-30"})
    assert listed.status_code == 200 and {"date": MONDAY, "start": "14:00", "end": "14:30",
                                          "free": 5} in listed.json()["slots"]
    # 31 days: scripts of at most DAYS_A_CALL days, sent together.
    scripts = listing_scripts(listed.json()["slots"])
    assert scripts > 1 and sent == ["EVALSHA"] * scripts
    assert book(client, t["APP1"]).status_code == 201
    assert sent == ["EVALSHA"] * (scripts + 1)
    # A refusal too: the slot full is one round trip.
    assert book(client, t["APP2"], start="14:00").status_code == 201  # the same slot: kept
    assert sent == ["EVALSHA"] * (scripts + 2)


@pytest.mark.parametrize("days_a_call", [1, 4, 11])
def test_a_listing_is_the_same_however_many_days_a_call_reads(
        client: TestClient, people: People, monkeypatch: pytest.MonkeyPatch,
        days_a_call: int) -> None:
    t = people("APP1", "APP2", "APP3", "APP4")

    def listing() -> Any:
        answer = client.get(f"/api/v1/book/{t['APP1']}/slots",
                            params={"centre": "wan-chai", "from": MONDAY, "to": "2026-12-30"})
        assert answer.status_code == 200
        return answer.json()["slots"]

    # A place taken on the first day, one in the middle and one on the last, so that a day
    # answered in another's place shows.
    days = sorted({s["date"] for s in listing()})
    taken = [(days[0], "14:00"), (days[len(days) // 2], "09:30"), (days[-1], "14:30")]
    for who, (date, start) in zip(("APP2", "APP3", "APP4"), taken, strict=True):
        assert book(client, t[who], date=date, start=start).status_code == 201
    whole = listing()
    for date, start in taken:
        assert next(s["free"] for s in whole if (s["date"], s["start"]) == (date, start)) == 5
    monkeypatch.setattr(service, "DAYS_A_CALL", days_a_call)
    sent = watch_round_trips(client, monkeypatch)
    assert listing() == whole
    assert sent == ["EVALSHA"] * -(-len(days) // days_a_call)


def test_a_listing_s_scripts_wait_for_their_answers_together(
        client: TestClient, people: People, monkeypatch: pytest.MonkeyPatch) -> None:
    t = people("APP1")
    shared: Any = client.app_state["appointments"].scripts.shared
    execute = shared.execute
    waiting = most = 0

    async def counted(*args: Any) -> Any:
        nonlocal waiting, most
        waiting += 1
        most = max(most, waiting)
        try:
            return await execute(*args)
        finally:
            waiting -= 1

    monkeypatch.setattr(shared, "execute", counted)
    listed = client.get(f"/api/v1/book/{t['APP1']}/slots",
                        params={"centre": "wan-chai", "from": MONDAY, "to": "2026-12-30"})
    assert listed.status_code == 200 and listed.json()["slots"]
    assert most == listing_scripts(listed.json()["slots"]) > 1


def test_the_one_script_checks_in_the_contract_s_order(
        client: TestClient, people: People, r: redis.Redis) -> None:
    t = people("APP1")
    malformed = book(client, "not-a-token")
    assert (malformed.status_code, malformed.json()["error"]["code"]) == (404, "not_found")
    unknown = client.get(f"/api/v1/book/{'x' * 43}/slots", params={"centre": "wan-chai"})
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "not_found")
    # Each counted against the address, the window set by the first.
    assert r.get(keys.token_failures_address(ADDRESS)) == "2"
    assert 0 < r.ttl(keys.token_failures_address(ADDRESS)) <= 15 * 60
    # A bad token's slot refusal is never told: 404 first.
    assert book(client, "y" * 43, start="08:00").status_code == 404
    for _ in range(7):
        assert book(client, "z" * 43).status_code == 404
    # Ten: 429 on every /book route, before the body's shape and the token.
    for answer in (book(client, t["APP1"]),
                   client.get(f"/api/v1/book/{t['APP1']}/slots", params={"centre": "wan-chai"}),
                   client.post(f"/api/v1/book/{t['APP1']}/appointment", content=b"{")):
        assert answer.status_code == 429 and int(answer.headers["retry-after"]) > 0
    assert r.get(keys.token_failures_address(ADDRESS)) == "10"
    assert r.hget(keys.booking_index(), "APP1") is None


def test_a_token_past_its_allowance_is_429_and_books_nothing(
        client: TestClient, people: People, r: redis.Redis) -> None:
    t = people("APP1")
    bucket = keys.application_rate(applications.token_hash(t["APP1"]))
    r.hset(bucket, "tokens", -10 * ratelimit.RATE_PER_S)
    for answer in (book(client, t["APP1"]),
                   client.get(f"/api/v1/book/{t['APP1']}/slots", params={"centre": "wan-chai"})):
        assert answer.status_code == 429 and int(answer.headers["retry-after"]) >= 10
    assert r.hget(keys.booking_index(), "APP1") is None
    assert r.get(keys.token_failures_address(ADDRESS)) is None   # a good token: no failure


def test_a_slot_refusal_waits_for_a_good_token_and_sets_no_index(
        client: TestClient, people: People, r: redis.Redis) -> None:
    t = people("APP1")
    for start, code in (("08:00", "slot_unavailable"), ("09:15", "slot_unavailable")):
        refused = book(client, t["APP1"], start=start)
        assert (refused.status_code, refused.json()["error"]["code"]) == (422, code)
    inside = book(client, t["APP1"], date="2026-11-27", start="14:00")  # today, the Friday
    assert inside.json()["error"]["code"] == "too_soon"
    assert r.hget(keys.booking_index(), "APP1") is None


def test_a_move_from_another_centre_goes_on_step_by_step(
        client: TestClient, people: People, r: redis.Redis) -> None:
    t = people("APP1", "APP2")
    assert book(client, t["APP1"]).status_code == 201
    moved = book(client, t["APP1"], centre="kowloon-bay")
    assert moved.status_code == 201, moved.text
    assert moved.json()["appointment"]["centre"] == "kowloon-bay"
    assert moved.json()["changes_left"] == 2
    assert r.hget(keys.booking_index(), "APP1") == "kowloon-bay"
    assert free(client, t["APP2"])["09:00"] == 6          # wan-chai's place freed
    assert r.hget(keys.booking("wan-chai", "APP1"), "status") == "moved"


def test_one_who_may_book_inside_the_notice_lists_those_slots(
        client: TestClient, people: People, tokens: dict[str, str], clock: Clock) -> None:
    t = people("APP1", "APP2")
    assert book(client, t["APP1"]).status_code == 201
    blocked = client.post("/api/v1/centres/wan-chai/appointments/blocks",
                          headers=bearer(tokens["supervisor"]),
                          json={"date": MONDAY, "start": "09:00", "end": "10:00",
                                "reason_en": "Typhoon", "reason_zh": "颱風", "cancel": True})
    assert blocked.status_code == 201 and blocked.json()["cancelled"] == 1
    clock.set(dt.datetime(2026, 11, 29, 18, 0, tzinfo=clock.tz))  # Monday is inside the notice
    assert free(client, t["APP2"]) == {}
    assert set(free(client, t["APP1"])) == {"14:00", "14:30"}
