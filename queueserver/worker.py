"""`queueserver worker`: the RQ worker, and the schedule of periodic jobs it enqueues.

Background work goes to RQ (DESIGN.md): rendering announcement audio, the scheduled booking
sync, closing the day, purging personal data. RQ does not run on Redis Cluster, so it uses
`RQ_REDIS_URL` (default: `REDIS_URL`, or the embedded default).
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis
from rq import Queue, Worker

from queueserver import connections, keys, logs, runtime
from queueserver.config import Config

log = logging.getLogger("queueserver.worker")

# One queue per kind of work, so a long booking import never delays a call's audio.
QUEUES = ("announcements", "bookings", "maintenance")
# A due periodic job is enqueued by one worker only: the others find the lock taken.
TICK_S = 1.0


@dataclass(frozen=True)
class Periodic:
    """A job the worker enqueues every `interval(config)` seconds (None: not scheduled)."""

    name: str
    queue: str
    func: str  # dotted path, imported by the worker that runs it
    interval: Callable[[Config], float | None]


# Filled by the modules that own the work (booking sync, day close, purges).
SCHEDULE: list[Periodic] = []
# The modules that own periodic jobs: each registers its own in SCHEDULE when imported.
SCHEDULE_MODULES: list[str] = ["queueserver.booking_sync.schedule", "queueserver.dayclose",
                                "queueserver.privacy"]


def load_schedule() -> list[Periodic]:
    for name in SCHEDULE_MODULES:
        importlib.import_module(name)
    return SCHEDULE


def rq_connection(config: Config, long_running: bool = False) -> redis.Redis:
    url = os.environ.get("RQ_REDIS_URL") or runtime.redis_url(config, long_running)
    if connections.is_cluster(url):
        raise runtime.SetupError(
            "RQ does not run on Redis Cluster: set RQ_REDIS_URL to a plain Redis for the "
            "background jobs (REDIS_URL may stay on the cluster).")
    # RQ stores pickled job data: it needs a connection that returns bytes. (A Sentinel URL
    # gives one that follows the master.)
    return connections.connect(url, decode_responses=False)


def queue(config: Config, name: str, connection: redis.Redis | None = None) -> Queue:
    return Queue(name, connection=connection or rq_connection(config))


def _schedule_loop(config: Config, conn: redis.Redis, stop: threading.Event) -> None:
    while not stop.wait(TICK_S):
        for job in SCHEDULE:
            every = job.interval(config)
            if not every:
                continue
            # SET NX with the interval as expiry: at most one enqueue per interval, city-wide.
            if conn.set(keys.schedule_lock(job.name), "1", nx=True, ex=max(1, int(every))):
                Queue(job.queue, connection=conn).enqueue(job.func, job_timeout=3600)
                log.info("enqueued %s", job.name)


def run(config: Config, burst: bool = False) -> int:
    conn = rq_connection(config, long_running=True)
    # Jobs log through the `queueserver` loggers: the same lines as every command's, not lost.
    logs.setup()
    load_schedule()
    stop = threading.Event()
    scheduler = threading.Thread(target=_schedule_loop, args=(config, conn, stop), daemon=True)
    scheduler.start()
    try:
        worker = Worker([Queue(q, connection=conn) for q in QUEUES], connection=conn)
        worker.work(burst=burst, logging_level="INFO")
    finally:
        stop.set()
    return 0


def wait_for_queues_empty(conn: redis.Redis, timeout: float = 30) -> bool:
    """Tests and the demo: until every queue has been worked off."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(Queue(q, connection=conn).count == 0 for q in QUEUES):
            return True
        time.sleep(0.05)
    return False
