"""The scheduled booking sync: the worker pulls `[booking_feed]` every `interval_seconds`.

The worker command lists the job in its schedule (`tools/worker.py`), which enqueues it once
per interval city-wide; the feed's own lock (`FeedLock`) still keeps a sync that outlasts its
interval from running beside the next one. The job logs one line per rejected or held row and
a one-line summary.
"""

from __future__ import annotations

import logging

from queueserver.booking_sync import sync
from queueserver.platform import clock, runtime
from queueserver.platform.config import Config, load_default
from queueserver.platform.jobs import Periodic

log = logging.getLogger("queueserver.booking_sync")


def _interval(config: Config) -> float | None:
    return float(config.booking_feed.interval_seconds) if config.booking_feed else None


BOOKING_SYNC = Periodic("booking-sync", "bookings", "queueserver.booking_sync.schedule.sync_job",
                        _interval)


def sync_job() -> str:
    """The job: one sync; its summary is the job's result. A feed that cannot be read fails
    the job (RQ keeps it among the failed ones), after saying why in the log."""
    config = load_default()
    r = runtime.connect(runtime.redis_url(config))
    at = clock.iso(clock.from_environment(config.tz).now())
    try:
        synced = sync.sync(config, r, runtime.secret(config), at,
                           lambda line: log.warning("booking feed: %s", line),
                           note=lambda text: log.warning("booking feed: %s", text))
    except (sync.Busy, sync.NoFeed) as e:
        log.info("booking feed: %s; nothing done", e)
        return f"skipped: {e}"
    except Exception as e:
        log.error("booking feed: the sync failed: %s", e)
        raise
    summary = str(synced.counts) if synced.changed else "unchanged since the last sync (304)"
    log.info("booking feed: %s", summary)
    return summary
