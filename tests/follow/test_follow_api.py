"""The follow page's API in-process (real Redis, injected clock): tokens, the desk's follow URLs,
the state a phone sees, the limits, feedback and the phone number (CONTRACT §9)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
import redis
from conftest import DAY, MORNING, SECRET, TZ, bearer
from service_path import Path
from starlette.testclient import TestClient

from queueserver.follow import estimates
from queueserver.follow import tokens as follow_tokens
from queueserver.platform import config
from queueserver.platform.clock import Clock
from queueserver.platform.errors import MESSAGES
from queueserver.store import keys

C = "/api/v1/centres/wan-chai"
TOKEN_URL = re.compile(r"^http://testserver/t/([A-Za-z0-9_-]{32})$")


@pytest.fixture
def path(client: TestClient, tokens: dict[str, str], seed: Callable[..., Any]) -> Path:
    return Path(client, tokens, seed)


def token_of(ticket: dict[str, Any]) -> str:
    found = TOKEN_URL.match(ticket["follow_url"])
    assert found, ticket["follow_url"]
    return found.group(1)


def look_up(client: TestClient, tokens: dict[str, str], number: str) -> dict[str, Any]:
    answer = client.get(f"{C}/tickets/{number}", headers=bearer(tokens["desk"]))
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["ticket"])


def check_in(path: Path, ref: str, **extra: Any) -> Any:
    path.seed(ref)
    barcode = "PH" + ref
    path.post("photo-receipts", {"barcode": barcode}, path.tokens["photo"])
    return path.post("tickets", {"booking_ref": ref, "id_number": "A123456(3)",
                                 "photo_barcode": barcode, **extra}, path.tokens["desk"])


# --- tokens and the desk's follow URLs ---------------------------------------------------------

def test_every_desk_answer_carries_the_same_follow_url_all_day(
        path: Path, client: TestClient, tokens: dict[str, str], r: redis.Redis) -> None:
    issued = check_in(path, "MEP1")
    assert issued.status_code == 201
    ticket = issued.json()["ticket"]
    token = token_of(ticket)
    # At least 128 random bits, URL-safe: 32 base64url characters are 192 bits.
    assert len(token) * 6 >= 128
    assert look_up(client, tokens, ticket["number"])["follow_url"] == ticket["follow_url"]
    # Checked in again: the refusal's ticket carries it too.
    again = path.post("tickets", {"booking_ref": "MEP1", "id_number": "A123456(3)",
                                  "photo_barcode": "PHMEP1"}, tokens["desk"])
    assert again.status_code == 409
    assert again.json()["ticket"]["follow_url"] == ticket["follow_url"]
    # Called, transferred, called, no-show, requeued: the same number keeps the same token.
    assert path.call(1) == ticket["number"]
    assert path.post("counters/1/transfer", {"service": "P"}).status_code == 200
    assert path.call(1) == ticket["number"]
    assert path.post("counters/1/no-show").status_code == 200
    requeued = path.post(f"tickets/{ticket['number']}/requeue", token=tokens["desk"])
    assert requeued.status_code == 200
    assert requeued.json()["ticket"]["follow_url"] == ticket["follow_url"]
    # Counter actions answer clerks: no follow URL there.
    assert "follow_url" not in path.post("counters/1/call").json()["ticket"]
    assert client.get(f"/api/v1/follow/{token}").status_code == 200


def test_a_check_in_registers_its_follow_token_in_its_own_script(
        path: Path, client: TestClient, r: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    """On one Redis the token is made before the number is drawn and the check-in's script
    registers it: no second command. (On a cluster: tests/reliability/test_cluster.py.)"""
    def no_second_command(*args: Any) -> None:
        raise AssertionError("the check-in registered its follow token apart")

    monkeypatch.setattr(follow_tokens, "register", no_second_command)
    issued = check_in(path, "MEP1")
    assert issued.status_code == 201, issued.text
    ticket = issued.json()["ticket"]
    token = token_of(ticket)
    key = keys.follow_token(follow_tokens.token_hash(token))
    assert json.loads(r.get(key)) == {"centre": "wan-chai", "date": DAY.isoformat(),
                                      "ticket": ticket["number"]}
    midnight = dt.datetime.combine(DAY + dt.timedelta(days=1), dt.time(0), tzinfo=TZ)
    assert 0 < r.ttl(key) <= (midnight - MORNING).total_seconds()
    assert client.get(f"/api/v1/follow/{token}").json()["ticket"]["number"] == ticket["number"]


def test_an_idempotent_repeat_of_a_check_in_carries_the_follow_url(
        path: Path, tokens: dict[str, str]) -> None:
    path.seed("MEP1")
    path.post("photo-receipts", {"barcode": "PH1"}, tokens["photo"])
    body = {"booking_ref": "MEP1", "id_number": "A123456(3)", "photo_barcode": "PH1"}
    first = path.post("tickets", body, tokens["desk"], key="k-1")
    repeat = path.post("tickets", body, tokens["desk"], key="k-1")
    assert first.status_code == repeat.status_code == 201
    assert repeat.json()["ticket"]["follow_url"] == first.json()["ticket"]["follow_url"]
    assert token_of(first.json()["ticket"])


def everything(redis_url: str) -> bytes:
    """Every key and value of the database, as a dump of it would hold them."""
    raw = redis.Redis.from_url(redis_url)
    try:
        return b"\n".join(key + b" " + (raw.dump(key) or b"") for key in raw.scan_iter("*"))
    finally:
        raw.close()


def test_redis_holds_only_the_tokens_hash_and_nothing_about_anyone(
        path: Path, r: redis.Redis, redis_url: str) -> None:
    ticket = check_in(path, "MEP1").json()["ticket"]
    token = token_of(ticket)
    assert token.encode() not in everything(redis_url)
    record = r.get(keys.follow_token(follow_tokens.token_hash(token)))
    assert json.loads(record or "{}") == {"centre": "wan-chai", "date": DAY.isoformat(),
                                          "ticket": ticket["number"]}
    # It lives until the ticket's day ends, and no longer.
    left = (dt.datetime.combine(DAY + dt.timedelta(days=1), dt.time(0), tzinfo=TZ)
            - MORNING).total_seconds()
    assert left - 60 <= r.ttl(keys.follow_token(follow_tokens.token_hash(token))) <= left


def test_public_url_starts_every_follow_url(r: redis.Redis, redis_url: str,
                                            cfg: config.Config, clock: Clock,
                                            tokens: dict[str, str],
                                            seed: Callable[..., Any]) -> None:
    import msgspec

    from queueserver.web.app import create_app

    public = msgspec.structs.replace(cfg, public_url="https://queue.example.gov.hk")
    with TestClient(create_app(public, redis_url, SECRET, clock)) as client:
        ticket = check_in(Path(client, tokens, seed), "MEP1").json()["ticket"]
    assert re.fullmatch(r"https://queue\.example\.gov\.hk/t/[A-Za-z0-9_-]{32}",
                        ticket["follow_url"])


# --- what a phone sees -------------------------------------------------------------------------

def test_the_follow_answer_is_the_contracts_and_no_more(
        path: Path, client: TestClient) -> None:
    first = check_in(path, "MEP1").json()["ticket"]
    second = check_in(path, "MEP2").json()["ticket"]
    answer = client.get(f"/api/v1/follow/{token_of(second)}")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    assert answer.json() == {
        "ticket": {"number": second["number"], "service": "A", "status": "waiting",
                   "position": 1, "estimated_wait_minutes": second["estimated_wait_minutes"],
                   "counter": None, "called_at": None, "recalls": 0},
        "centre": {"id": "wan-chai", "name_en": "Wan Chai Service Centre",
                   "name_zh": "灣仔證件服務中心"},
        "notices": [], "issuing": True}
    assert path.call(2) == first["number"]
    assert path.call(3) == second["number"]
    called = client.get(f"/api/v1/follow/{token_of(second)}").json()["ticket"]
    assert (called["status"], called["counter"], called["position"]) == ("called", 3, 0)
    assert called["called_at"] == MORNING.isoformat()


def test_the_socket_sends_the_whole_state_first_then_each_change(
        path: Path, client: TestClient) -> None:
    tickets = [check_in(path, f"MEP{i}").json()["ticket"] for i in range(3)]
    last = tickets[2]
    with client.websocket_connect(f"/ws/follow/{token_of(last)}") as ws:
        first = ws.receive_json()
        assert first["type"] == "follow"
        assert first["data"] == client.get(f"/api/v1/follow/{token_of(last)}").json()
        seen = [first["data"]["ticket"]["position"]]
        for counter in (1, 2):
            path.call(counter)
            while True:
                message = ws.receive_json()
                assert message["type"] == "follow"
                assert message["data"]["ticket"]["number"] == last["number"]
                if message["data"]["ticket"]["position"] != seen[-1]:
                    seen.append(message["data"]["ticket"]["position"])
                    break
        assert seen == [2, 1, 0]
        assert path.call(3) == last["number"]
        while (message := ws.receive_json())["data"]["ticket"]["status"] != "called":
            pass
        assert (message["data"]["ticket"]["counter"], message["data"]["ticket"]["position"]) \
            == (3, 0)


# --- the limits ----------------------------------------------------------------------------------

def test_unknown_malformed_and_other_day_tokens_are_one_and_the_same_404(
        path: Path, client: TestClient, r: redis.Redis) -> None:
    ticket = check_in(path, "MEP1").json()["ticket"]
    token = token_of(ticket)
    # Yesterday's ticket: its record names another day (as a token from yesterday still would
    # until it expires).
    yesterday = follow_tokens.make(SECRET, "wan-chai", "2026-11-26", "00" * 16)
    r.set(keys.follow_token(follow_tokens.token_hash(yesterday)),
          json.dumps({"centre": "wan-chai", "date": "2026-11-26", "ticket": "A001"}), ex=600)
    unknown = token[:-1] + ("A" if token[-1] != "A" else "B")
    answers = [client.get(f"/api/v1/follow/{t}")
               for t in (unknown, "not-a-token", yesterday, "x" * 500)]
    assert {a.status_code for a in answers} == {404}
    assert len({a.text for a in answers}) == 1
    pages = [client.get(f"/t/{t}") for t in (unknown, "not-a-token", yesterday)]
    assert {p.status_code for p in pages} == {404}
    assert len({p.text for p in pages}) == 1
    assert client.get(f"/api/v1/follow/{token}").status_code == 200


def test_ten_unknown_tokens_from_one_address_shut_every_follow_route(
        path: Path, client: TestClient, r: redis.Redis) -> None:
    token = token_of(check_in(path, "MEP1").json()["ticket"])
    for i in range(10):
        assert client.get(f"/api/v1/follow/{'y' * 31}{i}").status_code == 404
    refused = [client.get(f"/api/v1/follow/{token}"), client.get(f"/t/{token}"),
               client.post(f"/api/v1/follow/{token}/feedback", json={"rating": 5})]
    assert [a.status_code for a in refused] == [429, 429, 429]
    assert all(int(a.headers["retry-after"]) > 0 for a in refused)
    assert refused[0].json()["error"]["code"] == "rate_limited"
    with pytest.raises(Exception) as denied:  # noqa: PT011 - the handshake's denial
        with client.websocket_connect(f"/ws/follow/{token}"):
            pass
    assert "429" in repr(denied.value) or getattr(denied.value, "status_code", None) == 429
    # They age out: another address is not touched, and the window is 15 minutes.
    key = keys.token_failures_address("testclient")
    assert 14 * 60 < r.ttl(key) <= 15 * 60


# --- feedback ----------------------------------------------------------------------------------

def test_feedback_once_after_the_visit_into_stats_and_csv(
        path: Path, client: TestClient, tokens: dict[str, str]) -> None:
    token = token_of(check_in(path, "MEP1").json()["ticket"])
    other = token_of(check_in(path, "MEP2").json()["ticket"])
    url = f"/api/v1/follow/{token}/feedback"
    too_early = client.post(url, json={"rating": 5})
    assert (too_early.status_code, too_early.json()["error"]["code"]) == (409, "invalid_state")
    number = path.call(2)
    sup = tokens["supervisor"]
    assert path.accept(number, token=sup).status_code == 200
    assert path.pay(number, token=sup).status_code == 200
    assert path.receipt(number, token=sup).status_code == 201
    for bad in ({"rating": 0}, {"rating": 6}, {"rating": "5"}, {"rating": 4.5},
                {"rating": 5, "comment": "x" * 501}, {}):
        answer = client.post(url, json=bad)
        assert (answer.status_code, answer.json()["error"]["code"]) == (400, "bad_request"), bad
    given = client.post(url, json={"rating": 4, "comment": "  Quick and kind.  "})
    assert given.status_code == 201, given.text
    assert given.json()["feedback"]["comment"] == "Quick and kind."
    again = client.post(url, json={"rating": 1})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "already_given")
    # The other ticket is declined at counter 1 and rated without a comment.
    other_number = client.get(f"/api/v1/follow/{other}").json()["ticket"]["number"]
    assert path.call(1) == other_number
    declined = path.post(f"tickets/{other_number}/decline", {"reason": "not_eligible"},
                         token=sup)
    assert declined.status_code == 200, declined.text
    assert client.post(f"/api/v1/follow/{other}/feedback", json={"rating": 2}).status_code == 201

    stats = client.get(f"{C}/stats", headers=bearer(sup)).json()
    assert stats["feedback"] == {
        "count": 2, "mean": 3.0, "by_rating": {"1": 0, "2": 1, "3": 0, "4": 1, "5": 0},
        "by_counter": {"1": {"count": 1, "mean": 2.0}, "2": {"count": 1, "mean": 4.0}}}
    rows = list(csv.DictReader(io.StringIO(client.get(f"{C}/stats.csv",
                                                      headers=bearer(sup)).text)))
    day = rows[0]
    assert (day["feedback_count"], day["feedback_mean"]) == ("2", "3.0")
    by = {(row["scope"], row["key"]): row for row in rows}
    assert by[("counter", "2")]["feedback_mean"] == "4.0"
    assert [by[("rating", str(n))]["feedback_count"] for n in range(1, 6)] == \
        ["0", "1", "0", "1", "0"]
    listed = client.get(f"{C}/feedback?date={DAY.isoformat()}", headers=bearer(sup)).json()
    assert [(f["counter"], f["rating"], f["comment"]) for f in listed["feedback"]] == \
        [(2, 4, "Quick and kind."), (1, 2, None)]
    assert all(f["at"] == MORNING.isoformat() for f in listed["feedback"])
    for role in ("desk", "clerk", "display"):
        assert client.get(f"{C}/feedback", headers=bearer(tokens[role])).status_code == 403
    report = client.get("/admin/wan-chai/report", headers=bearer(sup))
    assert "Quick and kind." in report.text and 'id="feedback-counters"' in report.text


# --- the phone number ----------------------------------------------------------------------------

@pytest.mark.parametrize("phone", ["91234567", "+852 9123 4567", "+0852912345", "+85",
                                   "852-91234567", "+85291234567890123", "tel:+85291234567"])
def test_a_phone_number_not_in_e164_is_refused_and_changes_nothing(
        path: Path, r: redis.Redis, phone: str) -> None:
    refused = check_in(path, "MEP1", phone=phone)
    assert (refused.status_code, refused.json()["error"]["code"]) == (422, "invalid_phone")
    # The same words whatever was typed: the number is never repeated back.
    assert refused.json()["error"]["message_en"] == MESSAGES["invalid_phone"][1]
    assert r.xlen(keys.events("wan-chai")) == 0
    assert not list(r.scan_iter("*phones*"))
    assert r.hget(keys.booking("wan-chai", "MEP1"), "ticket") in (None, "")


def test_the_phone_number_lives_apart_until_the_day_ends_and_nowhere_else(
        path: Path, r: redis.Redis, redis_url: str) -> None:
    ticket = check_in(path, "MEP1", phone="+85291234567").json()["ticket"]
    key = keys.phones("wan-chai", DAY.isoformat())
    assert json.loads(r.hget(key, ticket["number"]) or "{}")["phone"] == "+85291234567"
    left = (dt.datetime.combine(DAY + dt.timedelta(days=1), dt.time(0), tzinfo=TZ)
            - MORNING).total_seconds()
    assert left - 60 <= r.ttl(key) <= left
    r.delete(key)
    assert b"91234567" not in everything(redis_url)


def test_estimates_of_every_place_match_each_tickets_own(
        path: Path, client: TestClient, tokens: dict[str, str], r: redis.Redis,
        clock: Clock, cfg: config.Config, redis_url: str) -> None:
    """The fan-out's one play of the calling order (in Python, from what Redis gives it) gives
    each place what the ticket's own estimate (in Lua) says: with every counter closed; with
    two services sharing counters, one busy, one paused, one counter's own pace measured."""
    import asyncio

    import redis.asyncio

    from queueserver.queue.tickets import Centres

    sup = tokens["supervisor"]

    async def inputs() -> dict[str, Any]:
        # As the fan-out reads them: one script with the centre's context and keys.
        conn = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
        try:
            centres = Centres(cfg, conn, clock, SECRET)
            centre = centres.centre("wan-chai")
            got: dict[str, Any] = await centres.run_script(
                "follow_state", centre, "", None, services=["A", "P"], full=False)
            return got
        finally:
            await conn.aclose()

    def compare() -> int:
        table = estimates.play(asyncio.run(inputs()))
        compared = 0
        for service in ("A", "P"):
            for number in r.zrange(keys.queue("wan-chai", DAY.isoformat(), service), 0, -1):
                own = look_up(client, tokens, number)
                places = table[service]
                figure = None if places is None else places[own["position"]]
                assert figure == own["estimated_wait_minutes"], number
                compared += 1
        return compared

    for i in range(11):
        check_in(path, f"MEP{i}", **({"priority": True} if i % 3 == 0 else {}))
    assert compare() == 11                       # nobody open: no figure
    served = path.call(2)
    assert path.accept(served, token=sup).status_code == 200
    assert path.pay(served, token=sup).status_code == 200
    assert path.receipt(served, token=sup).status_code == 201  # counter 2's pace, A's mean
    path.call(1)                                 # busy
    assert path.post("counters/3/open", token=sup).status_code == 200
    assert compare() == 9
    assert path.post("counters/2/pause", token=sup).status_code == 200
    assert compare() == 9
    # A queue no open counter serves: P, with counter 1 closed after its ticket ends.
    assert path.post("counters/1/no-show", token=sup).status_code == 200
    assert path.post("counters/1/close", token=sup).status_code == 200
    assert compare() == 9


