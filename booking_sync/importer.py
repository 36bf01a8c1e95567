"""One import of a booking export: read the rows, apply the valid ones in file order, count.

The export is read once, streamed, and each row validated once. That reading proves the export
can be read to the end (a truncated download, bad bytes or broken JSON late in the file), so
that an export that cannot be read imports nothing rather than its first half; it keeps each row
as the store will write it (its stored values, the identity number already hashed) in a
temporary file, and notes, per booking reference, the fingerprint of its last row — in Redis
(`ImportPlan`), not here, so memory stays flat whatever the size. With that, a booking whose
stored record already is its last row was imported from this export before: its rows all count
as unchanged, even where it cancels and reinstates it. A long export file is read by two
processes, each preparing every other batch (`_read`, `_Helper`): the machine's second core
does half of it while Redis waits for the first write.

Then the kept rows are applied in batches, one pipelined round trip each. A row that would
change a booking already checked in is held: reported, counted under `unchanged` (the booking
did not change, and the contract's summary line keeps its five counts), never applied.
"""

from __future__ import annotations

import os
import signal
import struct
import tempfile
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, fields
from typing import IO, Any, NoReturn, Protocol

import msgspec
import redis

from queueserver.appointments.applications import Application
from queueserver.booking_sync.rows import FileError, Opener, Rejection, read, read_some
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


class FileSource:
    """The rows of an export file (a RowSource: each call reads the file again), which can also
    be read in shares: `some(wanted)` validates only the rows wanted. That lets a second
    process take half of the reading pass (`_Helper`)."""

    def __init__(self, opener: Opener, fmt: str, centres: frozenset[str]) -> None:
        self.opener, self.fmt, self.centres = opener, fmt, centres

    def __call__(self) -> Rows:
        return read(self.opener, self.fmt, self.centres)

    def some(self, wanted: Callable[[int], bool]) -> Iterator[tuple[int, Row | Rejection | None]]:
        return read_some(self.opener, self.fmt, self.centres, wanted)


def from_file(opener: Opener, fmt: str, centres: frozenset[str]) -> RowSource:
    return FileSource(opener, fmt, centres)


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
# A batch of the reading pass: the rows read so far, the batch as kept (its length first), and
# each booking's fingerprint of its last row in the batch; None, {} for a batch another process
# reads.
Batch = tuple[int, bytes | None, dict[str, str]]
# A file of more batches than this is read by two processes.
ALONE_BATCHES = 2


def _read(store: Store, plan: ImportPlan, source: RowSource, out: IO[bytes],
          progress: Progress | None) -> int:
    """Validate and prepare every row once, keep them in `out`; the rows in all.

    Validating and preparing (the stored values, their HMACs, the fingerprint) is most of the
    reading's time, and Redis idles meanwhile: so an export file of more than ALONE_BATCHES
    batches is read on by two processes, each of them reading the whole file and preparing
    every other batch (`_Helper`); this one keeps them all, in file order."""
    helper: _Helper | None = None

    def wanted(count: int) -> bool:
        nonlocal helper
        if helper is None and count == ALONE_BATCHES * BATCH_ROWS + 1 and _can_fork():
            assert isinstance(source, FileSource)
            helper = _Helper(store, source, first=ALONE_BATCHES)  # a row beyond: the file is long
        return helper is None or not _helpers(_batch_of(count), ALONE_BATCHES)

    rows = source.some(wanted) if isinstance(source, FileSource) else source()
    total = 0
    try:
        for total, kept, last_rows in _batches(store, rows):
            if kept is None:
                assert helper is not None
                kept, last_rows = helper.take()
            plan.note_last_rows(last_rows)
            out.write(kept)
            if progress:
                progress(READING, total, None)
        if helper is not None:
            helper.finish()
    finally:
        if helper is not None:
            helper.stop()
    return total


def _batch_of(count: int) -> int:
    """The batch (0, 1, ...) of the file's count-th row."""
    return (count - 1) // BATCH_ROWS


def _helpers(batch: int, first: int) -> bool:
    """Whether the helper started at batch `first` prepares this batch: every other one."""
    return batch >= first and (batch - first) % 2 == 1


