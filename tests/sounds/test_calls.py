"""Calls and recalls name their spoken clips in the event, never waiting for audio, naming only
clips whose segments exist; the clips are served from Redis under those names."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from conftest import HKIDS, MORNING, SECRET, bearer
from rq import Queue
from sound_fixtures import run_async, write_config

from queueserver.platform import config
from queueserver.platform.clock import Clock
from queueserver.sounds import announcer, audio, clips, engines, render, segments, spoken
from queueserver.store import keys

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

C = "/api/v1/centres/wan-chai"
CHIME = "/sounds/chime.wav"


class Hall:
    """The app on the suite's Redis with a config that speaks with the tone engine."""

    def __init__(self, client: TestClient, cfg: config.Config, r: redis.Redis, url: str,
                 tokens: dict[str, str], seed: Callable[..., Any], clock: Clock) -> None:
        self.client, self.cfg, self.r, self.tokens, self.seed = client, cfg, r, tokens, seed
        self.clock, self.url = clock, url
        self.store = clips.SegmentStore(clips.connect(url))
        self.count = 0

    @property
    def centre(self) -> config.Centre:
        return self.cfg.centres[0]

    def issue(self) -> str:
        self.count += 1
        ref, id_number = f"REF{self.count:04d}", HKIDS[self.count % len(HKIDS)]
        self.seed(ref, id_number=id_number)
        self.client.post(C + "/photo-receipts", json={"barcode": f"PH{self.count}"},
                         headers=bearer(self.tokens["photo"]))
        self.clock.set(MORNING + dt.timedelta(seconds=self.count))
        answer = self.client.post(C + "/tickets", headers=bearer(self.tokens["desk"]), json={
            "booking_ref": ref, "id_number": id_number, "photo_barcode": f"PH{self.count}"})
        assert answer.status_code == 201, answer.text
        return str(answer.json()["ticket"]["number"])

    def act(self, counter: int, action: str) -> Any:
        answer = self.client.post(f"{C}/counters/{counter}/{action}", json={},
                                  headers=bearer(self.tokens["supervisor"]))
        assert answer.status_code == 200, answer.text
        return answer.json()

    def announcement(self) -> dict[str, Any]:
        """The last call or recall's announcement, as the event stream holds it."""
        for _, fields in reversed(self.r.xrange(keys.events("wan-chai"))):
            if fields["type"] in ("ticket.called", "ticket.recalled"):
                data: dict[str, Any] = json.loads(fields["data"])["announcement"]
                return data
        raise AssertionError("no call in the stream")

    def render(self) -> None:
        render.render_missing(self.store, self.centre)


@pytest.fixture
def hall(tmp_path: Path, r: redis.Redis, redis_url: str, tokens: dict[str, str],
         seed: Callable[..., Any], clock: Clock,
         request: pytest.FixtureRequest) -> Iterator[Hall]:
    from queueserver.web.app import create_app

    languages = getattr(request, "param", ("yue", "cmn", "en"))
    cfg = config.load(write_config(tmp_path, "tone", languages=languages))
    with TestClient(create_app(cfg, redis_url, SECRET, clock)) as client:
        h = Hall(client, cfg, r, redis_url, tokens, seed, clock)
        yield h
        h.store.r.close()


def segment_ids(ticket: str, counter: int, language: str, recall: bool = False) -> list[str]:
    voice = engines.Tone().voice(language)
    return [segments.segment_id("tone", voice, language, p.text)
            for p in spoken.pieces(ticket, counter, language, recall)]


def clip_url(ticket: str, counter: int, language: str, recall: bool = False) -> str:
    return f"/sounds/clips/{segments.clip_name(segment_ids(ticket, counter, language, recall))}.wav"


def wait_for_clip(r: redis.Redis, url: str) -> None:
    key = keys.sound_clip(announcer.clip_name(url))
    deadline = time.monotonic() + 10
    while not r.exists(key):
        assert time.monotonic() < deadline, f"{key} was never cached"
        time.sleep(0.02)


def test_a_call_names_the_chime_then_one_clip_per_language(hall: Hall) -> None:
    hall.render()
    hall.issue()
    assert hall.act(2, "call")["ticket"]["number"] == "A001"
    said = hall.announcement()
    assert said["clips"] == [CHIME, clip_url("A001", 2, "yue"), clip_url("A001", 2, "cmn"),
                             clip_url("A001", 2, "en")]
    assert said["text"]["en"] == "Ticket A001, please go to counter 2"
    for url in said["clips"][1:]:
        wait_for_clip(hall.r, url)
        answer = hall.client.get(url)
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "audio/wav"
        assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
        clip = audio.from_wav(answer.content)
        assert 1.5 < clip.seconds < 6
        assert audio.loudness(clip) == pytest.approx(audio.TARGET_LUFS, abs=0.2)
        # Every word is there, spaced like speech: no gap longer than the comma's pause.
        gaps = [length for _, length in audio.silences(clip)]
        assert len(gaps) >= 6
        assert max(gaps) < segments.COMMA_PAUSE_S + 0.1
        assert answer.content == hall.store.get_clip(announcer.clip_name(url))


