"""The follow page against real `queueserver serve` processes and real Redis (CONTRACT §9): a
person follows their ticket over `/ws/follow`, a token from yesterday is 404, no token reaches a
board, an event or a log line, and 2,000 phones follow one centre while calls are made."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from typing import Any

import httpx
import pytest
import redis
from conftest import (
    HKIDS,
    MORNING,
    Server,
    make_booking,
    server_env,
    start_server,
    store,
)
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from queueserver.auth import credentials as auth
from queueserver.store import keys
from queueserver.tools.bench.wire import Phone, Tally, open_phone

C = "/api/v1/centres/wan-chai"
pytestmark = pytest.mark.e2e


@pytest.fixture
def sup(r: redis.Redis) -> str:
    return auth.create_token(r, auth.Role.SUPERVISOR, "wan-chai")[0]


def post(server: Server, token: str, path: str, body: dict[str, Any] | None = None,
         status: int | None = None) -> Any:
    answer = httpx.post(server.url + (path if path.startswith("/api") else C + path),
                        json=body or {}, headers={"Authorization": f"Bearer {token}"},
                        timeout=30)
    if status is not None:
        assert answer.status_code == status, answer.text
    else:
        assert answer.status_code < 300, answer.text
    return answer.json()


def check_in_all(server: Server, r: redis.Redis, token: str, count: int,
                 day: dt.date | None = None, **extra: Any) -> list[dict[str, Any]]:
    """`count` bookings checked in at the desk, in order: their TICKETs."""
    date = (day or MORNING.date()).isoformat()
    store(r, [make_booking(f"MEP{i:05d}", date=date, id_number=HKIDS[0])
              for i in range(count)])
    tickets = []
    with httpx.Client(base_url=server.url, timeout=30,
                      headers={"Authorization": f"Bearer {token}"}) as client:
        for i in range(count):
            assert client.post(C + "/photo-receipts", json={"barcode": f"PH{i}"}).status_code \
                == 201
            answer = client.post(C + "/tickets", json={
                "booking_ref": f"MEP{i:05d}", "id_number": HKIDS[0], "photo_barcode": f"PH{i}",
                "override_window": True, **extra})
            assert answer.status_code == 201, answer.text
            tickets.append(answer.json()["ticket"])
    return tickets


def token_of(ticket: dict[str, Any]) -> str:
    return str(ticket["follow_url"]).rsplit("/", 1)[1]


def follow_url(server: Server, token: str) -> str:
    return server.url.replace("http://", "ws://") + f"/ws/follow/{token}"


def recv(ws: ClientConnection, timeout: float = 15) -> dict[str, Any]:
    message = dict(json.loads(ws.recv(timeout=timeout)))
    # Nothing else is ever sent on a follow socket (CONTRACT §9).
    assert set(message) == {"type", "data"} and message["type"] == "follow", message
    return message["data"]


def until(ws: ClientConnection, wanted: Any, number: str) -> dict[str, Any]:
    """Messages until one whose ticket satisfies `wanted`; each is this phone's own ticket."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        data = recv(ws, timeout=max(0.1, deadline - time.monotonic()))
        assert data["ticket"]["number"] == number
        if wanted(data["ticket"]):
            return data
    raise AssertionError("the change never reached the phone")


def test_a_person_follows_their_ticket_to_the_counter_and_gives_feedback_once(
        server: Server, r: redis.Redis, sup: str) -> None:
    tickets = check_in_all(server, r, sup, 4)
    mine = tickets[3]
    token = token_of(mine)
    with connect(follow_url(server, token)) as ws:
        first = recv(ws)
        assert first == httpx.get(f"{server.url}/api/v1/follow/{token}").json()
        assert (first["ticket"]["number"], first["ticket"]["position"]) == (mine["number"], 3)
        positions = [3]
        for counter in (1, 2, 3):
            post(server, sup, f"/counters/{counter}/call")
            data = until(ws, lambda t: t["position"] != positions[-1], mine["number"])
            positions.append(data["ticket"]["position"])
        assert positions == [3, 2, 1, 0]
        # Too early for feedback: still waiting.
        early = httpx.post(f"{server.url}/api/v1/follow/{token}/feedback", json={"rating": 5})
        assert (early.status_code, early.json()["error"]["code"]) == (409, "invalid_state")
        post(server, sup, "/counters/2/no-show")
        post(server, sup, "/counters/2/call")
        called = until(ws, lambda t: t["status"] == "called", mine["number"])["ticket"]
        assert (called["counter"], called["position"], called["recalls"]) == (2, 0, 0)
        assert called["called_at"] is not None
        post(server, sup, "/counters/2/recall")
        assert until(ws, lambda t: t["recalls"] == 1, mine["number"])["ticket"]["counter"] == 2
        number = mine["number"]
        post(server, sup, f"/tickets/{number}/acceptance")
        post(server, sup, f"/tickets/{number}/payment", {"method": "cash", "amount_hkd": 320})
        post(server, sup, f"/tickets/{number}/receipt")
        assert until(ws, lambda t: t["status"] == "done", number)["ticket"]["counter"] == 2
    url = f"{server.url}/api/v1/follow/{token}/feedback"
    given = httpx.post(url, json={"rating": 5, "comment": "Clear and quick."})
    assert given.status_code == 201, given.text
    again = httpx.post(url, json={"rating": 5})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "already_given")


