"""One import of a booking export: read the rows, apply the valid ones in file order, count.

The export is read once, streamed, and each row validated once. That reading proves the export
can be read to the end (a truncated download, bad bytes or broken JSON late in the file), so
that an export that cannot be read imports nothing rather than its first half; it keeps each row
as the store will write it (its stored values, the identity number already hashed) in a
temporary file, and notes, per booking reference, the fingerprint of its last row — in Redis
(`ImportPlan`), not here, so memory stays flat whatever the size. With that, a booking whose
stored record already is its last row was imported from this export before: its rows all count
as unchanged, even where it cancels and reinstates it.

Then the kept rows are applied in batches, one pipelined round trip each. A row that would
change a booking already checked in is held: reported, counted under `unchanged` (the booking
did not change, and the contract's summary line keeps its five counts), never applied.
"""

from __future__ import annotations

import struct
import tempfile
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, fields
from typing import IO, Any, Protocol

import msgspec
import redis

from queueserver.appointments.applications import Application
from queueserver.booking_sync.rows import FileError, Opener, Rejection, read
from queueserver.bookings.plan import SETTLED, STARTED, ImportPlan
from queueserver.bookings.store import Applied, Booking, Outcome, Ready

# Rows per pipelined round trip to Redis: enough to hide the latency, few enough to keep
# memory flat on any file size.
BATCH_ROWS = 2000
# Batches being applied at once: two, so that Redis has the next one's scripts while the
# importer reads the answers to one and sends the other.
IN_FLIGHT = 2

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
# (phase: READING or APPLYING, rows done, rows in all, once reading has counted them)
Progress = Callable[[str, int, int | None], None]


class Store(Protocol):
    """What an import writes through: `bookings.store.BookingStore` or the booking platform's
    `ApplicationStore`."""

    def plan(self) -> ImportPlan: ...

    def prepare(self, row: Any) -> tuple[str, str, list[str]]:
        """The row's reference, its fingerprint, and what `apply_ready` needs of it."""

    def apply_ready(self, rows: Sequence[Ready]) -> list[Applied]:
        """Apply prepared rows in order; a booking whose first row here found it settled has
        its later rows here count as settled too."""


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
        with tempfile.TemporaryFile(prefix="queueserver-import-") as kept:
            total = _read(store, plan, source, kept, progress)
            kept.seek(0)
            return _Apply(store, plan, report, progress, total).run(_kept(kept))
    finally:
        try:
            plan.drop()
        except redis.RedisError:
            pass  # it expires by itself; the error that matters is already on its way


# The kept rows: batches of [row number, ref, stored values] or, for a rejected row, [row
# number, field, reason], each batch MessagePack after its length.
_LENGTH = struct.Struct("<I")
Kept = list[tuple[int, str, list[str] | str]]


def _read(store: Store, plan: ImportPlan, source: RowSource, out: IO[bytes],
          progress: Progress | None) -> int:
    """Validate and prepare every row once, keep them in `out`; the rows in all."""
    last_rows: dict[str, str] = {}
    batch: Kept = []
    encode = msgspec.msgpack.Encoder().encode
    total = 0
    for number, row in source():
        total += 1
        if isinstance(row, Rejection):
            batch.append((number, row.field, row.reason))
        else:
            ref, fingerprint, ready = store.prepare(row)
            last_rows[ref] = fingerprint
            batch.append((number, ref, ready))
        if len(batch) >= BATCH_ROWS:
            plan.note_last_rows(last_rows)
            last_rows.clear()
            data = encode(batch)
            out.write(_LENGTH.pack(len(data)) + data)
            batch.clear()
            if progress:
                progress(READING, total, None)
    plan.note_last_rows(last_rows)
    data = encode(batch)
    out.write(_LENGTH.pack(len(data)) + data)
    return total


def _kept(kept: IO[bytes]) -> Iterator[Kept]:
    decode = msgspec.msgpack.Decoder(Kept).decode
    while head := kept.read(_LENGTH.size):
        yield decode(kept.read(_LENGTH.unpack(head)[0]))


@dataclass
class _Prepared:
    """A batch ready for the store: the rows to send (with row number, reference and whether
    it is the booking's first row here), what the plan learns once they are applied, and the
    batch's lines so far (its rejected rows)."""

    refs: set[str]
    sent: list[tuple[int, str, bool]]
    ready: list[Ready]
    learnt: dict[str, str]
    lines: list[Rejection | Held]
    rows: int


class _Apply:
    """Applying the kept rows, one batch at a time, up to IN_FLIGHT batches at once: while Redis
    applies one (a thread waits for it), the next is prepared and sent, so Redis always has the
    next batch's scripts queued. Never two batches that share a booking: batches of different
    bookings touch different records, so their order between them does not matter. Batches are
    finished (counted, noted in the plan, their lines reported in row order) in file order."""

    def __init__(self, store: Store, plan: ImportPlan, report: Report,
                 progress: Progress | None, total: int) -> None:
        self.store, self.plan, self.report, self.progress = store, plan, report, progress
        self.total = total
        self.counts = Counts()
        self.done = 0

    def run(self, batches: Iterator[Kept]) -> Counts:
        pending: deque[tuple[_Prepared, Future[list[Applied]]]] = deque()
        with ThreadPoolExecutor(IN_FLIGHT, thread_name_prefix="import-apply") as writers:
            for batch in batches:
                refs = {ref for _, ref, ready in batch if not isinstance(ready, str)}
                # A booking in flight: finish up to its batch first (its plan state is read now).
                while any(not refs.isdisjoint(p.refs) for p, _ in pending):
                    self.finish(*pending.popleft())
                prepared = self.prepare(batch, refs)
                if len(pending) == IN_FLIGHT:
                    self.finish(*pending.popleft())
                pending.append((prepared, writers.submit(self.apply, prepared.ready)))
            while pending:
                self.finish(*pending.popleft())
        return self.counts

    def apply(self, rows: list[Ready]) -> list[Applied]:
        return self.store.apply_ready(rows) if rows else []

    def prepare(self, batch: Kept, refs: set[str]) -> _Prepared:
        states = self.plan.states(refs)
        prepared = _Prepared(refs, [], [], {}, [], len(batch))
        for number, ref, ready in batch:
            if isinstance(ready, str):
                self.counts.rejected += 1
                prepared.lines.append(Rejection(number, ref, ready))
                continue
            state = states.get(ref)
            if state is None:
                raise FileError("the export changed while it was imported; import it again")
            if state == SETTLED:
                self.counts.unchanged += 1
            elif state == STARTED:
                prepared.sent.append((number, ref, False))
                prepared.ready.append((ready, ""))
            else:
                states[ref] = prepared.learnt[ref] = STARTED
                prepared.sent.append((number, ref, True))
                prepared.ready.append((ready, state))
        return prepared

    def finish(self, prepared: _Prepared, applying: Future[list[Applied]]) -> None:
        """Wait for the batch, count it, note in the plan what it learnt, report its lines."""
        lines = prepared.lines
        for (number, ref, first), result in zip(prepared.sent, applying.result(), strict=True):
            if result.outcome is Outcome.HELD:
                lines.append(Held(number, result.ticket, result.fields))
            if first and (result.outcome is Outcome.SETTLED or result.settled):
                prepared.learnt[ref] = SETTLED
            self.counts.add(result.outcome)
        self.plan.save(prepared.learnt)
        for line in sorted(lines, key=lambda line: line.row):
            self.report(line)
        self.done += prepared.rows
        if self.progress:
            self.progress(APPLYING, self.done, self.total)
