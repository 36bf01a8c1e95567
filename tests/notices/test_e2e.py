"""Notices and closures with real processes: `serve`, `worker` and the suite's Redis, a display's
WebSocket and HTTP clients. Time moves by the test clock file (tests/hall.py), never by sleeping."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from conftest import MORNING, make_booking, store
from hall import Hall, start_hall
from websockets.sync.client import ClientConnection, connect

from queueserver.auth import credentials as auth
from queueserver.sounds import announcer, audio
from queueserver.store import keys

pytestmark = pytest.mark.e2e

C = "/api/v1/centres/wan-chai"


@pytest.fixture
def hall(r: redis.Redis, redis_url: str) -> Iterator[Hall]:
    h = start_hall(redis_url)
    yield h
    h.stop()


def token(r: redis.Redis, role: auth.Role) -> str:
    made, _ = auth.create_token(r, role, "wan-chai")
    return made


def auth_header(t: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {t}"}


def next_event(ws: ClientConnection, kind: str, within_s: float = 15.0) -> dict[str, Any]:
    """The next event of that type on the socket, skipping others, within a bound."""
    deadline = time.monotonic() + within_s
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"no {kind} within {within_s} s"
        try:
            message = json.loads(ws.recv(timeout=left))
        except TimeoutError:
            raise AssertionError(f"no {kind} within {within_s} s") from None
        if message.get("type") == kind:
            return dict(message)


@contextlib.contextmanager
def display_socket(hall: Hall, display: str) -> Iterator[ClientConnection]:
    url = (hall.server.url.replace("http://", "ws://")
           + f"/ws/centres/wan-chai/events?token={display}")
    with connect(url, open_timeout=10) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "board"
        yield ws


def removals(r: redis.Redis, notice_id: str) -> int:
    return sum(1 for _, f in r.xrange(keys.events("wan-chai"))
               if f["type"] == "notice.removed" and json.loads(f["data"])["id"] == notice_id)


def test_a_notice_reaches_the_hall_and_ends_by_its_until_once(hall: Hall,
                                                              r: redis.Redis) -> None:
    supervisor, display = token(r, auth.Role.SUPERVISOR), token(r, auth.Role.DISPLAY)
    desk = token(r, auth.Role.DESK)
    with display_socket(hall, display) as ws, httpx.Client(base_url=hall.server.url,
                                                           timeout=10) as http:
        until = MORNING + dt.timedelta(minutes=30)
        posted = http.post(C + "/notices", headers=auth_header(supervisor), json={
            "text_en": "Collection is suspended until 14:00.",
            "text_zh": "取證服務暫停至下午二時。", "until": until.isoformat()})
        assert posted.status_code == 201, posted.text
        notice = posted.json()["notice"]
        seen = next_event(ws, "notice.posted")
        assert seen["data"]["id"] == notice["id"] and "by" not in seen["data"]
        assert seen["data"]["text_zh"] == "取證服務暫停至下午二時。"
        board = http.get(C + "/board", headers=auth_header(display)).json()
        assert [n["id"] for n in board["notices"]] == [notice["id"]]

        # Refused, and nothing reaches the hall: a desk credential, an empty or a long text.
        for who, body in ((desk, {}), (supervisor, {"text_en": ""}),
                          (supervisor, {"text_zh": "長" * 281})):
            answer = http.post(C + "/notices", headers=auth_header(who),
                               json={"text_en": "x", "text_zh": "x", **body})
            assert answer.status_code == (403 if who == desk else 400), answer.text

        hall.advance(31 * 60)
        removed = next_event(ws, "notice.removed")
        assert removed["data"] == {"id": notice["id"], "reason": "expired"}
        assert http.get(C + "/notices", headers=auth_header(display)).json()["notices"] == []

        # Another notice's end, a while later: by then the server and the worker have each
        # swept many times, and the first was still removed once.
        later = http.post(C + "/notices", headers=auth_header(supervisor), json={
            "text_en": "Please keep your number.", "text_zh": "請保留籌號。",
            "until": (MORNING + dt.timedelta(minutes=45)).isoformat()}).json()["notice"]
        hall.advance(15 * 60)
        assert next_event(ws, "notice.removed")["data"]["id"] == later["id"]
    assert removals(r, notice["id"]) == 1 and removals(r, later["id"]) == 1
    posted_types = [f["type"] for _, f in r.xrange(keys.events("wan-chai"))]
    assert posted_types.count("notice.posted") == 2


def test_an_announced_notice_is_said_once_the_worker_has_rendered_it(
        hall: Hall, r: redis.Redis) -> None:
    supervisor, display = token(r, auth.Role.SUPERVISOR), token(r, auth.Role.DISPLAY)
    with display_socket(hall, display) as ws, httpx.Client(base_url=hall.server.url,
                                                           timeout=30) as http:
        notice = http.post(C + "/notices", headers=auth_header(supervisor), json={
            "text_en": "Typhoon signal No. 8 is in force.", "text_zh": "八號風球現正生效。",
            "announce": True}).json()["notice"]
        posted = next_event(ws, "notice.posted")
        assert posted["data"]["announcement"]["clips"] == ["/sounds/chime.wav"]
        assert posted["data"]["announcement"]["pending"] is True
        # The worker renders each language whole (espeak-ng: gTTS is not asked in test mode).
        said = next_event(ws, "notice.announced", within_s=120)
        assert said["data"]["id"] == notice["id"]
        announcement = said["data"]["announcement"]
        assert announcement["text"] == {"yue": "八號風球現正生效。", "cmn": "八號風球現正生效。",
                                        "en": "Typhoon signal No. 8 is in force."}
        clips = announcement["clips"]
        assert clips[0] == "/sounds/chime.wav" and len(clips) == 4, hall.worker_output()
        lengths = []
        for url in clips:
            answer = http.get(url)
            assert answer.status_code == 200 and answer.headers["content-type"] == "audio/wav"
            lengths.append(audio.from_wav(answer.content).seconds)
        # Three sentences of speech, each longer than the chime.
        assert all(length > 1.0 for length in lengths[1:]), lengths
        assert len(set(clips[1:])) == 3
        # Planned as a call's clips are: joined again from its segments once the cache lets the
        # joined clip go; a name nobody planned stays a 404.
        for url in clips[1:]:
            r.delete(keys.sound_clip(announcer.clip_name(url)))
            assert http.get(url).status_code == 200
            assert r.exists(keys.sound_planned(announcer.clip_name(url)))
        unplanned = clips[1].replace(".wav", "").rsplit(".", 1)[0] + ".0123456789ab.wav"
        assert http.get(unplanned).status_code == 404

        # The same words again are said at once: rendered once, ever.
        http.post(C + "/notices", headers=auth_header(supervisor), json={
            "text_en": "Typhoon signal No. 8 is in force.", "text_zh": "八號風球現正生效。",
            "announce": True})
        again = next_event(ws, "notice.posted")
        assert again["data"]["announcement"]["clips"] == clips
        assert again["data"]["announcement"]["pending"] is False


def test_a_closure_refuses_new_numbers_while_the_waiting_are_called(
        hall: Hall, r: redis.Redis) -> None:
    store(r, [make_booking(ref) for ref in ("MEP1", "MEP2", "MEP3")])
    supervisor, desk = token(r, auth.Role.SUPERVISOR), token(r, auth.Role.DESK)
    photo, clerk = token(r, auth.Role.PHOTO), token(r, auth.Role.CLERK)
    with httpx.Client(base_url=hall.server.url, timeout=10) as http:
        def check_in(ref: str) -> httpx.Response:
            http.post(C + "/photo-receipts", json={"barcode": "PH" + ref},
                      headers=auth_header(photo))
            return http.post(C + "/tickets", headers=auth_header(desk), json={
                "booking_ref": ref, "id_number": "A123456(3)", "photo_barcode": "PH" + ref})

        assert check_in("MEP1").status_code == 201
        closed = http.post(C + "/issuing", headers=auth_header(supervisor), json={
            "open": False, "text_en": "Black rainstorm: no more numbers today.",
            "text_zh": "黑色暴雨警告：今天停止派籌。"})
        assert closed.status_code == 200 and closed.json()["issuing"] is False
        refused = check_in("MEP2")
        assert refused.status_code == 422
        assert refused.json()["error"]["code"] == "issuing_closed"
        assert refused.json()["error"]["message_zh"] == "黑色暴雨警告：今天停止派籌。"
        called = http.post(C + "/counters/2/call", json={}, headers=auth_header(clerk))
        assert called.json()["ticket"]["number"] == "A001"
        reopened = http.post(C + "/issuing", json={"open": True},
                             headers=auth_header(supervisor))
        assert reopened.json()["issuing"] is True
        admitted = check_in("MEP2")
        assert admitted.status_code == 201, admitted.text
        assert admitted.json()["ticket"]["number"] == "A002"
        board = http.get(C + "/board", headers=auth_header(desk)).json()
        assert (board["issuing"], board["notices"]) == (True, [])
