"""One sync of a feed at a time, city-wide: an expiring lock in Redis."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import redis
from booking_exports import AT, SECRET, booking, history
from feed_server import FAST, Answer, FeedServer

from queueserver.booking_sync import rows, sync
from queueserver.booking_sync.feed import Policy
from queueserver.bookings.feed_state import Busy, FeedLock, LockLost, feed_id
from queueserver.platform.config import Config
from queueserver.store import keys

TWO = [booking(), booking(booking_ref="MEP2", id_number="B765432(A)")]
PATIENT = Policy(timeout_s=60, attempts=1, first_backoff_s=0.01, max_backoff_s=0.5,
                 page_deadline_s=60)


def one_sync(cfg: Config, r: redis.Redis) -> sync.Synced:
    return sync.sync(cfg, r, SECRET, AT, lambda line: None, policy=FAST, sleep=lambda s: None)


def lock_key(server: FeedServer) -> str:
    return keys.booking_feed_lock(feed_id(server.url()))


def test_two_syncs_started_together_import_once(
        r: redis.Redis, feed_cfg: Config, feed_server: FeedServer) -> None:
    feed_server.serve("/export.json", TWO, etag='"v1"')
    # The first export request is held until the other sync has finished, so the two overlap
    # whichever of them takes the lock. A patient policy: the held request must not time out.
    held = Answer.held(page=True)
    feed_server.queue("/export.json", held)
    start = threading.Barrier(2)
    outcomes: list[Any] = []

    def go() -> None:
        start.wait()
        try:
            outcomes.append(sync.sync(feed_cfg, r, SECRET, AT, lambda line: None,
                                      policy=PATIENT, sleep=lambda s: None))
        except Busy as e:
            outcomes.append(e)

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        held.wait_arrived()
        loser = wait_for_outcome(outcomes)
        assert isinstance(loser, Busy), loser
    finally:
        held.release()
        for t in threads:
            t.join(10)
    synced = [o for o in outcomes if isinstance(o, sync.Synced)]
    busy = [o for o in outcomes if isinstance(o, Busy)]
    assert (len(synced), len(busy)) == (1, 1), outcomes
    assert str(synced[0].counts) == "imported=2 updated=0 cancelled=0 unchanged=0 rejected=0"
    assert "another sync of this feed is running" in str(busy[0]) and "since " + AT in str(busy[0])
    assert len(feed_server.requests()) == 1
    assert [e["change"] for e in history(r, "wan-chai", "MEP240001")] == ["created"]
    assert not r.exists(lock_key(feed_server))


def wait_for_outcome(outcomes: list[Any], timeout: float = 10) -> Any:
    """The first sync to finish (the one that found the lock taken), within `timeout`."""
    deadline = time.monotonic() + timeout
    while not outcomes:
        assert time.monotonic() < deadline, "neither sync finished"
        time.sleep(0.01)
    return outcomes[0]


def test_the_lock_goes_when_a_sync_fails(
        r: redis.Redis, feed_cfg: Config, feed_server: FeedServer) -> None:
    with pytest.raises(rows.FileError):
        one_sync(feed_cfg, r)
    assert not r.exists(lock_key(feed_server))


def test_a_dead_syncs_lock_expires_by_itself(
        r: redis.Redis, feed_cfg: Config, feed_server: FeedServer) -> None:
    feed_server.serve("/export.json", TWO)
    r.set(lock_key(feed_server), "x otherhost pid 1 since then", px=300)
    with pytest.raises(Busy, match=r"\(otherhost pid 1 since then\)"):
        one_sync(feed_cfg, r)
    deadline = time.monotonic() + 5
    while r.exists(lock_key(feed_server)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert one_sync(feed_cfg, r).counts.imported == 2


def test_a_running_sync_keeps_its_lock_and_stops_when_it_lost_it(
        r: redis.Redis, feed_server: FeedServer) -> None:
    url = feed_server.url()
    clock = [0.0]
    lock = FeedLock(r, url, AT, ttl_s=2, now=lambda: clock[0])
    with lock:
        key = lock_key(feed_server)
        r.pexpire(key, 100)
        lock.keep()  # not due yet: a quarter of its life has not passed
        assert r.pttl(key) <= 100
        clock[0] = 0.6
        lock.keep()
        assert r.pttl(key) > 1000
        # Another sync took it over (this one stalled past the lock's life).
        r.set(key, "someone else")
        clock[0] = 2.0
        with pytest.raises(LockLost):
            lock.keep()
    # Leaving does not delete the other sync's lock.
    assert r.get(key) == "someone else"
