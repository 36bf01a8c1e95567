"""`queueserver sounds render [--engine gtts|espeak|tone] [--centre ID]` (CONTRACT §3).

Renders every segment the centres' configs can need, drawing a progress bar on standard error,
then prints one line per centre: `CENTRE: rendered=N cached=N failed=N rendered_ENGINE=N`. Exit 0
when every segment exists, 1 when some could be rendered by no engine (those calls chime only),
3 when Redis failed (run it again: what was rendered is kept).
"""

from __future__ import annotations

import logging.config
import sys
from typing import TextIO

import redis

from queueserver.platform import logs, runtime
from queueserver.platform.config import Config
from queueserver.sounds import clips, render

EXIT_FAILED = 1
EXIT_UNAVAILABLE = 3
BAR_WIDTH = 30
# Without a terminal (a log file, CI), a line per tenth instead of redrawing one line.
LOG_STEPS = 10


class ProgressBar:
    def __init__(self, label: str, out: TextIO) -> None:
        self.label = label
        self.out = out
        self.tty = out.isatty()
        self.shown = -1

    def __call__(self, done: int, total: int) -> None:
        steps = BAR_WIDTH if self.tty else LOG_STEPS
        step = done * steps // max(1, total)
        if step == self.shown and done != total:
            return
        self.shown = step
        filled = done * BAR_WIDTH // max(1, total)
        line = f"{self.label} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{total}"
        self.out.write(("\r" + line) if self.tty else line + "\n")
        if self.tty and done == total:
            self.out.write("\n")
        self.out.flush()


def run_render(cfg: Config, engine: str | None, centre_id: str | None) -> int:
    logging.config.dictConfig(logs.config())
    if centre_id and cfg.centre(centre_id) is None:
        sys.exit(f"queueserver: unknown centre {centre_id!r}")
    centres = [c for c in cfg.centres if centre_id in (None, c.id)]
    store = clips.SegmentStore(clips.connect(runtime.redis_url(cfg)))
    failed = 0
    try:
        for centre in centres:
            report = render.render_missing(store, centre, engine,
                                           ProgressBar(centre.id, sys.stderr))
            print(f"{centre.id}: {report}", flush=True)
            failed += report.failed
    except redis.RedisError as e:
        print(f"queueserver: Redis failed ({e}); run it again (what was rendered is kept)",
              file=sys.stderr)
        return EXIT_UNAVAILABLE
    return EXIT_FAILED if failed else 0
