"""The job plumbing: RQ's connection and queues, and what a periodic job is. The worker
command (`tools/worker.py`) holds the schedule, an explicit list, and enqueues from it.

RQ does not run on Redis Cluster, so it uses `RQ_REDIS_URL` (default: `REDIS_URL`, or the
embedded default).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import redis
from rq import Queue

from queueserver.platform import connections, runtime
from queueserver.platform.config import Config

# One queue per kind of work, so a long booking import never delays a call's audio; a worker
# takes from the first that has work, so a printer's slow retries come last.
QUEUES = ("announcements", "bookings", "maintenance", "mail", "printers")


@dataclass(frozen=True)
class Periodic:
    """A job the worker enqueues every `interval(config)` seconds (None: not scheduled)."""

    name: str
    queue: str
    func: str  # dotted path, imported by the worker that runs it
    interval: Callable[[Config], float | None]


def rq_url(config: Config, long_running: bool = False) -> str:
    url = os.environ.get("RQ_REDIS_URL") or runtime.redis_url(config, long_running)
    if connections.is_cluster(url):
        raise runtime.SetupError(
            "RQ does not run on Redis Cluster: set RQ_REDIS_URL to a plain Redis for the "
            "background jobs (REDIS_URL may stay on the cluster).")
    return url


def rq_connection(config: Config, long_running: bool = False) -> redis.Redis:
    return rq_connect(rq_url(config, long_running))


def rq_connect(url: str) -> redis.Redis:
    # RQ stores pickled job data: it needs a connection that returns bytes. (A Sentinel URL
    # gives one that follows the master.)
    return connections.connect(url, decode_responses=False)


def queue(config: Config, name: str, connection: redis.Redis | None = None) -> Queue:
    return Queue(name, connection=connection or rq_connection(config))
