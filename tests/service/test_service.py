"""Counter service: acceptance or decline, the fee and its void, the receipt, the takings."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
import redis
from conftest import MORNING, bearer
from service_path import C, Path
from starlette.testclient import TestClient

from queueserver.auth import credentials as auth
from queueserver.platform.clock import Clock
from queueserver.rules import numbering
from queueserver.store import keys


@pytest.fixture
def path(client: TestClient, tokens: dict[str, str], seed: Callable[..., Any]) -> Path:
    return Path(client, tokens, seed)


def events(r: redis.Redis) -> list[tuple[str, dict[str, Any]]]:
    return [(e[1]["type"], json.loads(e[1]["data"])) for e in r.xrange(keys.events("wan-chai"))]


def service_seconds(r: redis.Redis, number: str) -> int:
    """The one service time learnt (the day's count and sum of its service's pace, in all and at
    its counter), which must be the ticket's end less its call."""
    ticket = r.hgetall(keys.ticket("wan-chai", "2026-11-27", number))
    pace = r.hgetall(keys.service_pace("wan-chai", ticket["service"]))
    took = str((int(ticket["ended_ms"]) - int(ticket["called_ms"])) // 1000)
    counter = ticket["counter"]
    assert (pace["date"], pace["n"], pace["sum"], pace[f"n:{counter}"], pace[f"sum:{counter}"]) \
        == ("2026-11-27", "1", took, "1", took)
    return int(took)


def code(answer: Any) -> tuple[int, str]:
    return answer.status_code, answer.json()["error"]["code"]


def test_the_whole_path_from_check_in_to_collection(
        client: TestClient, tokens: dict[str, str], path: Path, r: redis.Redis,
        clock: Clock) -> None:
    number = path.check_in("renewal", id_number="B987654(0)")
    clerk = tokens["clerk"]                      # bound to counter 1
    assert path.call(1, token=clerk) == number
    clock.set(MORNING + dt.timedelta(minutes=1))
    accepted = path.accept(number)
    assert accepted.status_code == 200
    acceptance_no = accepted.json()["acceptance_no"]
    assert accepted.json()["ticket"]["status"] == "accepted"
    assert accepted.json()["ticket"]["acceptance_no"] == acceptance_no
    paid = path.pay(number, 320, "octopus")
    assert paid.status_code == 200
    payment = paid.json()["payment"]
    assert (payment["method"], payment["amount_hkd"], payment["counter"]) == ("octopus", 320, 1)
    assert paid.json()["ticket"]["status"] == "paid"
    clock.set(MORNING + dt.timedelta(minutes=7, seconds=30))
    receipt = path.receipt(number)
    assert receipt.status_code == 201
    body = receipt.json()
    receipt_no = body["receipt_no"]
    assert numbering.well_formed(receipt_no) and receipt_no.startswith("WC")
    # Friday 27 November + 10 working days: Friday 11 December.
    assert {k: body[k] for k in ("collection_date", "centre", "surrender_old_permit")} == {
        "collection_date": "2026-12-11", "centre": "wan-chai", "surrender_old_permit": True}
    assert body["ticket"]["status"] == "done" and body["ticket"]["receipt_no"] == receipt_no
    assert r.hget(keys.receipt_index(), receipt_no) == "wan-chai"

    # The counter is free, and the 7.5 minutes since the call teach the estimates.
    assert r.hget(keys.counter("wan-chai", 1), "ticket") == ""
    assert service_seconds(r, number) == 450   # the test's clock moves only when it is set
    seen = events(r)
    assert [t for t, _ in seen][-4:] == ["ticket.called", "ticket.accepted", "ticket.paid",
                                         "ticket.done"]
    clerk_id = auth.lookup_token(r, clerk).id  # type: ignore[union-attr]
    for _kind, data in seen[-3:]:
        assert data["by"] == clerk_id and data["ticket"] == number and data["service"] == "A"
    for kind, data in seen:
        text = json.dumps(data)
        for personal in (receipt_no, acceptance_no, "B987654", "MEP0001", "SMITH"):
            assert personal not in text, (kind, personal)

    # The kiosk: not before the date, then once, with the old permit.
    kiosk = tokens["kiosk"]
    ask = {"receipt_no": receipt_no, "id_number": "b987654(0)"}
    early = path.post("/api/v1/collection/eligibility", ask, kiosk).json()
    assert (early["eligible"], early["reason"]) == (False, "not_yet")
    clock.set(dt.datetime(2026, 12, 11, 10, 0, tzinfo=MORNING.tzinfo))
    ready = path.post("/api/v1/collection/eligibility", ask, kiosk).json()
    assert ready == {"eligible": True, "reason": "ready", "centre": "wan-chai",
                     "collection_date": "2026-12-11", "surrender_old_permit": True}
    collected = path.post(f"/api/v1/collection/{receipt_no}/collect",
                          {"id_number": "B987654(0)", "old_permit_surrendered": True}, kiosk)
    assert collected.status_code == 200
    at = dt.datetime.fromisoformat(collected.json()["collected_at"])
    assert at == clock.now() == dt.datetime(2026, 12, 11, 10, 0, tzinfo=MORNING.tzinfo)
    assert events(r)[-1][0] == "collection.collected"
    again = path.post("/api/v1/collection/eligibility", ask, kiosk).json()
    assert (again["eligible"], again["reason"]) == (False, "collected")


def test_steps_out_of_order_are_refused_and_change_nothing(
        client: TestClient, tokens: dict[str, str], path: Path, r: redis.Redis) -> None:
    sup = tokens["supervisor"]
    waiting = path.check_in()
    for step in (path.accept, path.pay, path.receipt):
        assert code(step(waiting, token=sup)) == (409, "invalid_state")
    assert path.call(2) == waiting
    assert code(path.pay(waiting, token=sup)) == (409, "invalid_state")
    assert code(path.receipt(waiting, token=sup)) == (409, "invalid_state")
    assert path.accept(waiting, token=sup).status_code == 200
    assert code(path.accept(waiting, token=sup)) == (409, "invalid_state")
    decline = path.post(f"tickets/{waiting}/decline", {"reason": "other", "note": "late"}, sup)
    assert code(decline) == (409, "invalid_state")
    assert code(path.receipt(waiting, token=sup)) == (409, "invalid_state")
    refused = path.accept(waiting, token=sup).json()
    assert refused["ticket"]["status"] == "accepted"           # the refusal shows the state
    assert code(path.accept("A404", token=sup)) == (404, "not_found")
    # While a ticket is unfinished its counter calls nobody and cannot close.
    assert code(path.post("counters/2/call", token=sup)) == (409, "counter_busy")
    assert code(path.post("counters/2/close", token=sup)) == (409, "counter_busy")
    types = [t for t, _ in events(r)]
    assert types.count("ticket.accepted") == 1 and "ticket.paid" not in types


def test_a_ticket_served_at_another_counter_is_403(
        client: TestClient, tokens: dict[str, str], path: Path, r: redis.Redis) -> None:
    number = path.check_in()
    assert path.call(2) == number
    at_one = path.accept(number)                               # the clerk of counter 1
    assert code(at_one) == (403, "forbidden")
    assert at_one.json()["error"]["message_en"] == "This ticket is served at another counter."
    assert at_one.json()["counter"] == 2
    sup = tokens["supervisor"]
    assert code(path.accept(number, token=sup, body={"counter": 1})) == (403, "forbidden")
    assert code(path.post(f"tickets/{number}/acceptance", {"counter": 2})) == (403, "forbidden")
    assert code(path.accept(number, token=sup, body={"counter": 9})) == (404, "not_found")
    assert r.hget(keys.ticket("wan-chai", "2026-11-27", number), "status") == "called"
    free_clerk, _ = auth.create_token(r, auth.Role.CLERK, "wan-chai")
    assert path.accept(number, token=free_clerk, body={"counter": 2}).status_code == 200
    assert code(path.pay(number)) == (403, "forbidden")
    assert path.pay(number, token=sup).status_code == 200


def test_a_decline_ends_the_ticket_and_frees_the_counter(
        client: TestClient, tokens: dict[str, str], path: Path, r: redis.Redis,
        clock: Clock) -> None:
    first, second = path.check_in(), path.check_in()
    assert path.call(1) == first
    url = f"tickets/{first}/decline"
    assert code(path.post(url, {"reason": "other"})) == (400, "bad_request")
    assert code(path.post(url, {"reason": "lost_interest"})) == (400, "bad_request")
    clock.advance(3 * 60)                       # three minutes at the counter
    answer = path.post(url, {"reason": "photo_rejected", "note": "shadow on the face"})
    assert answer.status_code == 200
    assert answer.json()["ticket"]["status"] == "declined"
    ticket = r.hgetall(keys.ticket("wan-chai", "2026-11-27", first))
    assert (ticket["decline_reason"], ticket["decline_note"]) == ("photo_rejected",
                                                                  "shadow on the face")
    assert service_seconds(r, first) == 180   # the test's clock moves only when it is set
    kind, data = events(r)[-1]
    assert kind == "ticket.declined" and data["reason"] == "photo_rejected"
    assert "shadow" not in json.dumps(data)
    assert path.call(1) == second                              # the counter is free
    assert code(path.post(url, {"reason": "not_eligible"})) == (409, "invalid_state")
    # A note is optional for the named reasons.
    plain = path.post(f"tickets/{second}/decline", {"reason": "documents_missing"})
    assert plain.status_code == 200, plain.text
    assert r.hget(keys.ticket("wan-chai", "2026-11-27", second), "decline_note") == ""


def test_the_amount_must_be_the_fee_for_the_type(
        client: TestClient, tokens: dict[str, str], path: Path, r: redis.Redis) -> None:
    sup = tokens["supervisor"]
    first, lost = path.check_in("first"), path.check_in("reissue_lost")
    for number, counter in ((first, 1), (lost, 2)):
        assert path.call(counter) == number
        assert path.accept(number, token=sup).status_code == 200
    wrong = path.pay(first, 480, token=sup)
    assert code(wrong) == (422, "wrong_amount")
    assert wrong.json()["fee_hkd"] == 320
    assert code(path.pay(lost, 320, token=sup)) == (422, "wrong_amount")
    for bad in ({"method": "cash", "amount_hkd": "320"}, {"method": "cash", "amount_hkd": 320.5},
                {"method": "cheque", "amount_hkd": 320}, {"method": "cash"}):
        assert code(path.post(f"tickets/{first}/payment", bad, sup)) == (400, "bad_request")
    assert not r.exists(keys.payments("wan-chai", "2026-11-27"))
    assert path.pay(lost, 480, "eps", token=sup).status_code == 200
    assert path.pay(first, 320, "card", token=sup).status_code == 200


def test_double_submits_record_one_payment_and_one_receipt(
        client: TestClient, tokens: dict[str, str], path: Path, r: redis.Redis) -> None:
    sup = tokens["supervisor"]
    number = path.check_in()
    path.call(1)
    path.accept(number, token=sup)
    keyed = [path.pay(number, token=sup, key="pay-1") for _ in range(3)]
    assert {a.status_code for a in keyed} == {200} and len({a.text for a in keyed}) == 1
    assert code(path.pay(number, token=sup)) == (409, "invalid_state")
    receipts = [path.receipt(number, token=sup, key="receipt-1") for _ in range(3)]
    assert {a.status_code for a in receipts} == {201} and len({a.text for a in receipts}) == 1
    assert code(path.receipt(number, token=sup)) == (409, "invalid_state")
    types = [t for t, _ in events(r)]
    assert types.count("ticket.paid") == 1 and types.count("ticket.done") == 1
    assert len(r.hgetall(keys.payments("wan-chai", "2026-11-27"))) == 1
    assert r.hlen(keys.receipt_index()) == 1
    assert r.zcard(keys.receipts_uncollected("wan-chai")) == 1
    assert r.hget(keys.service_pace("wan-chai", "A"), "n") == "1"


def takings(client: TestClient, token: str, day: str | None = None) -> Any:
    params = {"date": day} if day else {}
    return client.get(C + "/takings", params=params, headers=bearer(token))


def test_a_void_and_the_takings_after_it(
        client: TestClient, tokens: dict[str, str], path: Path, r: redis.Redis) -> None:
    sup = tokens["supervisor"]
    first, lost = path.check_in("first"), path.check_in("reissue_lost")
    paid = []
    for number, counter, amount, method in ((first, 1, 320, "cash"),
                                            (lost, 2, 480, "octopus")):
        assert path.call(counter) == number
        path.accept(number, token=sup)
        paid.append(path.pay(number, amount, method, token=sup).json()["payment"])

    void_url = f"tickets/{first}/payment/void"
    assert code(path.post(void_url, {"reason": "typed cash, paid by card"})) == (403, "forbidden")
    assert code(path.post(void_url, {}, sup)) == (400, "bad_request")
    voided = path.post(void_url, {"reason": "typed cash, paid by card"}, sup)
    assert voided.status_code == 200
    assert voided.json()["ticket"]["status"] == "accepted"
    assert voided.json()["payment"]["voided"] is True
    assert code(path.post(void_url, {"reason": "again"}, sup)) == (409, "invalid_state")
    kind, data = events(r)[-1]
    assert kind == "ticket.payment_voided" and "typed cash" not in json.dumps(data)
    repaid = path.pay(first, 320, "card", token=sup).json()["payment"]
    assert repaid["id"] != paid[0]["id"]

    day = takings(client, sup).json()
    kept = [repaid, paid[1]]
    assert day["total_hkd"] == sum(p["amount_hkd"] for p in kept) == 800
    assert day["by_counter"] == {"1": 320, "2": 480, "3": 0}
    assert day["by_method"] == {"cash": 0, "eps": 0, "octopus": 480, "card": 320}
    assert (day["payments"], day["voided"]) == (2, 1)
    assert day["voids"][0]["void_reason"] == "typed cash, paid by card"
    assert day["voids"][0]["voided_by"] == auth.lookup_token(r, sup).id  # type: ignore[union-attr]
    assert sum(day["by_counter"].values()) == sum(day["by_method"].values()) == day["total_hkd"]
    # A receipt after the void still fixes the payment that stands.
    assert path.receipt(first, token=sup).status_code == 201
    assert takings(client, sup, "2026-11-27").json()["total_hkd"] == 800

    other = takings(client, sup, "2026-11-26").json()
    assert (other["total_hkd"], other["payments"], other["voided"]) == (0, 0, 0)
    assert code(takings(client, sup, "27/11/2026")) == (400, "bad_request")
    for role in ("clerk", "desk", "kiosk", "display"):
        assert takings(client, tokens[role]).status_code == 403, role
    assert takings(client, tokens["admin"]).status_code == 200


T = C + "/tickets/A001"
CASH = {"method": "cash", "amount_hkd": 320}
# route -> the roles that may use it, written out from CONTRACT §4 (not from the code).
ROUTES: list[tuple[str, str, dict[str, Any] | None, set[str]]] = [
    *(("POST", T + step, body, {"admin", "supervisor", "clerk"}) for step, body in (
        ("/acceptance", None), ("/decline", {"reason": "not_eligible"}), ("/payment", CASH),
        ("/receipt", None))),
    ("POST", T + "/payment/void", {"reason": "x"}, {"admin", "supervisor"}),
    ("GET", C + "/takings", None, {"admin", "supervisor"}),
    ("POST", "/api/v1/collection/eligibility", {"receipt_no": "WC", "id_number": "A"},
     {"admin", "supervisor", "kiosk"}),
    ("POST", "/api/v1/collection/WC00000000X/collect", {"id_number": "A"},
     {"admin", "supervisor", "kiosk"}),
    ("GET", C + "/collection/eligible", None, {"admin", "supervisor", "kiosk"}),
    ("GET", C + "/collection/key", None, {"kiosk"}),
    ("GET", C + "/collection/flags", None, {"admin", "supervisor"}),
    ("GET", "/api/v1/receipts/WC00000000X/slip", None, {"admin", "supervisor", "desk", "clerk"}),
]


@pytest.mark.parametrize(("method", "url", "body", "allowed"), ROUTES,
                         ids=[f"{m} {u.removeprefix(C)}" for m, u, _, _ in ROUTES])
def test_every_role_on_every_route(client: TestClient, tokens: dict[str, str], method: str,
                                   url: str, body: dict[str, Any] | None,
                                   allowed: set[str]) -> None:
    for role, token in tokens.items():
        answer = client.request(method, url, json=body, headers=bearer(token))
        if role in allowed:
            assert answer.status_code not in (401, 403), (role, answer.text)
        else:
            assert (answer.status_code, answer.json()["error"]["code"]) == (403, "forbidden"), role
    assert client.request(method, url, json=body).status_code == 401
