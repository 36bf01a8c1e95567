"""The booking store: the only code that writes bookings to Redis (CONTRACT §2).

A booking is a hash in its centre's slot (`keys.booking`), found through the index from
reference to centre (`keys.booking_index`), with a history list of what changed (field names
only), listed by day (`keys.bookings_on`) and by identity hash (`keys.bookings_by_id`). The
plain identity number is turned into a keyed hash, a masked form and the kiosks' verifier here,
and goes no further. Each row is one call of `booking_upsert.lua`, which compares and writes
together; a booking that moves centre leaves a tombstone (status `moved`) in the old centre,
then is written in the new one. A booking already checked in is never changed: a row that
differs is held, recorded and reported instead.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

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


@dataclass(frozen=True)
class Booking:
    """One validated booking as the export gives it, the plain identity number included."""

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


class BookingStore:
    """Writes bookings for one import or sync run: `source` is the file name, or "feed"."""

    def __init__(self, r: redis.Redis, secret: bytes, source: str, at: str) -> None:
        self._r = r
        self._secret = secret
        self._source = source
        self._at = at
        self._script = r.register_script(lua.source("booking_upsert"))
        self._kiosk_keys: dict[str, bytes] = {}

    def apply(self, rows: Sequence[Booking | Upsert[Booking]]) -> list[Applied]:
        """Apply the rows in order (a plain Booking is an Upsert without `final`); one
        pipelined round trip, plus two calls per move."""
        batch = [row if isinstance(row, Upsert) else Upsert(row) for row in rows]
        refs = list(dict.fromkeys(u.booking.ref for u in batch))
        found: list[Any] = self._r.hmget(keys.booking_index(), refs) if refs else []
        homes: dict[str, str | None] = dict(zip(refs, found, strict=True))
        outcomes: list[Applied] = []
        pipe = connections.batch(self._r)  # on a cluster, one call at a time
        placed: dict[str, str] = {}
        for u in batch:
            b = u.booking
            home = homes.get(b.ref)
            if home is not None and home != b.centre:
                # A move reads the old record before writing the copy: finish what is queued.
                outcomes += self._flush(pipe, placed)
                outcomes.append(self._move(u, home))
                if outcomes[-1].outcome not in (Outcome.SETTLED, Outcome.HELD):
                    homes[b.ref] = b.centre
            else:
                self._upsert(u, pipe)
                if home is None:
                    placed[b.ref] = homes[b.ref] = b.centre
        outcomes += self._flush(pipe, placed)
        return outcomes

    def plan(self) -> ImportPlan:
        """A new, empty plan for one import through this store."""
        return ImportPlan(self._r)

    def stored_fields(self, b: Booking) -> list[tuple[str, str]]:
        """The hash's fields, in order; `updated_at`, `source`, `ticket` and a hold's
        `held_fp` and `held_fields` are not here."""
        kiosk_key = self._kiosk_keys.get(b.centre)
        if kiosk_key is None:
            kiosk_key = self._kiosk_keys[b.centre] = identity.kiosk_key(self._secret, b.centre)
        return [
            ("ref", b.ref),
            ("centre", b.centre),
            ("date", b.date),
            ("slot_start", b.slot_start),
            ("slot_end", b.slot_end),
            ("application_type", b.application_type),
            ("surname", b.surname),
            ("given_names", b.given_names),
            ("id_kind", b.id_kind),
            ("id_hash", identity.keyed_hash(self._secret, b.id_kind, b.id_number)),
            ("id_masked", identity.masked(b.id_kind, b.id_number)),
            ("id_verifier", identity.id_verifier(kiosk_key, b.id_kind, b.id_number)),
            ("passport_no", b.passport_no),
            ("nationality", b.nationality),
            ("status", b.status),
        ]

    def fingerprint(self, b: Booking) -> str:
        """Says whether a stored record equals this row; booking_upsert.lua computes the same.
        SHA-1 is enough: it guards against no adversary, and Redis's Lua has it built in."""
        text = ";".join(f"{n}={len(v.encode())}:{v}" for n, v in self.stored_fields(b))
        return hashlib.sha1(text.encode()).hexdigest()

    def _call(self, mode: str, centre: str, u: Upsert[Booking], moved_from: str,
              client: redis.Redis) -> Any:
        b = u.booking
        stored = self.stored_fields(b)
        id_hash = dict(stored)["id_hash"]
        return self._script(
            keys=[keys.booking(centre, b.ref), keys.booking_history(centre, b.ref),
                  keys.bookings_on(centre, b.date), keys.bookings_by_id(centre, id_hash)],
            args=[mode, json.dumps(stored, ensure_ascii=False), self._at, self._source,
                  moved_from, u.final, keys.bookings_on(centre, ""),
                  keys.bookings_by_id(centre, "")],
            client=client,
        )

    def _upsert(self, u: Upsert[Booking], client: redis.Redis) -> Any:
        return self._call("upsert", u.booking.centre, u, "", client)

    def _flush(self, pipe: Any, placed: dict[str, str]) -> list[Applied]:
        # The index is written after the rows, so it never names a centre without the booking.
        if placed:
            pipe.hset(keys.booking_index(), mapping=placed)
        results = pipe.execute()
        if placed:
            results.pop()
            placed.clear()
        return [_applied(raw) for raw in results]

    def _move(self, u: Upsert[Booking], old: str) -> Applied:
        raw = self._call("move_out", old, u, "", self._r)
        moved_out = _ok(raw)
        if not isinstance(moved_out, dict) or "before" not in moved_out:
            return _applied(raw)
        before = json.dumps(moved_out["before"], ensure_ascii=False)
        applied = _applied(self._call("upsert", u.booking.centre, Upsert(u.booking), before,
                                      self._r))
        self._r.hset(keys.booking_index(), u.booking.ref, u.booking.centre)
        return applied


def _ok(raw: Any) -> Any:
    # booking_upsert never refuses; a refusal here would be a bug worth a loud error.
    return json.loads(raw)["ok"]


def _applied(raw: Any) -> Applied:
    value = _ok(raw)
    if isinstance(value, str):
        return Applied(Outcome(value))
    return Applied(Outcome(value["outcome"]), str(value["ticket"]), tuple(value["fields"]),
                   bool(value["settled"]))
