"""A booking feed's state in Redis: what its last sync was told (the validators of the
platform's export) and the lock that lets one sync of it run at a time, city-wide.

A feed is named by a hash of its URL (the URL may carry the platform's credential). The lock
expires by itself, so a sync that died never blocks the next one for long; a running sync keeps
it alive (`keep()`, called as rows and bytes arrive) and stops if it finds it lost.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import socket
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import redis

from queueserver.store import keys, lua

# Longer than the longest quiet spell of a healthy sync (a 60 s back-off pause, then a
# connect and a first read of up to 30 s each); short enough that a dead sync's lock soon goes.
LOCK_TTL_S = 300
# Renewed once a quarter of its life has passed: one round trip a minute, not one per row.
KEEP_FRACTION = 0.25


def feed_id(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:16]


class Busy(Exception):
    """Another sync of this feed holds the lock."""


class LockLost(Exception):
    """This sync's lock expired or was taken over: it stops, the other sync goes on."""


class FeedState:
    def __init__(self, r: redis.Redis, url: str) -> None:
        self._r = r
        self._key = keys.booking_feed(feed_id(url))

    def last(self) -> dict[str, str]:
        """etag, last_modified, synced_at (last change imported), checked_at, summary."""
        found: dict[str, str] = self._r.hgetall(self._key)  # type: ignore[assignment]
        return found

    def imported(self, etag: str, last_modified: str, at: str, summary: str) -> None:
        self._r.hset(self._key, mapping={"etag": etag, "last_modified": last_modified,
                                         "synced_at": at, "checked_at": at, "summary": summary})

    def unchanged(self, at: str) -> None:
        self._r.hset(self._key, "checked_at", at)


class FeedLock:
    """`with FeedLock(r, url, at):` — raises Busy when another sync holds it."""

    def __init__(self, r: redis.Redis, url: str, at: str, ttl_s: float = LOCK_TTL_S,
                 now: Callable[[], float] = time.monotonic) -> None:
        self._r = r
        self._key = keys.booking_feed_lock(feed_id(url))
        self._ttl_ms = int(ttl_s * 1000)
        self._every = ttl_s * KEEP_FRACTION
        self._now = now
        self._kept = float("-inf")
        # Unique to this sync, and says who holds the lock to whoever finds it taken.
        self._value = (f"{secrets.token_hex(8)} {socket.gethostname()} pid {os.getpid()} "
                       f"since {at}")
        self._script = r.register_script(lua.source("booking_feed_lock"))

    def __enter__(self) -> FeedLock:
        if not self._r.set(self._key, self._value, nx=True, px=self._ttl_ms):
            holder = self._r.get(self._key)
            who = str(holder).split(" ", 1)[1] if holder else "a sync that just finished"
            raise Busy(f"another sync of this feed is running ({who})")
        self._kept = self._now()
        return self

    def keep(self) -> None:
        if self._now() - self._kept < self._every:
            return
        if not self._call("keep"):
            raise LockLost("this sync's lock on the feed expired or was taken over")
        self._kept = self._now()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        try:
            self._call("release")
        except redis.RedisError:
            pass  # it expires by itself; the error that matters is already on its way

    def _call(self, action: str) -> bool:
        raw: Any = self._script(keys=[self._key], args=[action, self._value, self._ttl_ms])
        return "ok" in json.loads(raw)