def test_a_recall_says_calling_again_first(hall: Hall) -> None:
    hall.render()
    hall.issue()
    hall.act(3, "call")
    hall.act(3, "recall")
    said = hall.announcement()
    assert said["clips"] == [CHIME] + [clip_url("A001", 3, lang, recall=True)
                                       for lang in ("yue", "cmn", "en")]
    assert said["text"]["cmn"] == "再次广播，请 A001 号到 3 号柜台"
    assert all(hall.client.get(u).status_code == 200 for u in said["clips"])


@pytest.mark.parametrize("hall", [("en", "yue")], indirect=True)
def test_clips_follow_the_centres_languages_and_order(hall: Hall) -> None:
    hall.render()
    hall.issue()
    hall.act(1, "call")
    assert hall.announcement()["clips"] == [CHIME, clip_url("A001", 1, "en"),
                                            clip_url("A001", 1, "yue")]


def test_without_segments_a_call_chimes_and_asks_the_worker(hall: Hall) -> None:
    hall.issue()
    started = time.monotonic()
    hall.act(1, "call")
    assert time.monotonic() - started < 2  # it did not wait for any rendering
    assert hall.announcement()["clips"] == [CHIME]
    queue = Queue(render.QUEUE, connection=hall.store.r)
    deadline = time.monotonic() + 10
    while render.job_id("wan-chai") not in queue.job_ids:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert queue.job_ids.count(render.job_id("wan-chai")) == 1


def test_a_language_missing_a_segment_is_left_out(hall: Hall) -> None:
    hall.render()
    # English "seven" is gone (say, never rendered): a ticket with a 7 has no English clip, the
    # others still do; a ticket without one keeps all three.
    (seven,) = [i for i in segment_ids("A007", 1, "en") if i not in segment_ids("A001", 1, "en")]
    hall.r.srem(keys.sound_segments(), seven)
    hall.r.delete(keys.sound_segment(seven))
    for _ in range(7):
        hall.issue()
    hall.client.post(f"{C}/counters/1/call", json={"ticket": "A007"},
                     headers=bearer(hall.tokens["supervisor"]))
    assert hall.announcement()["clips"] == [CHIME, clip_url("A007", 1, "yue"),
                                            clip_url("A007", 1, "cmn")]
    hall.act(2, "call")
    assert hall.announcement()["clips"][1:] == [clip_url("A001", 2, lang)
                                                for lang in ("yue", "cmn", "en")]


def test_a_call_never_waits_to_look_again_for_a_missing_segment(hall: Hall) -> None:
    """Segments never asked about are asked about at once; one found missing is looked for
    again a second later in the background, while the call goes on with what is known (a
    centre whose segments are not rendered would otherwise wait on Redis at every call)."""
    async def scenario() -> None:
        a = announcer.Announcer(hall.cfg, hall.url)
        asked: list[list[str]] = []
        slow = asyncio.Event()
        real = a.store.existing

        async def existing(ids: Any) -> set[str]:
            asked.append(list(ids))
            if len(asked) > 1:
                await slow.wait()  # Redis slow to answer the second look
            return await real(ids)

        a.store.existing = existing  # type: ignore[method-assign]

        def spoken(voices: list[dict[str, Any]]) -> bool:
            return any(v["candidates"] for v in voices)

        try:
            assert not spoken(await a.voices(hall.centre, 1, recall=False))
            assert len(asked) == 1
            await asyncio.to_thread(hall.render)
            assert not spoken(await a.voices(hall.centre, 1, recall=False))
            assert len(asked) == 1  # within the second: not asked again
            for i in a._missing_at:
                a._missing_at[i] -= announcer.MISSING_RECHECK_S
            # A second on: looked for again, and this call does not wait for the answer.
            assert not spoken(await asyncio.wait_for(a.voices(hall.centre, 1, recall=False), 5))
            assert len(asked) == 2
            slow.set()
            await asyncio.wait_for(asyncio.gather(*a._tasks), 5)
            assert spoken(await a.voices(hall.centre, 1, recall=False))
            assert len(asked) == 2
        finally:
            await a.close()

    run_async(scenario)


