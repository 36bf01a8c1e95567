"""Notices and closures in-process (CONTRACT §10): the routes, who may use them, what they
refuse, the board, expiry by `until` (the injected clock moved, no sleeps), exactly one removal
however many sweep, and a closure that refuses new numbers while the waiting are still served."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
from conftest import MORNING, TZ, bearer
from starlette.testclient import TestClient

from queueserver.notices import expiry
from queueserver.notices.readymade import READY_MADE
from queueserver.operations import stats
from queueserver.platform import config as config_mod
from queueserver.platform.clock import Clock
from queueserver.store import keys
from queueserver.store.lua import Scripts

C = "/api/v1/centres/wan-chai"
NOTICES = C + "/notices"
EN = "Counter 3 is closed for lunch."
ZH = "3 號櫃位午膳暫停服務。"


def events(r: redis.Redis, kind: str | None = None) -> list[dict[str, Any]]:
    out = []
    for event_id, fields in r.xrange(keys.events("wan-chai")):
        if kind is None or fields["type"] == kind:
            out.append({"id": event_id, "type": fields["type"],
                        "data": json.loads(fields["data"])})
    return out


def post(client: TestClient, token: str, **body: Any) -> Any:
    return client.post(NOTICES, json={"text_en": EN, "text_zh": ZH, **body},
                       headers=bearer(token))


def test_a_notice_is_posted_listed_on_the_board_and_removed(
        client: TestClient, tokens: dict[str, str], r: redis.Redis) -> None:
    first = post(client, tokens["supervisor"])
    assert first.status_code == 201, first.text
    notice = first.json()["notice"]
    assert notice == {"id": notice["id"], "text_en": EN, "text_zh": ZH,
                      "created_at": MORNING.isoformat(), "until": None}
    second = post(client, tokens["admin"], text_en="System slow", text_zh="系統緩慢")
    assert second.status_code == 201
    listed = client.get(NOTICES, headers=bearer(tokens["display"])).json()["notices"]
    assert [n["id"] for n in listed] == [notice["id"], second.json()["notice"]["id"]]
    board = client.get(C + "/board", headers=bearer(tokens["display"])).json()
    assert board["notices"] == listed
    assert (board["issuing"], board["closure"]) == (True, None)
    (posted, _) = events(r, "notice.posted")
    assert posted["data"] == {**notice, "by": posted["data"]["by"]}
    assert "announcement" not in posted["data"]

    gone = client.delete(f"{NOTICES}/{notice['id']}", headers=bearer(tokens["supervisor"]))
    assert gone.status_code == 204 and gone.content == b""
    (removed,) = events(r, "notice.removed")
    assert removed["data"]["id"] == notice["id"]
    assert [n["id"] for n in client.get(NOTICES, headers=bearer(tokens["desk"])).json()[
        "notices"]] == [second.json()["notice"]["id"]]
    again = client.delete(f"{NOTICES}/{notice['id']}", headers=bearer(tokens["supervisor"]))
    assert (again.status_code, again.json()["error"]["code"]) == (404, "not_found")
    assert len(events(r, "notice.removed")) == 1


@pytest.mark.parametrize("role", ["desk", "clerk", "display", "kiosk", "photo"])
def test_only_supervisors_and_admins_post_and_remove(
        client: TestClient, tokens: dict[str, str], r: redis.Redis, role: str) -> None:
    refused = post(client, tokens[role])
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")
    kept = post(client, tokens["supervisor"]).json()["notice"]
    removal = client.delete(f"{NOTICES}/{kept['id']}", headers=bearer(tokens[role]))
    assert removal.status_code == 403
    closing = client.post(C + "/issuing", json={"open": False, "text_en": EN, "text_zh": ZH},
                          headers=bearer(tokens[role]))
    assert closing.status_code == 403
    assert len(events(r, "notice.posted")) == 1 and events(r, "notice.removed") == []
    # Whoever may see the board reads them; the kiosk and photo booth may not.
    listed = client.get(NOTICES, headers=bearer(tokens[role]))
    assert listed.status_code == (403 if role in ("kiosk", "photo") else 200)


@pytest.mark.parametrize("body, why", [
    ({"text_en": ""}, "is empty"),
    ({"text_zh": "   "}, "is empty"),
    ({"text_en": "x" * 281}, "too long"),
    ({"text_zh": "風" * 281}, "too long"),
    ({"text_zh": None}, "Missing field"),
    ({"text_en": 8}, "wrong type"),
    ({"until": "tomorrow"}, "ISO 8601"),
    ({"until": (MORNING - dt.timedelta(minutes=1)).isoformat()}, "still to come"),
    ({"announce": "yes"}, "wrong type"),
])
def test_bad_notices_are_refused_and_change_nothing(
        client: TestClient, tokens: dict[str, str], r: redis.Redis, body: dict[str, Any],
        why: str) -> None:
    answer = post(client, tokens["supervisor"], **body)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "bad_request" and why in error["message_en"]
    assert error["message_zh"]
    assert events(r) == [] and not r.exists(keys.notices("wan-chai"))


def test_the_longest_texts_are_280_characters(client: TestClient, tokens: dict[str, str]) -> None:
    answer = post(client, tokens["supervisor"], text_en="x" * 280, text_zh="風" * 280)
    assert answer.status_code == 201
    assert len(answer.json()["notice"]["text_zh"]) == 280


def wait_for(condition: Callable[[], Any], what: str, within_s: float = 10.0) -> Any:
    deadline = time.monotonic() + within_s
    while True:
        found = condition()
        if found:
            return found
        assert time.monotonic() < deadline, f"no {what} within {within_s} s"
        time.sleep(0.05)


def test_a_notice_ends_by_its_until_with_one_removal(
        client: TestClient, tokens: dict[str, str], r: redis.Redis, clock: Clock) -> None:
    until = MORNING + dt.timedelta(minutes=30)
    notice = post(client, tokens["supervisor"], until=until.isoformat()).json()["notice"]
    assert notice["until"] == until.isoformat()
    naive = post(client, tokens["supervisor"], until="2026-11-27T11:00:00").json()["notice"]
    assert naive["until"] == "2026-11-27T11:00:00+08:00"  # the centre's local time
    clock.set(until - dt.timedelta(seconds=5))
    # The app's sweeper runs every second on the injected clock: nothing is due yet.
    assert len(client.get(NOTICES, headers=bearer(tokens["desk"])).json()["notices"]) == 2
    clock.set(until + dt.timedelta(seconds=1))
    # Readers never see it once its time is past, swept or not.
    assert [n["id"] for n in client.get(NOTICES, headers=bearer(tokens["desk"])).json()[
        "notices"]] == [naive["id"]]
    (removed,) = wait_for(lambda: events(r, "notice.removed"), "notice.removed")
    assert removed["data"] == {"id": notice["id"], "reason": "expired"}
    # Sweeping again, from a worker's side too, removes nothing more.
    assert expiry.sweep(config_mod.load_default(), r, clock) == 0
    assert len(events(r, "notice.removed")) == 1


def test_however_many_sweep_at_once_each_notice_is_removed_once(
        r: redis.Redis, redis_url: str, cfg: config_mod.Config) -> None:
    clock = Clock(cfg.tz, MORNING)
    scripts = Scripts(r)
    names, ctx = expiry.context("wan-chai", clock)
    for i in range(40):
        scripts("notice_post", names,
                [{**ctx, "text_en": f"n{i}", "text_zh": f"n{i}", "until": "x",
                  "until_ms": int(str(ctx["now_ms"])) + 1000, "announcement": None}])
    later = Clock(cfg.tz, MORNING + dt.timedelta(seconds=2))
    go = threading.Barrier(4)
    counts: list[int] = []

    def sweeper() -> None:
        own = redis.Redis.from_url(redis_url, decode_responses=True)
        go.wait()
        counts.append(expiry.sweep(cfg, own, later))
        own.close()

    threads = [threading.Thread(target=sweeper) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sum(counts) == 40
    ids = [e["data"]["id"] for e in events(r, "notice.removed")]
    assert len(ids) == 40 and len(set(ids)) == 40
    assert r.zcard(keys.notice_expiry("wan-chai")) == 0


def ticket(client: TestClient, tokens: dict[str, str], ref: str, barcode: str) -> Any:
    client.post(C + "/photo-receipts", json={"barcode": barcode},
                headers=bearer(tokens["photo"]))
    return client.post(C + "/tickets", headers=bearer(tokens["desk"]),
                       json={"booking_ref": ref, "id_number": "A123456(3)",
                             "photo_barcode": barcode})


def test_closing_issuing_refuses_new_numbers_and_still_serves_the_waiting(
        client: TestClient, tokens: dict[str, str], r: redis.Redis,
        seed: Callable[..., Any]) -> None:
    for ref in ("MEP1", "MEP2", "MEP3"):
        seed(ref)
    assert ticket(client, tokens, "MEP1", "PH1").status_code == 201
    typhoon = next(t for t in READY_MADE if t.key == "typhoon_8")
    closed = client.post(C + "/issuing", headers=bearer(tokens["supervisor"]), json={
        "open": False, "text_en": typhoon.text_en, "text_zh": typhoon.text_zh})
    assert closed.status_code == 200, closed.text
    closure = closed.json()["closure"]
    assert closed.json()["issuing"] is False
    assert (closure["text_en"], closure["text_zh"]) == (typhoon.text_en, typhoon.text_zh)

    refused = ticket(client, tokens, "MEP2", "PH2")
    assert refused.status_code == 422
    assert refused.json()["error"] == {"code": "issuing_closed", "message_en": typhoon.text_en,
                                       "message_zh": typhoon.text_zh}
    board = client.get(C + "/board", headers=bearer(tokens["display"])).json()
    assert board["issuing"] is False and board["closure"] == closure
    assert [n["id"] for n in board["notices"]] == [closure["notice"]]
    assert board["notices"][0]["text_zh"] == typhoon.text_zh
    # The one already waiting is still called.
    called = client.post(C + "/counters/1/call", json={}, headers=bearer(tokens["clerk"]))
    assert called.json()["ticket"]["number"] == "A001"
    # Its notice goes when issuing reopens, not on its own.
    kept = client.delete(f"{NOTICES}/{closure['notice']}", headers=bearer(tokens["supervisor"]))
    assert (kept.status_code, kept.json()["error"]["code"]) == (409, "closure_notice")

    opened = client.post(C + "/issuing", json={"open": True},
                         headers=bearer(tokens["supervisor"]))
    assert opened.json() == {"issuing": True, "closure": None}
    assert client.get(NOTICES, headers=bearer(tokens["desk"])).json()["notices"] == []
    admitted = ticket(client, tokens, "MEP3", "PH3")
    assert admitted.status_code == 201 and admitted.json()["ticket"]["number"] == "A002"

    kinds = [e["type"] for e in events(r) if not e["type"].startswith(("ticket.", "counter."))]
    assert kinds == ["notice.posted", "centre.issuing_closed", "centre.checkin_refused",
                     "notice.removed", "centre.issuing_opened"]
    (refusal,) = events(r, "centre.checkin_refused")
    assert refusal["data"]["reason"] == "issuing_closed"
    figures = client.get(C + "/stats", headers=bearer(tokens["supervisor"])).json()
    assert (figures["refused_while_closed"], figures["arrivals"]) == (1, 2)
    csv_day = client.get(C + "/stats.csv", headers=bearer(tokens["supervisor"])).text
    head, day = csv_day.splitlines()[:2]
    assert dict(zip(head.split(","), day.split(","), strict=True))["refused_while_closed"] == "1"


def test_closing_needs_both_texts_and_closing_again_replaces_them(
        client: TestClient, tokens: dict[str, str], r: redis.Redis) -> None:
    bare = client.post(C + "/issuing", json={"open": False, "text_en": EN},
                       headers=bearer(tokens["supervisor"]))
    assert bare.status_code == 400 and events(r) == []
    first = client.post(C + "/issuing", json={"open": False, "text_en": "Signal 8",
                                              "text_zh": "八號風球"},
                        headers=bearer(tokens["supervisor"])).json()["closure"]
    second = client.post(C + "/issuing", json={"open": False, "text_en": "Black rainstorm",
                                               "text_zh": "黑色暴雨警告"},
                         headers=bearer(tokens["supervisor"])).json()["closure"]
    assert second["notice"] != first["notice"]
    listed = client.get(NOTICES, headers=bearer(tokens["desk"])).json()["notices"]
    assert [n["text_zh"] for n in listed] == ["黑色暴雨警告"]
    removed = events(r, "notice.removed")
    assert [e["data"]["id"] for e in removed] == [first["notice"]]
    # Reopening twice: the second changes nothing and says nothing.
    for _ in range(2):
        client.post(C + "/issuing", json={"open": True}, headers=bearer(tokens["supervisor"]))
    assert len(events(r, "centre.issuing_opened")) == 1


def test_an_announced_notice_carries_its_texts_and_asks_the_worker(
        client: TestClient, tokens: dict[str, str], r: redis.Redis) -> None:
    notice = post(client, tokens["supervisor"], announce=True).json()["notice"]
    (posted,) = events(r, "notice.posted")
    announcement = posted["data"]["announcement"]
    assert announcement["text"] == {"yue": ZH, "cmn": ZH, "en": EN}
    # Nothing said yet: the chime now, the rest when the worker has rendered it.
    assert announcement["clips"] == ["/sounds/chime.wav"] and announcement["pending"] is True
    assert r.lrange("rq:queue:announcements", 0, -1)[-1] == f"notice-wan-chai-{notice['id']}"


def test_the_day_close_takes_the_notices_down_and_reopens_issuing(
        client: TestClient, tokens: dict[str, str], r: redis.Redis) -> None:
    from queueserver.operations import dayclose

    post(client, tokens["supervisor"])
    client.post(C + "/issuing", json={"open": False, "text_en": EN, "text_zh": ZH},
                headers=bearer(tokens["supervisor"]))
    centre = config_mod.load_default().centre("wan-chai")
    assert centre is not None
    result = dayclose.close_day(r, centre, MORNING.date(), MORNING.replace(hour=18))
    assert result["notices_removed"] == 2
    assert [e["data"]["reason"] for e in events(r, "notice.removed")] == ["day_closed"] * 2
    assert events(r, "centre.issuing_opened")[0]["data"] == {"reason": "day_closed"}
    assert not r.exists(keys.issuing("wan-chai"))


def test_the_ready_made_notices_use_the_centres_words() -> None:
    words = {t.key: t for t in READY_MADE}
    assert "八號風球" in words["typhoon_8"].text_zh and "停止派籌" in words["typhoon_8"].text_zh
    assert "Typhoon signal No. 8" in words["typhoon_8"].text_en
    assert "黑色暴雨警告" in words["black_rainstorm"].text_zh
    assert "black rainstorm warning" in words["black_rainstorm"].text_en
    assert "櫃位" in words["counter_closed"].text_zh and "{counter}" in words[
        "counter_closed"].text_en
    assert {"system_slow", "counter_closed"} <= set(words)
    for t in READY_MADE:
        assert 1 <= len(t.text_en) <= 280 and 1 <= len(t.text_zh) <= 280
        assert t.closes_issuing == (t.key in ("typhoon_8", "black_rainstorm"))
    assert stats.CSV_COLUMNS[-1] == "refused_while_closed"
    assert TZ is not None