def _batches(store: Store, rows: Iterator[tuple[int, Row | Rejection | None]]) -> Iterator[Batch]:
    """The rows prepared and kept, a batch of BATCH_ROWS at a time (the last one perhaps
    shorter)."""
    encode = msgspec.msgpack.Encoder().encode
    batch: Kept = []
    last_rows: dict[str, str] = {}
    total = skipped = 0
    for number, row in rows:
        total += 1
        if row is None:
            skipped += 1
        elif isinstance(row, Rejection):
            batch.append((number, row.field, row.reason))
        else:
            ref, fingerprint, ready = store.prepare(row)
            last_rows[ref] = fingerprint
            batch.append((number, ref, ready))
        if total % BATCH_ROWS == 0:
            yield _batch(total, skipped, batch, last_rows, encode)
            batch, last_rows, skipped = [], {}, 0
    if batch or skipped:
        yield _batch(total, skipped, batch, last_rows, encode)


def _batch(total: int, skipped: int, batch: Kept, last_rows: dict[str, str],
           encode: Callable[[Any], bytes]) -> Batch:
    if skipped:
        assert not batch, "a batch is read by one process or the other, never both"
        return total, None, {}
    data = encode(batch)
    return total, _LENGTH.pack(len(data)) + data, last_rows


def _can_fork() -> bool:
    return hasattr(os, "fork")


class _Helper:
    """A forked process that reads the file too and prepares every other batch from `first`
    on (`first + 1`, `first + 3`, ...), sending each through a pipe, in order, as a frame
    (`_FRAME`: its kind and length): a batch (its kept bytes and last rows), or the reason the
    file cannot be read, or that the helper failed. It touches nothing else: no Redis, no
    output."""

    def __init__(self, store: Store, source: FileSource, first: int) -> None:
        def wanted(count: int) -> bool:
            return _helpers(_batch_of(count), first)

        readable, writable = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            os.close(readable)
            _help(store, source.some(wanted), writable)
        os.close(writable)
        self.pipe = open(readable, "rb")  # closed by stop()
        self.decode = msgspec.msgpack.Decoder(tuple[bytes, list[tuple[str, str]]]).decode

    def take(self) -> tuple[bytes, dict[str, str]]:
        """The helper's next batch: its kept bytes, and its last rows."""
        head = self.pipe.read(_FRAME.size)
        if len(head) < _FRAME.size:
            raise RuntimeError(f"the import's second reader stopped ({self._status()})")
        kind, size = _FRAME.unpack(head)
        payload = self.pipe.read(size)
        if kind == _BATCH:
            kept, last_rows = self.decode(payload)
            return kept, dict(last_rows)
        if kind == _UNREADABLE:
            raise FileError(payload.decode())
        raise RuntimeError(f"the import's second reader failed ({payload.decode()})")

    def finish(self) -> None:
        """The helper has sent everything: it must end well."""
        status = self._status()
        if status != "exit 0":
            raise RuntimeError(f"the import's second reader ended badly ({status})")

    def stop(self) -> None:
        if self.pid:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            self.pid = 0
        self.pipe.close()

    def _status(self) -> str:
        _, status = os.waitpid(self.pid, 0)
        self.pid = 0
        code = os.waitstatus_to_exitcode(status)
        return f"exit {code}" if code >= 0 else f"signal {-code}"


_FRAME = struct.Struct("<cI")
_BATCH, _UNREADABLE, _FAILED = b"B", b"U", b"F"


def _help(store: Store, rows: Iterator[tuple[int, Row | Rejection | None]],
          fd: int) -> NoReturn:
    """The helper's whole life, in the forked process."""
    code = 0
    encode = msgspec.msgpack.Encoder().encode
    try:
        with open(fd, "wb") as pipe:
            def send(kind: bytes, payload: bytes) -> None:
                pipe.write(_FRAME.pack(kind, len(payload)) + payload)

            try:
                for _, kept, last_rows in _batches(store, rows):
                    if kept is not None:
                        send(_BATCH, encode((kept, list(last_rows.items()))))
            except FileError as e:
                send(_UNREADABLE, str(e).encode())
            except Exception as e:  # told to the importer, which raises it
                # Its kind only: a message might quote a row's value.
                send(_FAILED, type(e).__name__.encode())
    except BaseException:  # the importer went away (a broken pipe), or was interrupted
        code = 1
    finally:
        os._exit(code)


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
