"""The one progress bar (tqdm) of the commands that run long: `bookings import` and `sync`,
`sounds render`.

It is drawn on its stream only where a person watches (a terminal). Elsewhere (a pipe, a log
file, the worker) it draws nothing: the command's one-line summary says what was done.
"""

from __future__ import annotations

import os
from typing import TextIO

from tqdm import tqdm

# For a terminal that reports no size (a bare pseudo-terminal, as `script` or a test opens):
# tqdm would take it as 0 by 0 and draw nothing there.
FALLBACK_SIZE = os.terminal_size((80, 24))


def _size(stream: TextIO) -> os.terminal_size | None:
    try:
        size = os.get_terminal_size(stream.fileno())
    except (OSError, ValueError):  # not a file descriptor (io.UnsupportedOperation), or closed
        return None
    return size if size.columns and size.lines else None


class Bar:
    """`bar(label, done, total)` as the work goes on (`total` None while it is not known yet;
    a new label or total starts the line again); `bar.clear()` before a line is printed
    under it; `bar.close()` leaves the last state on its line."""

    def __init__(self, stream: TextIO, unit: str) -> None:
        self.stream = stream
        self.unit = unit
        self.enabled = stream.isatty()
        self._bar: tqdm[None] | None = None

    def __call__(self, label: str, done: int, total: int | None) -> None:
        if not self.enabled:
            return
        bar = self._bar
        if bar is None:
            # A terminal that says its size is asked again as it is resized.
            known = _size(self.stream) is not None
            fixed = None if known else FALLBACK_SIZE
            bar = self._bar = tqdm(desc=label, total=total, unit=f" {self.unit}",
                                   file=self.stream, dynamic_ncols=known,
                                   ncols=fixed and fixed.columns, nrows=fixed and fixed.lines)
        elif bar.desc != f"{label}: " or bar.total != total:
            bar.set_description(label, refresh=False)
            bar.reset(total)  # the new phase's rate counts from here
        # tqdm's own pace (a redraw at most every 0.1 s) keeps a fast loop cheap.
        bar.update(done - bar.n)

    def clear(self) -> None:
        """Wipes the bar's line, so that a line printed next starts at its beginning; the bar
        comes back at its next redraw."""
        if self._bar is not None:
            self._bar.clear()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
