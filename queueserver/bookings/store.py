"""The booking store: the only code that writes bookings to Redis (CONTRACT §2).

A booking is a hash in its centre's slot (`keys.booking`), found through the index from
reference to centre (`keys.booking_index`), with a history list of what changed (field names
only), listed by day (`keys.bookings_on`) and by identity hash (`keys.bookings_by_id`). The
plain identity number is turned into a keyed hash, a masked form and the kiosks' verifier here,
and goes no further. `booking_upsert.lua` compares and writes each row, a few rows a call; a
booking that moves centre leaves a tombstone (status `moved`) in the old centre, then is
written in the new one. A booking already checked in is never changed: a row that
differs is held, recorded and reported instead.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import chain
from typing import Any, Generic, TypeVar

import msgspec
import redis

from queueserver.bookings.plan import ImportPlan
from queueserver.platform import connections
from queueserver.rules import identity
from queueserver.store import keys, lua


class Outcome(StrEnum):
    """How one row changed the store; the import counts each."""

    IMPORTED = "imported"
    UPDATED = "updated"
    CANCELLED = "cancelled"
    UNCHANGED = "unchanged"
    # Unchanged, and more: the store already holds what the file's last row for this booking
    # says, so the file was applied before and its other rows for it change nothing either.
    SETTLED = "settled"
    # Not applied: the booking is checked in and keeps what it was checked in with.
    HELD = "held"


@dataclass(frozen=True)
class Applied:
    """What one row did: its outcome and, when HELD, the ticket and the fields not applied.
    `settled` (on HELD too): the file was applied before, its other rows for it change
    nothing."""

    outcome: Outcome
    ticket: str = ""
    fields: tuple[str, ...] = ()
    settled: bool = False


class Booking(msgspec.Struct, frozen=True):
    """One validated booking as the export gives it, the plain identity number included. (A
    Struct: an import makes one a row, and a frozen dataclass takes five times as long.)"""

    ref: str
    centre: str
    date: str
    slot_start: str
    slot_end: str
    application_type: str
    surname: str
    given_names: str
    id_kind: str
    id_number: str
    passport_no: str
    nationality: str
    status: str


R = TypeVar("R")


@dataclass(frozen=True)
class Upsert(Generic[R]):
    """One row to apply (a Booking here; the booking platform's import applies its approved
    applications the same way). `final` is, on a row's first occurrence in the file only, the
    fingerprint of its last row there: where the store holds exactly that, the outcome is
    SETTLED and nothing is written, so importing a file twice changes nothing."""

    booking: R
    final: str = ""


# The stored fields of a booking, in their order (`BookingStore.stored_values`); the hash also
# holds `updated_at`, `source`, `ticket` and a hold's `held_fp` and `held_fields`.
STORED = ("ref", "centre", "date", "slot_start", "slot_end", "application_type", "surname",
          "given_names", "id_kind", "id_hash", "id_masked", "id_verifier", "passport_no",
          "nationality", "status")
_NAMES = ",".join(STORED)
# The fingerprint's text: each field as name=byte length:value, joined by ';'.
_FP_TEXT = ";".join(f"{name}=%d:%s" for name in STORED)
_REF, _CENTRE = STORED.index("ref"), STORED.index("centre")
# The rows go to the script as one JSON argument (cjson): MessagePack (cmsgpack) would be a
# little cheaper to read, but the in-memory Redis of a demo without redis-server (fakeredis)
# has no cmsgpack.
_PACK = msgspec.json.Encoder().encode
# Redis runs one script at a time for every centre it holds, so an import's script calls are
# kept well under the half millisecond that issue 20 allows any script (at 250 rows a call, Redis
# was held 4-7 ms, every check-in and call of every centre waiting). A call stops once it has
# run CALL_BUDGET_US, before a booking it has not touched, and the rows it left go in the next
# round trip. How many rows a call is sent follows how long rows take on this Redis at this
# moment, as the calls of the last round measured them: as many as fill CALL_FILL of the
# budget, ROWS_A_CALL to start with, never over MAX_ROWS_A_CALL (a booking's rows stay in one
# call, however many). 150 µs, not 250: Lua's collector and the machine add up to a few hundred
# µs to some calls, and with every script loaded (as on a live Redis) hundreds of an import's
# calls still passed 500 µs at 250, tens at 150, the import as fast (docs/benchmarks.md, "An
# import's script calls stop at a budget").
CALL_BUDGET_US = 150
CALL_FILL = 0.7
ROWS_A_CALL = 4
MAX_ROWS_A_CALL = 32

# A row ready to apply: its stored values (`BookingStore.stored_values`) and the fingerprint of
# the file's last row for the booking, on its first row only (see `Upsert`).
Ready = tuple[list[str], str]


class BookingStore:
    """Writes bookings for one import or sync run: `source` is the file name, or "feed"."""

    def __init__(self, r: redis.Redis, secret: bytes, source: str, at: str) -> None:
        self._r = r
        self._secret = secret
        self._source = source
        self._at = at
        self._script = r.register_script(lua.source("booking_upsert"))
        self._kiosk_keys: dict[str, bytes] = {}
        # The rows a call, and what the calls took (`_adapt`): an estimate, which the importer's
        # two batches in flight (two threads) may update at once; a lost update costs nothing.
        self._rows_a_call = ROWS_A_CALL
        self._timed_rows = self._timed_us = 0.0

    def apply(self, rows: Sequence[Booking | Upsert[Booking]]) -> list[Applied]:
        """Apply the rows in order (a plain Booking is an Upsert without `final`)."""
        batch = [row if isinstance(row, Upsert) else Upsert(row) for row in rows]
        return self.apply_ready([(self.stored_values(u.booking), u.final) for u in batch])

    def apply_ready(self, rows: Sequence[Ready]) -> list[Applied]:
        """Apply the rows in order: one pipelined round trip, each centre's rows in a few
        script calls, plus two calls per move. A booking whose first row here found it settled
        has its later rows here count as settled too."""
        refs = list(dict.fromkeys(values[_REF] for values, _ in rows))
        found = connections.hmget(self._r, keys.booking_index(), refs)
        homes: dict[str, str | None] = dict(zip(refs, found, strict=True))
        outcomes: list[Applied | None] = [None] * len(rows)
        groups: dict[str, list[int]] = {}  # centre -> the rows waiting for its call
        placed: dict[str, str] = {}
        settled: set[str] = set()
        for i, (values, final) in enumerate(rows):
            ref, centre = values[_REF], values[_CENTRE]
            home = homes.get(ref)
            if home is not None and home != centre:
                # A move reads the old record before writing the copy: finish what is queued.
                self._flush(rows, groups, placed, outcomes, settled)
                if ref in settled:
                    outcomes[i] = Applied(Outcome.SETTLED)
                    continue
                moved = outcomes[i] = self._move(values, final, home)
                if moved.outcome is Outcome.SETTLED or moved.settled:
                    settled.add(ref)
                if moved.outcome not in (Outcome.SETTLED, Outcome.HELD):
                    homes[ref] = centre
            else:
                groups.setdefault(centre, []).append(i)
                if home is None:
                    placed[ref] = homes[ref] = centre
        self._flush(rows, groups, placed, outcomes, settled)
        return [o for o in outcomes if o is not None]

    def plan(self) -> ImportPlan:
        """A new, empty plan for one import through this store."""
        return ImportPlan(self._r)

    def stored_values(self, b: Booking) -> list[str]:
        """The hash's fields' values, in `STORED`'s order."""
        kiosk_key = self._kiosk_keys.get(b.centre)
        if kiosk_key is None:
            kiosk_key = self._kiosk_keys[b.centre] = identity.kiosk_key(self._secret, b.centre)
        id_hash, id_masked, id_verifier = identity.stored_forms(self._secret, kiosk_key,
                                                                b.id_kind, b.id_number)
        return [b.ref, b.centre, b.date, b.slot_start, b.slot_end, b.application_type,
                b.surname, b.given_names, b.id_kind, id_hash, id_masked, id_verifier,
                b.passport_no, b.nationality, b.status]

    def stored_fields(self, b: Booking) -> list[tuple[str, str]]:
        """The hash's fields, in order; `updated_at`, `source`, `ticket` and a hold's
        `held_fp` and `held_fields` are not here."""
        return list(zip(STORED, self.stored_values(b), strict=True))

    def prepare(self, b: Booking) -> tuple[str, str, list[str]]:
        """What an import keeps of a row: its reference, fingerprint and stored values."""
        values = self.stored_values(b)
        return b.ref, fingerprint(values), values

    def fingerprint(self, b: Booking) -> str:
        return fingerprint(self.stored_values(b))

    def _call(self, centre: str, batch: Sequence[Ready], client: Any, moved_from: str = "",
              mode: str = "upsert", budget_us: int | None = None) -> Any:
        return self._script(
            keys=[keys.booking(centre, ""), keys.booking_history(centre, ""),
                  keys.bookings_on(centre, ""), keys.bookings_by_id(centre, "")],
            args=[mode, self._at, self._source, moved_from, _NAMES,
                  _PACK([[final, *values] for values, final in batch]),
                  "" if budget_us is None else str(budget_us)],
            client=client)

    def _flush(self, rows: Sequence[Ready], groups: dict[str, list[int]],
               placed: dict[str, str], outcomes: list[Applied | None], settled: set[str]) -> None:
        if not groups:
            return
        calls = self._calls(rows, groups)
        # Each round applies at least one booking a call: at most as many rounds as rows.
        while calls:
            pipe = connections.batch(self._r)  # on a cluster, one call at a time
            for centre, call in calls:
                self._call(centre, [rows[i] for i in call], pipe, budget_us=CALL_BUDGET_US)
            left: dict[str, list[int]] = {}
            applied_rows = took_us = 0
            for (centre, call), raw in zip(calls, pipe.execute(), strict=True):
                answer = _ok(raw)
                done = answer["rows"]
                for i, value in zip(call, done, strict=False):
                    applied = outcomes[i] = _applied(value)
                    if applied.outcome is Outcome.SETTLED or applied.settled:
                        settled.add(rows[i][0][_REF])
                if len(done) < len(call):
                    left.setdefault(centre, []).extend(call[len(done):])
                applied_rows += len(done)
                took_us += answer["us"]
            self._adapt(applied_rows, took_us)
            calls = self._calls(rows, left)
        # The index is written after the rows, so it never names a centre without the booking.
        if placed:
            connections.bulk(self._r, connections.hset_commands(keys.booking_index(), placed))
        groups.clear()
        placed.clear()

    def _calls(self, rows: Sequence[Ready],
               groups: dict[str, list[int]]) -> list[tuple[str, list[int]]]:
        """Each centre's rows (their indexes, in order) in calls of about `_rows_a_call`."""
        calls: list[tuple[str, list[int]]] = []
        for centre, members in groups.items():
            # A booking's rows all go in the call of its first: a call knows which of its
            # bookings it found settled, the next call would not.
            of_ref: dict[str, list[int]] = {}
            current: list[int] = []
            for i in members:
                ref = rows[i][0][_REF]
                call = of_ref.get(ref)
                if call is None:
                    if not current or len(current) >= self._rows_a_call:
                        current = []
                        calls.append((centre, current))
                    call = of_ref[ref] = current
                call.append(i)
        return calls

    def _adapt(self, rows: int, took_us: float) -> None:
        """The rows a call from now on: as many as fill CALL_FILL of the budget at the time a
        row took in the last rounds (each round's weight halved at the next, so that a round of
        a few left-over rows moves it little); at least one, at most MAX_ROWS_A_CALL."""
        self._timed_rows = self._timed_rows / 2 + rows
        self._timed_us = self._timed_us / 2 + took_us
        fits = CALL_FILL * CALL_BUDGET_US * self._timed_rows / max(self._timed_us, 1)
        self._rows_a_call = max(1, min(MAX_ROWS_A_CALL, int(fits)))

    def _move(self, values: list[str], final: str, old: str) -> Applied:
        moved_out = _ok(self._call(old, [(values, final)], self._r, mode="move_out"))["rows"][0]
        if not isinstance(moved_out, dict) or "before" not in moved_out:
            return _applied(moved_out)
        before = json.dumps(moved_out["before"], ensure_ascii=False)
        centre = values[_CENTRE]
        moved_in = self._call(centre, [(values, "")], self._r, moved_from=before)
        applied = _applied(_ok(moved_in)["rows"][0])
        self._r.hset(keys.booking_index(), values[_REF], centre)
        return applied


def fingerprint(values: Sequence[str]) -> str:
    """Says whether a stored record equals a row's stored values; booking_upsert.lua computes
    the same. SHA-1 is enough: it guards against no adversary, and Redis's Lua has it built in."""
    # Text all ASCII (as nearly every row is) has as many bytes as characters.
    length = len if "".join(values).isascii() else _bytes
    text = _FP_TEXT % tuple(chain.from_iterable((length(v), v) for v in values))
    return hashlib.sha1(text.encode()).hexdigest()


def _bytes(value: str) -> int:
    return len(value.encode())


def _ok(raw: Any) -> Any:
    # booking_upsert never refuses; a refusal here would be a bug worth a loud error.
    return msgspec.json.decode(raw)["ok"]


def _applied(value: Any) -> Applied:
    if isinstance(value, str):
        return Applied(Outcome(value))
    return Applied(Outcome(value["outcome"]), str(value["ticket"]), tuple(value["fields"]),
                   bool(value["settled"]))
