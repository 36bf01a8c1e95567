"""One import of a booking export: read the rows, apply the valid ones in file order, count.

The file is read twice, both times streamed. The first pass proves it can be read to the end
(a truncated download, bad bytes or broken JSON late in the file), so that a file that cannot
be read imports nothing rather than its first half; and it notes, per booking reference, a
fingerprint of its last row and how many rows it has (a small entry per booking, never a row).
With that, a booking whose stored record already is its last row was imported from this file
before: its rows all count as unchanged, even where the file cancels and reinstates it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

from queueserver.booking_sync.rows import FileError, Opener, Rejection, read
from queueserver.bookings import Booking, BookingStore, Outcome, Upsert

# Rows per pipelined round trip to Redis: enough to hide the latency, few enough to keep
# memory flat on any file size.
BATCH_ROWS = 500


@dataclass
class Counts:
    imported: int = 0
    updated: int = 0
    cancelled: int = 0
    unchanged: int = 0
    rejected: int = 0

    def add(self, outcome: Outcome) -> None:
        name = Outcome.UNCHANGED.value if outcome is Outcome.SETTLED else outcome.value
        setattr(self, name, getattr(self, name) + 1)

    def __str__(self) -> str:
        return " ".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self))


@dataclass
class _Planned:
    """What the first pass learnt of one booking reference."""

    final: str  # the fingerprint of its last valid row
    rows_left: int = 0
    started: bool = False
    settled: bool = False


def run(
    store: BookingStore,
    opener: Opener,
    fmt: str,
    centres: frozenset[str],
    on_reject: Callable[[Rejection], None],
) -> Counts:
    """Import every valid row; `on_reject` hears each rejected row as it is met.

    Raises `rows.FileError` before anything is written when the file cannot be read."""
    plan: dict[str, _Planned] = {}
    for _, row in read(opener, fmt, centres):
        if isinstance(row, Booking):
            first = plan.setdefault(row.ref, _Planned(""))
            first.final = store.fingerprint(row)
            first.rows_left += 1
    counts = Counts()
    batch: list[Upsert] = []
    # Bookings whose first row is in the batch and which have more rows: whether they are
    # settled must be known before their next row goes.
    undecided: set[str] = set()

    def flush() -> None:
        for upsert, outcome in zip(batch, store.apply(batch), strict=True):
            if outcome is Outcome.SETTLED and upsert.booking.ref in undecided:
                plan[upsert.booking.ref].settled = True
            counts.add(outcome)
        batch.clear()
        undecided.clear()

    for _, row in read(opener, fmt, centres):
        if isinstance(row, Rejection):
            counts.rejected += 1
            on_reject(row)
            continue
        if row.ref in undecided:
            flush()
        planned = plan.get(row.ref)
        if planned is None:
            raise FileError("the file changed while it was imported; import it again")
        planned.rows_left -= 1
        if planned.settled:
            counts.unchanged += 1
        elif planned.started:
            batch.append(Upsert(row))
        else:
            planned.started = True
            batch.append(Upsert(row, planned.final))
            if planned.rows_left:
                undecided.add(row.ref)
        if not planned.rows_left:
            del plan[row.ref]
        if len(batch) >= BATCH_ROWS:
            flush()
    flush()
    return counts