def test_the_halls_notices_and_a_closure_reach_the_phone_within_a_second(
        server: Server, r: redis.Redis, sup: str) -> None:
    """CONTRACT §9 with §10: a notice posted, issuing closed and reopened, a notice removed —
    each is on the phone within a second of the supervisor's request."""
    mine = check_in_all(server, r, sup, 2)[1]
    with connect(follow_url(server, token_of(mine))) as ws:
        first = recv(ws)
        assert (first["notices"], first["issuing"]) == ([], True)

        def changed(act: Any, wanted: Any) -> tuple[dict[str, Any], float]:
            started = time.monotonic()
            act()
            while True:
                data = recv(ws, timeout=5)
                assert data["ticket"]["number"] == mine["number"]
                if wanted(data):
                    return data, time.monotonic() - started

        posted, took = changed(
            lambda: post(server, sup, "/notices", {"text_en": "Counter 3 is closed for lunch.",
                                                   "text_zh": "3 號櫃位午膳暫停。"}, status=201),
            lambda d: d["notices"])
        assert took < 1.0, took
        (notice,) = posted["notices"]
        assert (notice["text_en"], notice["text_zh"]) == ("Counter 3 is closed for lunch.",
                                                          "3 號櫃位午膳暫停。")
        closed, took = changed(
            lambda: post(server, sup, "/issuing", {"open": False, "text_en": "Typhoon signal "
                         "No. 8: no more numbers today.", "text_zh": "八號風球：今天停止派籌。"}),
            lambda d: not d["issuing"])
        assert took < 1.0, took
        assert len(closed["notices"]) == 2
        # Everyone already waiting is still served: the ticket is as it was.
        assert closed["ticket"]["status"] == "waiting"
        _, took = changed(lambda: post(server, sup, "/issuing", {"open": True}),
                          lambda d: d["issuing"] and len(d["notices"]) == 1)
        assert took < 1.0, took

        def remove() -> None:
            gone = httpx.delete(f"{server.url}{C}/notices/{notice['id']}", timeout=10,
                                headers={"Authorization": f"Bearer {sup}"})
            assert gone.status_code == 204

        _, took = changed(remove, lambda d: d["notices"] == [])
        assert took < 1.0, took
    assert httpx.get(f"{server.url}/api/v1/follow/{token_of(mine)}").json()["notices"] == []


def test_a_token_from_yesterday_is_404(r: redis.Redis, redis_url: str, sup: str) -> None:
    yesterday = MORNING - dt.timedelta(days=1)
    then = start_server(server_env(redis_url, QUEUESERVER_TEST_NOW=yesterday.isoformat()))
    try:
        ticket = check_in_all(then, r, sup, 1, day=yesterday.date())[0]
        token = token_of(ticket)
        assert httpx.get(f"{then.url}/api/v1/follow/{token}").status_code == 200
    finally:
        then.stop()
    now = start_server(server_env(redis_url))
    try:
        answer = httpx.get(f"{now.url}/api/v1/follow/{token}")
        unknown = httpx.get(f"{now.url}/api/v1/follow/{'Q' * 32}")
        assert answer.status_code == unknown.status_code == 404
        assert answer.json() == unknown.json()
        assert httpx.get(f"{now.url}/t/{token}").status_code == 404
        with pytest.raises(InvalidStatus) as denied:
            connect(follow_url(now, token)).close()
        assert denied.value.response.status_code == 404
    finally:
        now.stop()


def test_no_follow_token_reaches_a_board_an_event_or_a_log_line(
        server: Server, r: redis.Redis, sup: str) -> None:
    tickets = check_in_all(server, r, sup, 3, phone="+85291234567")
    followed = [token_of(t) for t in tickets]
    display = auth.create_token(r, auth.Role.DISPLAY, "wan-chai")[0]
    for token in followed:
        assert httpx.get(f"{server.url}/t/{token}").status_code == 200
        assert httpx.get(f"{server.url}/api/v1/follow/{token}").status_code == 200
    with connect(follow_url(server, followed[0])) as ws:
        recv(ws)
        post(server, sup, "/counters/1/call")
        until(ws, lambda t: t["status"] == "called", tickets[0]["number"])
    # A hall display's live socket and its board see the same calls, never a token.
    with connect(server.url.replace("http://", "ws://")
                 + f"/ws/centres/wan-chai/events?token={display}") as hall:
        board = json.loads(hall.recv(timeout=10))
        post(server, sup, "/counters/2/call")
        event = hall.recv(timeout=10)
    answered = httpx.get(f"{server.url}{C}/board",
                         headers={"Authorization": f"Bearer {display}"}).text
    stream = json.dumps(r.xrange(keys.events("wan-chai")), ensure_ascii=False)
    server.stop()  # every line written
    log = server.output()
    for token in followed:
        for where, text in (("board", json.dumps(board) + answered), ("event", event + stream),
                            ("log", log)):
            assert token not in text, f"a follow token in the {where}"
    assert "91234567" not in log + stream
    # The log did carry the follow socket's path, masked: the filter was at work.
    assert "/ws/follow/***" in log


