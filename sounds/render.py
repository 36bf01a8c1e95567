"""Rendering segments: every piece a centre can need, once, with the fallback gTTS → espeak-ng →
chime only, logged when an engine goes down or comes back, never per piece or per call.

`render_job` is what the worker runs (queue `announcements`); `request_render` enqueues it at
most once at a time per centre; `queueserver sounds render` calls `render_missing` directly.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from rq.job import JobStatus

from queueserver.platform import config, runtime
from queueserver.platform import jobs as worker
from queueserver.platform.config import Centre, Config
from queueserver.sounds import audio, clips, engines, segments, spoken

log = logging.getLogger("queueserver.sounds")

QUEUE = "announcements"
# An engine that failed is tried again after this long, not on every piece in between: a dropped
# internet link would otherwise cost a timeout per segment.
RETRY_S = 300.0
JOB_TIMEOUT_S = 30 * 60  # a 30-counter centre with gTTS: ~150 requests, each within GTTS_TIMEOUT_S
FAILED_KEPT_S = 3600  # a failed job's record blocks no new request for longer than this

Progress = Callable[[int, int], None]


@dataclass
class Report:
    rendered: Counter[str] = field(default_factory=Counter)  # by engine
    cached: int = 0
    failed: int = 0

    def __str__(self) -> str:
        by_engine = " ".join(f"rendered_{e}={n}" for e, n in sorted(self.rendered.items()))
        total = sum(self.rendered.values())
        return f"rendered={total} cached={self.cached} failed={self.failed} {by_engine}".strip()


# Per process: every job and command in it shares what it learnt about the engines.
_down_until: dict[str, float] = {}
_chime_only_logged: list[bool] = [False]


class Fallback:
    """Engines in fallback order, each skipped for a while after it fails. What is logged is the
    change of state, once: the fallback, the recovery, or "chime only"."""

    def __init__(self, chain: list[engines.Engine]) -> None:
        self.chain = chain

    def usable(self, engine: engines.Engine) -> bool:
        return _down_until.get(engine.name, 0.0) <= time.monotonic()

    def failed(self, engine: engines.Engine, reason: Exception) -> None:
        if engine.name not in _down_until:
            rest = [e.name for e in self.chain
                    if e.name != engine.name and e.name not in _down_until]
            then = " → ".join(rest) if rest else "the chime only"
            log.warning("%s cannot render announcements (%s); falling back to %s",
                        engine.name, reason, then)
        _down_until[engine.name] = time.monotonic() + RETRY_S

    def worked(self, engine: engines.Engine) -> None:
        if _down_until.pop(engine.name, None) is not None:
            log.info("%s renders announcements again", engine.name)
            _chime_only_logged[0] = False

    def nothing_works(self) -> None:
        if not _chime_only_logged[0]:
            _chime_only_logged[0] = True
            log.error("no text-to-speech engine works: calls are announced with the chime only "
                      "(install espeak-ng, or restore the internet for gTTS)")


def forget_failures() -> None:
    """Tests: as in a fresh process."""
    _down_until.clear()
    _chime_only_logged[0] = False


def needed(centre: Centre) -> list[tuple[str, spoken.Piece]]:
    wanted: list[tuple[str, spoken.Piece]] = spoken.centre_pieces([s.code for s in centre.services],
                                [c.number for c in centre.counters],
                                centre.announcement_languages)
    return wanted


def render_pieces(store: clips.SegmentStore, wanted: Sequence[tuple[str, spoken.Piece]],
                  chain: list[engines.Engine], progress: Progress | None = None) -> Report:
    """Each piece from the first engine in `chain` that has it or can render it: an engine
    earlier in the chain is tried again before a later one's segment is accepted."""
    fallback = Fallback(chain)
    names = {(e.name, lang, piece.text): segments.segment_id(e.name, e.voice(lang), lang,
                                                            piece.text)
             for e in chain for lang, piece in wanted}
    present = store.existing(sorted(set(names.values())))
    report = Report()
    for done, (language, piece) in enumerate(wanted, start=1):
        if not _one(store, fallback, names, present, language, piece, report):
            report.failed += 1
            fallback.nothing_works()
        if progress:
            progress(done, len(wanted))
    return report


def _one(store: clips.SegmentStore, fallback: Fallback, names: dict[tuple[str, str, str], str],
         present: set[str], language: str, piece: spoken.Piece, report: Report) -> bool:
    for e in fallback.chain:
        name = names[(e.name, language, piece.text)]
        if name in present:
            report.cached += 1
            return True
        if not fallback.usable(e):
            continue
        try:
            rendered = e.render(segments.spoken_text(piece.text), language)
            if audio.speech_bounds(rendered)[1] == 0:
                raise engines.EngineUnavailable(f"it rendered {piece.text!r} as silence")
        except engines.EngineUnavailable as reason:
            fallback.failed(e, reason)
            continue
        fallback.worked(e)
        store.put(name, audio.to_wav(segments.shape(rendered, piece.text)))
        present.add(name)
        report.rendered[e.name] += 1
        return True
    return False


def render_missing(store: clips.SegmentStore, centre: Centre, engine: str | None = None,
                   progress: Progress | None = None) -> Report:
    """Every segment `centre` can need, from `engine` (default: the centre's) and its fallbacks."""
    return render_pieces(store, needed(centre), engines.chain(engine or centre.announcement_engine),
                         progress)


def missing(store: clips.SegmentStore, centre: Centre, engine: str | None = None) -> int:
    """How many segments `engine` (default: the centre's own) has not rendered yet."""
    e = engines.engine(engine or centre.announcement_engine)
    ids = {segments.segment_id(e.name, e.voice(lang), lang, piece.text)
           for lang, piece in needed(centre)}
    return len(ids - store.existing(sorted(ids)))


def render_job(centre_id: str, engine: str | None = None) -> str:
    """The worker's job: render what the centre's config needs and is missing, from `engine`
    (default: the centre's) and its fallbacks."""
    cfg = config.load_default()
    centre = cfg.centre(centre_id)
    if centre is None:
        return f"no centre {centre_id!r} in the config"
    store = clips.SegmentStore(clips.connect(runtime.redis_url(cfg)))
    report = render_missing(store, centre, engine)
    log.info("announcement segments for %s: %s", centre_id, report)
    return str(report)


def job_id(centre_id: str, engine: str | None = None) -> str:
    return f"sounds-render-{centre_id}" + (f"-{engine}" if engine else "")


def request_render(cfg: Config, centre_id: str, redis_url: str,
                   engine: str | None = None) -> bool:
    """Enqueue `render_job` unless one for this centre (and engine) is already waiting or
    running. The demo asks for the offline engine first, so its first calls have a voice."""
    connection = clips.rq_connect(os.environ.get("RQ_REDIS_URL") or redis_url)
    try:
        q = worker.queue(cfg, QUEUE, connection)
        name = job_id(centre_id, engine)
        job = q.fetch_job(name)
        if job is not None and job.get_status() in (JobStatus.QUEUED, JobStatus.STARTED,
                                                    JobStatus.DEFERRED, JobStatus.SCHEDULED):
            return False
        q.enqueue(render_job, centre_id, engine, job_id=name, job_timeout=JOB_TIMEOUT_S,
                  result_ttl=0, failure_ttl=FAILED_KEPT_S)
        return True
    finally:
        connection.close()