def test_erasing_a_persons_data_takes_their_phone_number_too(
        path: Path, client: TestClient, tokens: dict[str, str], r: redis.Redis) -> None:
    ticket = check_in(path, "MEP1", phone="+85291234567").json()["ticket"]
    key = keys.phones("wan-chai", DAY.isoformat())
    assert r.hexists(key, ticket["number"])
    erased = client.post(f"{C}/personal-data/erase", json={"booking_ref": "MEP1"},
                         headers=bearer(tokens["supervisor"]))
    assert erased.json() == {"erased": 1}
    assert not r.hexists(key, ticket["number"])
    actions = client.get(f"{C}/audit", headers=bearer(tokens["supervisor"])).json()["actions"]
    (entry,) = [a for a in actions if a["type"] == "personal_data.erase"]
    assert "phone" in entry["data"]["fields"]


def test_the_three_kinds_of_bad_token_cost_the_same_work(
        path: Path, r: redis.Redis, redis_url: str) -> None:
    """Unknown, of another day and malformed: the same hash and the same one read, so their
    answers cannot be told apart by their time either."""
    import asyncio

    import redis.asyncio

    ticket = check_in(path, "MEP1").json()["ticket"]
    token = token_of(ticket)
    yesterday = follow_tokens.make(SECRET, "wan-chai", "2026-11-26", "11" * 16)
    r.set(keys.follow_token(follow_tokens.token_hash(yesterday)),
          json.dumps({"centre": "wan-chai", "date": "2026-11-26", "ticket": "A001"}), ex=600)

    class Counting:
        def __init__(self, inner: redis.asyncio.Redis) -> None:
            self.inner = inner
            self.calls: list[str] = []

        def __getattr__(self, name: str) -> Any:
            self.calls.append(name)
            return getattr(self.inner, name)

    async def work(candidate: str) -> tuple[list[str], bool]:
        inner = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
        counting = Counting(inner)
        try:
            found = await follow_tokens.find(counting, candidate,  # type: ignore[arg-type]
                                             DAY.isoformat())
        finally:
            await inner.aclose()
        return counting.calls, found is not None

    unknown = "u" * 32
    answers = [asyncio.run(work(t)) for t in (unknown, yesterday, "bad token!", token)]
    assert [found for _, found in answers] == [False, False, False, True]
    assert answers[0][0] == answers[1][0] == answers[2][0] == answers[3][0] == ["get"]


def test_unknown_booking_tokens_count_against_the_follow_routes_too(
        path: Path, client: TestClient) -> None:
    """CONTRACT §11, "Limits": one count an address for the /book and follow routes."""
    token = token_of(check_in(path, "MEP1").json()["ticket"])
    for i in range(10):
        assert client.get(f"/api/v1/book/{'b' * 42}{i}").status_code == 404
    refused = client.get(f"/api/v1/follow/{token}")
    assert (refused.status_code, refused.json()["error"]["code"]) == (429, "rate_limited")