# --- 2,000 phones ------------------------------------------------------------------------------

PHONES = 2000
CALLS = 9
CONNECT_BATCH = 50


def test_two_thousand_phones_each_get_exactly_their_own_updates_in_order(
        server: Server, r: redis.Redis, sup: str) -> None:
    # The admin credential has no rate limit: 4,000 requests at the desk in seconds.
    admin = auth.create_token(r, auth.Role.ADMIN, None)[0]
    tickets = _check_in_many(server, r, admin, PHONES)
    numbers = [t["number"] for t in tickets]
    host, port = "127.0.0.1", int(server.url.rsplit(":", 1)[1])

    async def run() -> list[Phone]:
        tally = Tally()
        phones: list[Phone] = []
        for start in range(0, PHONES, CONNECT_BATCH):
            phones += await asyncio.gather(*(
                open_phone(host, port, f"/ws/follow/{token_of(t)}", tally)
                for t in tickets[start:start + CONNECT_BATCH]))
        async with httpx.AsyncClient(base_url=server.url, timeout=30, headers={
                "Authorization": f"Bearer {sup}"}) as clerk:
            for k in range(CALLS):
                counter = k % 3 + 1
                if k >= 3:
                    assert (await clerk.post(f"{C}/counters/{counter}/no-show")).status_code \
                        == 200
                called = await clerk.post(f"{C}/counters/{counter}/call")
                assert called.json()["ticket"]["number"] == numbers[k]
                # Every phone has this call's state before the next call is made.
                await _settled(phones, k + 1)
        for phone in phones:
            phone.close()
        return phones

    phones = asyncio.run(asyncio.wait_for(run(), 240))
    for i, (phone, number) in enumerate(zip(phones, numbers, strict=True)):
        states = [m["data"]["ticket"] for _, m in phone.messages]
        assert all(m["type"] == "follow" for _, m in phone.messages)
        assert {s["number"] for s in states} == {number}, "another ticket's update"
        # Each message says something new: nothing is sent twice.
        said = [json.dumps(m, sort_keys=True) for _, m in phone.messages]
        assert all(a != b for a, b in zip(said, said[1:], strict=False))
        steps = [(s["status"], s["position"]) for s in states]
        steps = [s for j, s in enumerate(steps) if j == 0 or s != steps[j - 1]]
        if i < CALLS:
            expected = [("waiting", p) for p in range(i, -1, -1)] + [("called", 0)]
            if i < CALLS - 3:
                expected.append(("no_show", 0))
        else:
            expected = [("waiting", p) for p in range(i, i - CALLS - 1, -1)]
        assert steps == expected, (number, steps)


def _check_in_many(server: Server, r: redis.Redis, token: str,
                   count: int) -> list[dict[str, Any]]:
    store(r, [make_booking(f"MEP{i:05d}", id_number=HKIDS[0]) for i in range(count)])

    async def run() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=server.url, timeout=60, headers={
                "Authorization": f"Bearer {token}"}) as client:
            async def one(i: int) -> None:
                assert (await client.post(C + "/photo-receipts",
                                          json={"barcode": f"PH{i}"})).status_code == 201
            for start in range(0, count, 100):
                await asyncio.gather(*(one(i) for i in range(start, min(count, start + 100))))
            out = []
            for i in range(count):  # one after another: numbers in booking order
                answer = await client.post(C + "/tickets", json={
                    "booking_ref": f"MEP{i:05d}", "id_number": HKIDS[0],
                    "photo_barcode": f"PH{i}", "override_window": True})
                assert answer.status_code == 201, answer.text
                out.append(answer.json()["ticket"])
            return out
    return asyncio.run(run())


async def _settled(phones: list[Phone], calls: int) -> None:
    """Until every phone's newest state reflects `calls` calls (bounded)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        behind = [i for i, p in enumerate(phones) if not _current(i, p.ticket(), calls)]
        if not behind:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{len(behind)} phones never got call {calls}")


def _current(i: int, ticket: dict[str, Any], calls: int) -> bool:
    if i < calls:
        return ticket["status"] != "waiting"
    return ticket["status"] == "waiting" and ticket["position"] == i - calls
