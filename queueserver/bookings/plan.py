"""An import's plan: per booking reference, what reading the file learnt of it.

Kept in Redis (`keys.import_plan`), never in the importing process, so that the process's
memory stays flat whatever the size of the export; written and read with pipelining, one round
trip per batch of rows. Each reference holds the fingerprint of its last row in the file until
its first row is applied, then STARTED, or SETTLED when the store already held that last row.
The plan expires by itself if its import dies, and is dropped when the import ends.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from typing import Any

import redis

from queueserver.store import keys

STARTED = "+"
SETTLED = "="
# Long enough for the largest export, short enough that a killed import's plan goes soon.
PLAN_TTL_S = 6 * 3600


class ImportPlan:
    def __init__(self, r: redis.Redis) -> None:
        self._r = r
        self._key = keys.import_plan(secrets.token_hex(8))

    def note_last_rows(self, fingerprints: Mapping[str, str]) -> None:
        """Later notes replace earlier ones: what stays is each booking's last row."""
        if not fingerprints:
            return
        pipe = self._r.pipeline(transaction=False)
        mapping: dict[Any, Any] = dict(fingerprints)
        pipe.hset(self._key, mapping=mapping)
        pipe.expire(self._key, PLAN_TTL_S)
        pipe.execute()

    def states(self, refs: Iterable[str]) -> dict[str, str | None]:
        """Each reference's state: a fingerprint, STARTED, SETTLED, or None if not planned."""
        wanted = list(dict.fromkeys(refs))
        if not wanted:
            return {}
        found: list[str | None] = self._r.hmget(self._key, wanted)  # type: ignore[assignment]
        return dict(zip(wanted, found, strict=True))

    def save(self, states: Mapping[str, str]) -> None:
        if states:
            mapping: dict[Any, Any] = dict(states)
            self._r.hset(self._key, mapping=mapping)

    def drop(self) -> None:
        self._r.delete(self._key)