def test_clip_urls_in_python_match_the_script(hall: Hall) -> None:
    hall.render()
    for _ in range(3):
        hall.issue()
    hall.act(1, "call")

    async def voices() -> list[dict[str, Any]]:
        a = announcer.Announcer(hall.cfg, hall.url)
        try:
            return await a.voices(hall.centre, 1, recall=False)
        finally:
            await a.close()

    assert announcer.clip_urls(run_async(voices), "A001") == hall.announcement()["clips"][1:]


@pytest.fixture
def joins(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every clip name any announcer joins from here on (the app's own included)."""
    joined: list[str] = []
    original = announcer.Announcer.join

    async def counted(self: announcer.Announcer, name: str) -> bytes | None:
        joined.append(name)
        return await original(self, name)

    monkeypatch.setattr(announcer.Announcer, "join", counted)
    return joined


def test_a_clip_no_call_planned_is_404_and_joins_nothing(hall: Hall, joins: list[str]) -> None:
    hall.render()
    hall.issue()
    hall.act(2, "call")  # A001 at counter 2 is planned; what follows is not
    for url in (clip_url("P042", 3, "cmn"), clip_url("A001", 3, "en"),
                clip_url("A001", 2, "en", recall=True)):
        name = announcer.clip_name(url)
        ids = segments.clip_segments(name) or []
        assert ids and hall.store.existing(ids) == set(ids)  # real segments, not made up
        answer = hall.client.get(url)
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == "not_found"
        assert not hall.r.exists(keys.sound_clip(name))
    wait_for_clip(hall.r, clip_url("A001", 2, "en"))  # the call's own joins, then no others
    assert sorted(joins) == sorted(announcer.clip_name(clip_url("A001", 2, lang))
                                   for lang in ("yue", "cmn", "en"))


def test_a_planned_clip_is_served_and_joined_once(hall: Hall, joins: list[str]) -> None:
    hall.render()
    hall.issue()
    hall.act(1, "call")
    url = clip_url("A001", 1, "yue")
    name = announcer.clip_name(url)
    assert hall.r.ttl(keys.sound_planned(name)) > clips.CLIP_TTL_S - 60
    wait_for_clip(hall.r, url)
    first, second = hall.client.get(url), hall.client.get(url)
    assert first.status_code == second.status_code == 200
    assert audio.from_wav(first.content).seconds > 1.5
    assert first.content == second.content
    assert joins.count(name) == 1


def test_a_planned_clip_not_cached_is_joined_on_request_and_cached(
        hall: Hall, joins: list[str]) -> None:
    # As in a process that did not make the call, or after the cached clip was evicted.
    hall.render()
    name = announcer.clip_name(clip_url("A123", 2, "yue"))

    async def plan_then_ask_twice() -> list[bytes | None]:
        a = announcer.Announcer(hall.cfg, hall.url)
        try:
            await a.plan("A123", await a.voices(hall.centre, 2, recall=False))
            return [await a.clip(name), await a.clip(name)]
        finally:
            await a.close()

    first, second = run_async(plan_then_ask_twice)
    assert first is not None and first == second
    assert joins == [name]
    assert hall.store.get_clip(name) == first


@pytest.mark.parametrize("path", [
    "/sounds/clips/c1.0a1b2c3d4e5f.wav",  # a well-formed name whose segment does not exist
    "/sounds/clips/c1.ZZZ.wav", "/sounds/clips/other.wav", "/sounds/clips/.wav"])
def test_clips_that_cannot_be_made_are_404(hall: Hall, path: str) -> None:
    hall.render()
    answer = hall.client.get(path)
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"


def test_unreadable_segments_mean_a_chime_not_a_failed_call(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:

    from conftest import free_port

    cfg = config.load(write_config(tmp_path, "tone"))

    async def voices() -> list[dict[str, Any]]:
        nowhere = announcer.Announcer(cfg, f"redis://127.0.0.1:{free_port()}/0")
        try:
            return await nowhere.voices(cfg.centres[0], 1, recall=False)
        finally:
            await nowhere.close()

    assert run_async(voices) == []
    assert "this call chimes only" in caplog.text


def test_displays_asking_at_once_share_one_join(hall: Hall, joins: list[str]) -> None:
    import asyncio

    hall.render()
    url = clip_url("A123", 2, "yue")

    async def ask_together() -> list[bytes | None]:
        a = announcer.Announcer(hall.cfg, hall.url)
        try:
            await a.plan("A123", await a.voices(hall.centre, 2, recall=False))
            return await asyncio.gather(*(a.clip(announcer.clip_name(url)) for _ in range(20)))
        finally:
            await a.close()

    answers = run_async(ask_together)
    assert len(joins) == 1
    assert answers[0] is not None and all(answer == answers[0] for answer in answers)
