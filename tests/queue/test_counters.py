"""Counters: states, calls in order, recall, no-show, transfer keeping the place, requeue."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
import redis
from conftest import HKIDS, MORNING, bearer
from service_path import Path
from starlette.testclient import TestClient

from queueserver.platform.clock import Clock, ms
from queueserver.store import keys

C = "/api/v1/centres/wan-chai"


@pytest.fixture
def issue(client: TestClient, tokens: dict[str, str], seed: Callable[..., Any],
          clock: Clock) -> Callable[..., str]:
    """Check a new booking in; returns its ticket number. Each issue is a second later."""
    count = 0

    def run(priority: bool = False) -> str:
        nonlocal count
        count += 1
        ref = f"REF{count:04d}"
        id_number = HKIDS[count % len(HKIDS)]
        seed(ref, id_number=id_number)
        client.post(C + "/photo-receipts", json={"barcode": f"PH{count}"},
                    headers=bearer(tokens["photo"]))
        clock.set(MORNING + dt.timedelta(seconds=count))
        answer = client.post(C + "/tickets", headers=bearer(tokens["desk"]), json={
            "booking_ref": ref, "id_number": id_number, "photo_barcode": f"PH{count}",
            "priority": priority})
        assert answer.status_code == 201, answer.text
        return str(answer.json()["ticket"]["number"])

    return run


def act(client: TestClient, token: str, counter: int, action: str,
        body: dict[str, Any] | None = None) -> Any:
    return client.post(f"{C}/counters/{counter}/{action}", json=body or {},
                       headers=bearer(token))


def number(answer: Any) -> str | None:
    ticket = answer.json()["ticket"]
    return None if ticket is None else str(ticket["number"])


def test_call_takes_the_first_listed_service_with_a_waiting_ticket(
        client: TestClient, tokens: dict[str, str], issue: Callable[..., str]) -> None:
    sup = tokens["supervisor"]
    a1, a2 = issue(), issue()
    p1 = issue(priority=True)
    assert (a1, a2, p1) == ("A001", "A002", "P001")
    assert number(act(client, sup, 2, "call")) == "A001"   # counter 2 serves A, then P
    assert number(act(client, sup, 1, "call")) == "P001"   # counter 1 serves P first
    assert number(act(client, sup, 3, "call")) == "A002"
    nobody = act(client, sup, 3, "no-show")
    assert nobody.json()["ticket"]["status"] == "no_show"
    assert act(client, sup, 3, "call").json() == {"ticket": None}


def test_a_counter_calls_nobody_while_busy_or_paused(
        client: TestClient, tokens: dict[str, str], issue: Callable[..., str]) -> None:
    sup = tokens["supervisor"]
    issue(), issue()
    assert act(client, sup, 2, "pause").json()["error"]["code"] == "counter_closed"
    assert number(act(client, sup, 2, "call")) == "A001"     # call opens a closed counter
    busy = act(client, sup, 2, "call")
    assert (busy.status_code, busy.json()["error"]["code"]) == (409, "counter_busy")
    assert act(client, sup, 2, "close").json()["error"]["code"] == "counter_busy"
    assert act(client, sup, 2, "pause").status_code == 200    # may pause while serving
    act(client, sup, 2, "no-show")
    paused = act(client, sup, 2, "call")
    assert (paused.status_code, paused.json()["error"]["code"]) == (409, "counter_paused")
    assert act(client, sup, 2, "open").status_code == 200     # opening a paused one resumes
    assert number(act(client, sup, 2, "call")) == "A002"
    act(client, sup, 2, "no-show")
    assert act(client, sup, 2, "close").json() == {"ticket": None}
    board = client.get(C + "/board", headers=bearer(sup)).json()
    assert {"number": 2, "state": "closed"} in board["counters"]


def test_recall_and_no_show_need_a_called_ticket(
        client: TestClient, tokens: dict[str, str], issue: Callable[..., str],
        r: redis.Redis) -> None:
    sup = tokens["supervisor"]
    for action in ("recall", "no-show", "transfer"):
        answer = act(client, sup, 1, action, {"service": "P"})
        assert (answer.status_code, answer.json()["error"]["code"]) == (409, "no_current_ticket")
    issue()
    act(client, sup, 1, "call")
    recalled = act(client, sup, 1, "recall").json()["ticket"]
    assert recalled["recalls"] == 1
    last = r.xrevrange(keys.events("wan-chai"), count=1)[0][1]
    assert last["type"] == "ticket.recalled"
    assert "再次廣播，籌號 A001，請到 1 號櫃位" in last["data"]


def test_transfer_keeps_the_number_and_the_place(
        client: TestClient, tokens: dict[str, str], issue: Callable[..., str]) -> None:
    sup = tokens["supervisor"]
    a1, _, p2 = issue(), issue(priority=True), issue(priority=True)
    assert number(act(client, sup, 3, "call")) == a1          # counter 3 serves A only
    moved = act(client, sup, 3, "transfer", {"service": "P"}).json()["ticket"]
    assert (moved["number"], moved["service"], moved["status"]) == ("A001", "P", "waiting")
    # A001 was issued before P001 and P002: it keeps that place at the head of P's queue.
    assert moved["position"] == 0
    assert [number(act(client, sup, n, "call")) for n in (1, 2)] == ["A001", "P001"]
    bad = act(client, sup, 1, "transfer", {"service": "Z"})
    assert (bad.status_code, bad.json()["error"]["code"]) == (404, "not_found")
    assert p2 == "P002"


def test_a_requeued_no_show_goes_to_the_back(
        client: TestClient, tokens: dict[str, str], issue: Callable[..., str]) -> None:
    sup, desk = tokens["supervisor"], tokens["desk"]
    a1, a2, a3 = issue(), issue(), issue()
    act(client, sup, 3, "call")
    act(client, sup, 3, "no-show")
    not_yet = client.post(f"{C}/tickets/{a2}/requeue", headers=bearer(desk))
    assert not_yet.json()["error"]["code"] == "invalid_state"
    back = client.post(f"{C}/tickets/{a1}/requeue", headers=bearer(desk)).json()["ticket"]
    assert (back["status"], back["position"]) == ("waiting", 2)
    assert [number(act(client, sup, 3, a)) for a in ("call", "no-show", "call", "no-show",
                                                     "call")] == [a2, a2, a3, a3, a1]


def test_call_a_given_waiting_ticket(
        client: TestClient, tokens: dict[str, str], issue: Callable[..., str]) -> None:
    sup = tokens["supervisor"]
    issue(), issue()
    assert number(act(client, sup, 3, "call", {"ticket": "A002"})) == "A002"
    act(client, sup, 3, "no-show")
    gone = act(client, sup, 3, "call", {"ticket": "A002"})
    assert (gone.status_code, gone.json()["error"]["code"]) == (409, "ticket_not_waiting")
    missing = act(client, sup, 3, "call", {"ticket": "A077"})
    assert missing.status_code == 404


def test_position_and_estimate_follow_the_queue(
        client: TestClient, tokens: dict[str, str], issue: Callable[..., str],
        r: redis.Redis) -> None:
    sup = tokens["supervisor"]
    for _ in range(4):
        issue()
    ticket = client.get(f"{C}/tickets/A004", headers=bearer(sup)).json()["ticket"]
    # No counter open yet: no figure (the screens say so).
    assert (ticket["position"], ticket["estimated_wait_minutes"]) == (3, None)
    act(client, sup, 2, "open")
    act(client, sup, 3, "open")
    ticket = client.get(f"{C}/tickets/A004", headers=bearer(sup)).json()["ticket"]
    # Two open counters serve A: they take A001 and A002 at once, and A003 and A004 one
    # service (8 minutes) later. (The first model, 3 ahead x 8 / 2 counters, said 12.)
    assert ticket["estimated_wait_minutes"] == 8
    # The recent days measured 5 minutes a service, and today has measured nothing yet.
    r.hset(keys.service_pace("wan-chai", "A"), mapping={"prior": 300, "prior_n": 40})
    board = client.get(C + "/board", headers=bearer(sup)).json()
    assert board["waiting"] == {"A": 4, "P": 0}
    assert board["estimated_wait_minutes"]["A"] == 10         # a newcomer: two rounds of 5


def test_the_board_shows_calls_newest_first(
        client: TestClient, tokens: dict[str, str], issue: Callable[..., str]) -> None:
    sup = tokens["supervisor"]
    issue(), issue()
    act(client, sup, 2, "call")
    act(client, sup, 3, "call")
    board = client.get(C + "/board", headers=bearer(tokens["display"])).json()
    assert [c["ticket"] for c in board["recent_calls"]] == ["A002", "A001"]
    assert sorted((s["counter"], s["ticket"]) for s in board["now_serving"]) == [
        (2, "A001"), (3, "A002")]
    assert board["date"] == "2026-11-27" and board["centre"] == "wan-chai"
    assert board["last_event_id"].count("-") == 1


def test_a_counter_is_closed_at_the_start_of_each_day(
        client: TestClient, tokens: dict[str, str], clock: Clock) -> None:
    sup = tokens["supervisor"]
    act(client, sup, 1, "open")
    clock.set(MORNING + dt.timedelta(days=1))
    board = client.get(C + "/board", headers=bearer(sup)).json()
    assert all(c["state"] == "closed" for c in board["counters"])


def derived_open_counters(r: redis.Redis, day: str) -> dict[str, str]:
    """The day's open counters as each counter's own state gives them (counter_state): '' for
    a free one, else its ticket's number, service and when it was called, while the ticket
    keeps it busy."""
    out = {"kept": "1"}
    for n in (1, 2, 3):
        c: Any = r.hgetall(keys.counter("wan-chai", n))
        if c.get("date") == day and c.get("state") == "open":
            t: Any = r.hgetall(keys.ticket("wan-chai", day, c["ticket"])) if c.get("ticket") \
                else {}
            busy = t.get("status") in ("called", "accepted", "paid")
            out[str(n)] = f"{c['ticket']} {t['service']} {t['called_ms']}" if busy else ""
    return out


def test_the_day_s_open_counters_follow_every_change_of_a_counter(
        client: TestClient, tokens: dict[str, str], issue: Callable[..., str],
        r: redis.Redis, clock: Clock) -> None:
    """What the wait estimate reads in one step (keys.open_counters) is each counter's state,
    after every kind of change; and a day whose counters opened before it was kept (a store
    written by an earlier version) has it written whole at its first change."""
    sup, day = tokens["supervisor"], clock.now().date().isoformat()
    kept = keys.open_counters("wan-chai", day)
    for _ in range(4):
        issue()
    steps = [(1, "open"), (2, "open"), (3, "open"), (2, "call"), (1, "call"), (3, "pause"),
             (2, "no-show"), (3, "resume"), (1, "recall"), (2, "call"), (3, "close")]
    for n, action in steps:
        assert act(client, sup, n, action).status_code == 200, (n, action)
        assert r.hgetall(kept) == derived_open_counters(r, day), (n, action)
    assert set(r.hgetall(kept)) == {"kept", "1", "2"}   # 1 and 2 open, 3 closed
    assert 0 < r.ttl(kept) <= 2 * 86400
    # Kept no more (as before an upgrade): counters 1 and 2 are open and busy, 3 closed.
    r.delete(kept)
    assert act(client, sup, 3, "open").status_code == 200
    called = ms(clock.now())
    assert r.hgetall(kept) == derived_open_counters(r, day) == {
        "kept": "1", "1": f"A002 A {called}", "2": f"A003 A {called}", "3": ""}


def test_a_counter_stays_busy_in_the_open_counters_until_its_service_ends(
        client: TestClient, tokens: dict[str, str], seed: Callable[..., Any], r: redis.Redis,
        clock: Clock) -> None:
    """The open counters name the ticket a counter serves, its service and when it was called,
    so that an estimate reads no ticket: accepting, paying and voiding the payment keep that;
    every end of the service (the receipt, a decline, a transfer) frees the counter."""
    path, day = Path(client, tokens, seed), clock.now().date().isoformat()
    kept = keys.open_counters("wan-chai", day)
    sup = tokens["supervisor"]
    served = [path.check_in() for _ in range(3)]
    assert act(client, sup, 1, "open").status_code == 200
    first = path.call(1)
    busy = {"kept": "1", "1": f"{first} A {ms(clock.now())}"}
    assert r.hgetall(kept) == derived_open_counters(r, day) == busy
    clock.advance(180)
    steps = [("accept", lambda: path.accept(first)), ("pay", lambda: path.pay(first)),
             ("void", lambda: path.post(f"tickets/{first}/payment/void",
                                        {"reason": "typed cash, paid by card"}, sup)),
             ("pay again", lambda: path.pay(first))]
    for name, step in steps:
        assert step().status_code in (200, 201), name
        assert r.hgetall(kept) == derived_open_counters(r, day) == busy, name
    assert path.receipt(first).status_code in (200, 201)
    assert r.hgetall(kept) == derived_open_counters(r, day) == {"kept": "1", "1": ""}
    second = path.call(1)
    assert r.hgetall(kept)["1"] == f"{second} A {ms(clock.now())}"
    declined = path.post(f"tickets/{second}/decline", {"reason": "photo_rejected"}, sup)
    assert declined.status_code == 200, declined.text
    assert r.hgetall(kept) == derived_open_counters(r, day) == {"kept": "1", "1": ""}
    assert path.call(1) == served[2]
    assert act(client, sup, 1, "transfer", {"service": "P"}).status_code == 200
    assert r.hgetall(kept) == derived_open_counters(r, day) == {"kept": "1", "1": ""}
