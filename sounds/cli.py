"""`queueserver sounds render [--engine gtts|espeak|tone] [--centre ID]` (CONTRACT §3).

Renders every segment the centres' configs can need, with a progress bar on standard error in a
terminal, then prints one line per centre: `CENTRE: rendered=N cached=N failed=N
rendered_ENGINE=N`. Exit 0 when every segment exists, 1 when some could be rendered by no engine
(those calls chime only), 3 when Redis failed (run it again: what was rendered is kept).
"""

from __future__ import annotations

import logging.config
import sys
from functools import partial

import redis

from queueserver.platform import logs, runtime
from queueserver.platform.config import Config
from queueserver.platform.progress import Bar
from queueserver.sounds import clips, render

EXIT_FAILED = 1
EXIT_UNAVAILABLE = 3


def run_render(cfg: Config, engine: str | None, centre_id: str | None) -> int:
    logging.config.dictConfig(logs.config())
    if centre_id and cfg.centre(centre_id) is None:
        sys.exit(f"queueserver: unknown centre {centre_id!r}")
    centres = [c for c in cfg.centres if centre_id in (None, c.id)]
    store = clips.SegmentStore(clips.connect(runtime.redis_url(cfg)))
    failed = 0
    try:
        for centre in centres:
            bar = Bar(sys.stderr, "segments")
            try:
                report = render.render_missing(store, centre, engine, partial(bar, centre.id))
            finally:
                bar.close()
            print(f"{centre.id}: {report}", flush=True)
            failed += report.failed
    except redis.RedisError as e:
        print(f"queueserver: Redis failed ({e}); run it again (what was rendered is kept)",
              file=sys.stderr)
        return EXIT_UNAVAILABLE
    return EXIT_FAILED if failed else 0
