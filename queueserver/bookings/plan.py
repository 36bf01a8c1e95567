"""An import's plan: per booking reference, what reading the file learnt of it.

Kept in Redis (`keys.import_plan`), never in the importing process, so that the process's
memory stays flat whatever the size of the export; written and read a batch of rows a round
trip (`connections.bulk`). Each reference holds the fingerprint of its last row in the file until
its first row is applied, then STARTED, or SETTLED when the store already held that last row.
The plan expires by itself if its import dies, and is dropped when the import ends.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping

import redis

from queueserver.platform import connections
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
        if fingerprints:
            connections.bulk(self._r, [*connections.hset_commands(self._key, fingerprints),
                                       ("EXPIRE", self._key, str(PLAN_TTL_S))])

    def states(self, refs: Iterable[str]) -> dict[str, str | None]:
        """Each reference's state: a fingerprint, STARTED, SETTLED, or None if not planned."""
        wanted = list(dict.fromkeys(refs))
        if not wanted:
            return {}
        return dict(zip(wanted, connections.hmget(self._r, self._key, wanted), strict=True))

    def save(self, states: Mapping[str, str]) -> None:
        if states:
            connections.bulk(self._r, connections.hset_commands(self._key, states))

    def drop(self) -> None:
        # UNLINK: Redis frees a plan of 200,000 fields in the background, not in the import's
        # last command (and not in every other client's way).
        self._r.unlink(self._key)
