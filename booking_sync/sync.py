"""One sync of the booking feed (`[booking_feed]`): pull it, import it, remember its version.

Used by `queueserver bookings sync` and by the worker's scheduled job. One sync of a feed runs
at a time, city-wide (`FeedLock`); an export the platform says has not changed (304) costs one
request and no work. Changes are recorded with the source "feed".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

from queueserver.booking_sync import importer
from queueserver.booking_sync.feed import Policy, Pull, Validators
from queueserver.bookings.feed_state import Busy, FeedLock, FeedState, LockLost
from queueserver.bookings.store import BookingStore
from queueserver.platform.config import Config

SOURCE = "feed"

__all__ = ["Busy", "LockLost", "NoFeed", "Synced", "sync"]


class NoFeed(Exception):
    """The configuration has no `[booking_feed]`."""


@dataclass(frozen=True)
class Synced:
    changed: bool  # False: the platform answered 304, nothing was done
    counts: importer.Counts
    requests: int


def sync(config: Config, r: redis.Redis, secret: bytes, at: str, report: importer.Report,
         progress: importer.Progress | None = None,
         note: Callable[[str], None] = lambda _: None, policy: Policy | None = None,
         sleep: Callable[[float], None] = time.sleep) -> Synced:
    """Raises NoFeed, Busy, LockLost, rows.FileError (nothing imported) or a RedisError."""
    feed = config.booking_feed
    if feed is None:
        raise NoFeed("the configuration has no [booking_feed] url")
    state = FeedState(r, feed.url)
    with FeedLock(r, feed.url, at) as lock:
        last = state.last()
        since = Validators(last.get("etag", ""), last.get("last_modified", ""))
        pull_ = Pull(feed.url, since, policy or Policy(), note=note, tick=lock.keep, sleep=sleep)
        with pull_ as pull:
            if not pull.changed():
                state.unchanged(at)
                return Synced(False, importer.Counts(), pull.requests)

            def keeping(phase: str, done: int, total: int | None) -> None:
                lock.keep()
                if progress:
                    progress(phase, done, total)

            store = BookingStore(r, secret, SOURCE, at)
            centres = frozenset(c.id for c in config.centres)
            counts = importer.run(store, pull.source(centres), report, keeping)
            state.imported(pull.validators.etag, pull.validators.last_modified, at, str(counts))
            return Synced(True, counts, pull.requests)
