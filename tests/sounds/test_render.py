"""Rendering segments into Redis: once, with the fallback gTTS → espeak-ng → chime only logged
once, and the worker's job enqueued at most once at a time."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from rq import Queue, SimpleWorker
from sound_fixtures import google_tts, write_config

from queueserver.platform import config
from queueserver.sounds import audio, clips, engines, render, segments, spoken
from queueserver.store import keys


@pytest.fixture(autouse=True)
def fresh_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("QUEUESERVER_TEST_MODE", raising=False)
    render.forget_failures()
    yield
    render.forget_failures()


@pytest.fixture
def store(r: redis.Redis, redis_url: str) -> Iterator[clips.SegmentStore]:
    raw = clips.connect(redis_url)
    yield clips.SegmentStore(raw)
    raw.close()


def centre(tmp_path: Path, engine: str, **options: object) -> config.Centre:
    return config.load(write_config(tmp_path, engine, **options)).centres[0]  # type: ignore[arg-type]


class Counting:
    """Counts what an engine is asked to render."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, engine: type) -> None:
        self.texts: list[tuple[str, str]] = []
        original = engine.render

        def render_(this: object, text: str, language: str) -> audio.Audio:
            self.texts.append((text, language))
            result: audio.Audio = original(this, text, language)
            return result

        monkeypatch.setattr(engine, "render", render_)


def test_every_segment_once_and_nothing_on_a_second_run(
        tmp_path: Path, store: clips.SegmentStore, r: redis.Redis,
        monkeypatch: pytest.MonkeyPatch) -> None:
    wan_chai = centre(tmp_path, "tone")
    tone = Counting(monkeypatch, engines.Tone)
    seen: list[tuple[int, int]] = []
    report = render.render_missing(store, wan_chai, progress=lambda d, t: seen.append((d, t)))
    needed = render.needed(wan_chai)
    # Pieces with the same words (counter 3 and digit 3) share one segment.
    distinct = {(lang, p.text) for lang, p in needed}
    assert report.rendered == {"tone": len(distinct)}
    assert report.cached == len(needed) - len(distinct) and report.failed == 0
    assert len(tone.texts) == len(distinct)
    assert seen == [(i, len(needed)) for i in range(1, len(needed) + 1)]
    assert r.scard(keys.sound_segments()) == len(distinct)
    assert store.size()[0] == len(distinct)

    again = render.render_missing(store, wan_chai)
    assert (sum(again.rendered.values()), again.cached, again.failed) == (0, len(needed), 0)
    assert len(tone.texts) == len(distinct)
    assert render.missing(store, wan_chai) == 0


def test_stored_segments_are_shaped_wav(tmp_path: Path, store: clips.SegmentStore) -> None:
    wan_chai = centre(tmp_path, "tone", languages=("en",))
    render.render_missing(store, wan_chai)
    tone = engines.Tone()
    name = segments.segment_id("tone", tone.voice("en"), "en", ", please go to counter")
    (wav,) = store.get([name])
    assert wav is not None
    segment = audio.from_wav(wav)
    # Trimmed to the speech, after the comma's pause.
    start, end = audio.speech_bounds(segment)
    assert start / audio.RATE == pytest.approx(segments.COMMA_PAUSE_S + segments.EDGE_PAD_S,
                                               abs=0.011)
    assert (len(segment.samples) - end) / audio.RATE < 0.03
    assert audio.loudness(audio.trim(segment, 0)) == pytest.approx(audio.TARGET_LUFS, abs=0.5)


def test_gtts_down_falls_back_to_espeak_logged_once(
        tmp_path: Path, store: clips.SegmentStore, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    wan_chai = centre(tmp_path, "gtts", languages=("yue", "en"), counters=2)
    caplog.set_level(logging.INFO, logger="queueserver.sounds")
    with google_tts() as service:
        service.down = True
        first = render.render_missing(store, wan_chai)
        second = render.render_missing(store, wan_chai)
    distinct = {(lang, p.text) for lang, p in render.needed(wan_chai)}
    assert first.rendered == {"espeak": len(distinct)} and first.failed == 0
    assert sum(second.rendered.values()) == 0 and second.failed == 0
    # One attempt at the network, one line in the log, for all those segments and both runs.
    assert service.attempts == 1
    warnings = [rec for rec in caplog.records if rec.levelno >= logging.WARNING]
    assert [rec.getMessage() for rec in warnings] == [
        "gtts cannot render announcements (gTTS failed: Failed to connect. Probable cause: "
        "Unknown); falling back to espeak"]

    # The internet is back and the retry time has passed: gTTS renders again, said once.
    monkeypatch.setattr(render, "RETRY_S", 0.0)
    render.forget_failures()
    caplog.clear()
    with google_tts() as service:
        service.down = True
        render.render_pieces(store, [("en", spoken.Piece("counter", "forty-two"))],
                             engines.chain("gtts"))
        service.down = False
        third = render.render_missing(store, wan_chai)
    assert third.rendered == {"gtts": len(distinct)}
    assert len(service.asked) == len(distinct)
    assert [rec.getMessage() for rec in caplog.records if "again" in rec.getMessage()] == [
        "gtts renders announcements again"]


def test_no_engine_means_chime_only_logged_once(
        tmp_path: Path, store: clips.SegmentStore, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    wan_chai = centre(tmp_path, "gtts", languages=("en",), counters=1)
    monkeypatch.setattr(engines, "ESPEAK_BINARY", "espeak-ng-not-installed")
    with google_tts() as service:
        service.down = True
        report = render.render_missing(store, wan_chai)
    assert report.failed == len(render.needed(wan_chai))
    assert sum(report.rendered.values()) == 0
    assert store.size() == (0, 0)
    errors = [rec.getMessage() for rec in caplog.records if rec.levelno >= logging.ERROR]
    assert len(errors) == 1 and "chime only" in errors[0]
    assert len([rec for rec in caplog.records if rec.levelno == logging.WARNING]) == 2


def test_the_worker_job_renders_and_is_enqueued_once_at_a_time(
        tmp_path: Path, store: clips.SegmentStore, redis_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config(tmp_path, "tone", languages=("cmn",))
    monkeypatch.setenv("QUEUESERVER_CONFIG", str(path))
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.delenv("RQ_REDIS_URL", raising=False)
    cfg = config.load(path)
    assert render.request_render(cfg, "wan-chai", redis_url)
    assert not render.request_render(cfg, "wan-chai", redis_url)  # already waiting
    rq = clips.rq_connect(redis_url)
    queue = Queue(render.QUEUE, connection=rq)
    assert queue.count == 1
    assert render.missing(store, cfg.centres[0]) > 0
    SimpleWorker([queue], connection=rq).work(burst=True)
    assert render.missing(store, cfg.centres[0]) == 0
    # Done and forgotten: the next request enqueues again (and would render nothing).
    assert render.request_render(cfg, "wan-chai", redis_url)
    rq.close()
