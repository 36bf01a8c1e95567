"""One import of a booking export: read the rows, apply the valid ones in file order, count.

The export is read twice, both times streamed. The first pass proves it can be read to the end
(a truncated download, bad bytes or broken JSON late in the file), so that an export that cannot
be read imports nothing rather than its first half; and it notes, per booking reference, the
fingerprint of its last row — in Redis (`ImportPlan`), not here, so memory stays flat whatever
the size. With that, a booking whose stored record already is its last row was imported from
this export before: its rows all count as unchanged, even where it cancels and reinstates it.

The second pass applies the rows in batches, one pipelined round trip each. A row that would
change a booking already checked in is held: reported, counted under `unchanged` (the booking
did not change, and the contract's summary line keeps its five counts), never applied.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from typing import Any, Protocol

import redis

from queueserver.appointments.applications import Application
from queueserver.booking_sync.rows import FileError, Opener, Rejection, read
from queueserver.bookings.plan import SETTLED, STARTED, ImportPlan
from queueserver.bookings.store import Applied, Booking, Outcome, Upsert

# Rows per pipelined round trip to Redis: enough to hide the latency, few enough to keep
# memory flat on any file size.
BATCH_ROWS = 500

READING = "reading"
APPLYING = "applying"

# A row of a booking export, or of the booking platform's approved applications: both are
# imported by the same rules (CONTRACT §11 asks it), keyed by their `ref`.
Row = Booking | Application
Rows = Iterator[tuple[int, Row | Rejection]]
# Called once per pass; each call reads the export again from its start.
RowSource = Callable[[], Rows]


@dataclass(frozen=True)
class Held:
    """A row not applied because its booking is already checked in."""

    row: int
    ticket: str
    fields: tuple[str, ...]

    def __str__(self) -> str:
        return (f"row {self.row}: held: checked in as {self.ticket}, so the change to "
                f"{', '.join(self.fields)} is not applied")


Report = Callable[[Rejection | Held], None]
# (phase: READING or APPLYING, rows done, rows in all, once the first pass has counted them)
Progress = Callable[[str, int, int | None], None]


class Store(Protocol):
    """What an import writes through: `bookings.store.BookingStore` or the booking platform's
    `ApplicationStore`."""

    def plan(self) -> ImportPlan: ...

    def fingerprint(self, row: Any) -> str: ...

    def apply(self, rows: Sequence[Any]) -> list[Applied]: ...


@dataclass
class Counts:
    imported: int = 0
    updated: int = 0
    cancelled: int = 0
    unchanged: int = 0
    rejected: int = 0

    def add(self, outcome: Outcome) -> None:
        name = outcome.value
        if outcome in (Outcome.SETTLED, Outcome.HELD):
            name = Outcome.UNCHANGED.value
        setattr(self, name, getattr(self, name) + 1)

    def __str__(self) -> str:
        return " ".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self))


def from_file(opener: Opener, fmt: str, centres: frozenset[str]) -> RowSource:
    return lambda: read(opener, fmt, centres)


def run(store: Store, source: RowSource, report: Report,
        progress: Progress | None = None) -> Counts:
    """Import every valid row; `report` hears each rejected or held row, in row order, a
    batch at a time.

    Raises `rows.FileError` before any booking is written when the export cannot be read."""
    plan = store.plan()
    try:
        total = _first_pass(store, plan, source, progress)
        return _Apply(store, plan, report, progress, total).run(source())
    finally:
        try:
            plan.drop()
        except redis.RedisError:
            pass  # it expires by itself; the error that matters is already on its way


def _first_pass(store: Store, plan: ImportPlan, source: RowSource,
                progress: Progress | None) -> int:
    last_rows: dict[str, str] = {}
    total = 0
    for _, row in source():
        total += 1
        if not isinstance(row, Rejection):
            last_rows[row.ref] = store.fingerprint(row)
            if len(last_rows) >= BATCH_ROWS:
                plan.note_last_rows(last_rows)
                last_rows.clear()
        if progress and total % BATCH_ROWS == 0:
            progress(READING, total, None)
    plan.note_last_rows(last_rows)
    return total


class _Apply:
    """The second pass, one chunk of rows at a time."""

    def __init__(self, store: Store, plan: ImportPlan, report: Report,
                 progress: Progress | None, total: int) -> None:
        self.store, self.plan, self.report, self.progress = store, plan, report, progress
        self.total = total
        self.counts = Counts()
        self.batch: list[tuple[int, Upsert[Row]]] = []
        # Bookings whose first row is in the batch: whether they are settled must be known
        # before their next row goes.
        self.undecided: set[str] = set()
        self.states: dict[str, str | None] = {}
        self.learnt: dict[str, str] = {}
        self.lines: list[Rejection | Held] = []

    def run(self, rows: Rows) -> Counts:
        done = 0
        while chunk := list(itertools.islice(rows, BATCH_ROWS)):
            self.states = self.plan.states(r.ref for _, r in chunk
                                          if not isinstance(r, Rejection))
            for number, row in chunk:
                self.row(number, row)
            self.flush()
            self.plan.save(self.learnt)
            self.learnt.clear()
            for line in sorted(self.lines, key=lambda line: line.row):
                self.report(line)
            self.lines.clear()
            done += len(chunk)
            if self.progress:
                self.progress(APPLYING, done, self.total)
        return self.counts

    def row(self, number: int, row: Row | Rejection) -> None:
        if isinstance(row, Rejection):
            self.counts.rejected += 1
            self.lines.append(row)
            return
        if row.ref in self.undecided:
            self.flush()
        state = self.states.get(row.ref)
        if state is None:
            raise FileError("the export changed while it was imported; import it again")
        if state == SETTLED:
            self.counts.unchanged += 1
        elif state == STARTED:
            self.batch.append((number, Upsert(row)))
        else:
            self.states[row.ref] = self.learnt[row.ref] = STARTED
            self.batch.append((number, Upsert(row, state)))
            self.undecided.add(row.ref)

    def flush(self) -> None:
        if not self.batch:
            return
        applied = self.store.apply([u for _, u in self.batch])
        for (number, upsert), result in zip(self.batch, applied, strict=True):
            self.note(number, upsert.booking.ref, result)
        self.batch.clear()
        self.undecided.clear()

    def note(self, number: int, ref: str, result: Applied) -> None:
        if result.outcome is Outcome.HELD:
            self.lines.append(Held(number, result.ticket, result.fields))
        if ref in self.undecided and (result.outcome is Outcome.SETTLED or result.settled):
            self.states[ref] = self.learnt[ref] = SETTLED
        self.counts.add(result.outcome)
