"""A progress bar for imports and syncs, drawn only where a person watches (a terminal).

Elsewhere (a pipe, a log, the worker) it draws nothing: the command's one-line summary says it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from queueserver.booking_sync.importer import APPLYING

# Redraws at most this often: a terminal cannot show more, and each redraw costs a write.
REDRAW_S = 0.1
BAR_CELLS = 30


class Bar:
    """An `importer.Progress`: `bar(phase, done, total)`; `bar.close()` ends its line."""

    def __init__(self, stream: TextIO, now: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.enabled = stream.isatty()
        self.now = now
        self.started = now()
        self.last = float("-inf")
        self.drawn = False

    def __call__(self, phase: str, done: int, total: int | None) -> None:
        if not self.enabled:
            return
        at = self.now()
        final = total is not None and done >= total
        if at - self.last < REDRAW_S and not final:
            return
        self.last = at
        rate = done / max(at - self.started, 1e-6)
        if phase == APPLYING and total:
            filled = BAR_CELLS * done // total
            bar = "#" * filled + "-" * (BAR_CELLS - filled)
            text = (f"applying [{bar}] {100 * done // total:3d}% {done:,}/{total:,} rows "
                    f"{rate:,.0f} rows/s")
        else:
            text = f"reading {done:,} rows {rate:,.0f} rows/s"
        # \r and clear-to-end: the bar redraws itself on one line.
        self.stream.write(f"\r{text}\x1b[K")
        self.stream.flush()
        self.drawn = True

    def clear(self) -> None:
        """Wipes the bar's line, so that a line printed next starts at its beginning; the
        bar comes back at its next redraw."""
        if self.drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.drawn = False
            self.last = float("-inf")

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False
