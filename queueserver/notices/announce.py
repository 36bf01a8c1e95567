"""The worker's part of an announced notice: render each language's text whole (with the engine
fallback of calls), join its clip into the cache, then `notice.announced` with every clip, so
the displays play it once it is ready. On the `announcements` queue, beside the segments of
calls; a call never waits for it (calls name only segments that exist)."""

from __future__ import annotations

import logging
import os

from queueserver.notices import expiry
from queueserver.platform import config, runtime
from queueserver.platform import jobs as worker
from queueserver.platform.clock import from_environment
from queueserver.platform.config import Config
from queueserver.queue.tickets import CHIME_URL
from queueserver.sounds import announcer, audio, clips, free_text, render, segments
from queueserver.store.lua import Scripts

log = logging.getLogger("queueserver.notices")

JOB_TIMEOUT_S = 10 * 60  # three languages of 280 characters, gTTS timing out before espeak-ng
FAILED_KEPT_S = 3600


def request(cfg: Config, centre_id: str, notice_id: str, text_en: str, text_zh: str,
            redis_url: str) -> None:
    connection = clips.rq_connect(os.environ.get("RQ_REDIS_URL") or redis_url)
    try:
        worker.queue(cfg, render.QUEUE, connection).enqueue(
            announce_job, centre_id, notice_id, text_en, text_zh,
            job_id=f"notice-{centre_id}-{notice_id}", job_timeout=JOB_TIMEOUT_S, result_ttl=0,
            failure_ttl=FAILED_KEPT_S, description=f"say notice {notice_id} of {centre_id}")
    finally:
        connection.close()


def _cache(store: clips.SegmentStore, url: str) -> None:
    name = announcer.clip_name(url)
    if store.get_clip(name) is not None:
        return
    ids = segments.clip_segments(name) or []
    wavs = [w for w in store.get(ids) if w is not None]
    if len(wavs) == len(ids):
        store.put_clip(name, audio.to_wav(segments.join([audio.from_wav(w) for w in wavs])))


def announce_job(centre_id: str, notice_id: str, text_en: str, text_zh: str) -> str:
    cfg = config.load_default()
    centre = cfg.centre(centre_id)
    if centre is None:
        return f"no centre {centre_id!r} in the config"
    url = runtime.redis_url(cfg)
    store = clips.SegmentStore(clips.connect(url))
    said = free_text.texts(centre, text_en, text_zh)
    urls = free_text.render_missing(store, centre, said)
    # Planned and cached before `notice.announced` names them: a clip nobody planned is a 404.
    store.plan([announcer.clip_name(u) for u in urls])
    for clip_url in urls:
        _cache(store, clip_url)
    if len(urls) < len(said):
        log.warning("notice %s of %s is said in %d of %d languages (no engine could render the "
                    "rest)", notice_id, centre_id, len(urls), len(said))
    names, ctx = expiry.context(centre.id, from_environment(cfg.tz))
    ctx.update(id=notice_id, announcement={"text": said, "clips": [CHIME_URL, *urls]})
    r = runtime.connect(url)
    try:
        sent = Scripts(r)("notice_announced", names, [ctx])
    finally:
        r.close()
    return "announced" if sent else "removed before it was said"
