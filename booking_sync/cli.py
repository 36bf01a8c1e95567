"""`queueserver bookings import FILE [--format csv|json]`, `queueserver bookings sync` and
`queueserver applications import FILE [--format csv|json]` (CONTRACT §3, §11).

Both print one line per rejected row (and per row held because its booking is already
checked in), then `imported=N updated=N cancelled=N unchanged=N rejected=N` last; in a
terminal, a progress bar on standard error while they run. Exit 0: nothing rejected; 1: some
rows were; 2: the file or feed could not be read at all and nothing was imported (for sync:
also no `[booking_feed]` configured); 3: Redis failed, or the sync lost its lock (the run may
have stopped part-way: run it again, since importing the same rows twice changes nothing);
4 (sync): another sync of the feed was running, nothing was done.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO

import redis

from queueserver.appointments.applications import ApplicationStore
from queueserver.booking_sync import importer, rows, sync
from queueserver.bookings.store import BookingStore
from queueserver.platform import clock, runtime
from queueserver.platform.config import Config
from queueserver.platform.progress import Bar

EXIT_REJECTED = 1
EXIT_UNREADABLE = 2
EXIT_UNAVAILABLE = 3
EXIT_BUSY = 4


def _lines(bar: Bar) -> importer.Report:
    def report(line: rows.Rejection | importer.Held) -> None:
        bar.clear()
        print(line, flush=True)
    return report


def _stopped(e: Exception, what: str, bar: Bar) -> int:
    bar.close()
    print(f"queueserver: {what} ({e}); it stopped part-way: run it again "
          "(rows already applied then count as unchanged)", file=sys.stderr)
    return EXIT_UNAVAILABLE


# What an import of one file writes through and reads: given the connection, the file's
# opener and its format.
Start = Callable[[redis.Redis, rows.Opener, str], tuple[importer.Store, importer.RowSource]]


def run_import(config: Config, file: str, fmt: str | None) -> int:
    """A booking export (CONTRACT §2)."""
    def start(r: redis.Redis, opener: rows.Opener,
              fmt: str) -> tuple[importer.Store, importer.RowSource]:
        at = clock.iso(clock.from_environment(config.tz).now())
        store = BookingStore(r, runtime.secret(config), Path(file).name, at)
        return store, importer.from_file(opener, fmt, frozenset(c.id for c in config.centres))
    return _import_file(config, file, fmt, start)


def run_applications_import(config: Config, file: str, fmt: str | None) -> int:
    """The approved applications (CONTRACT §11), by the rules, output and exit codes of a
    booking export's import; each one newly approved is given its booking token and queued an
    invitation (the worker sends it)."""
    def start(r: redis.Redis, opener: rows.Opener,
              fmt: str) -> tuple[importer.Store, importer.RowSource]:
        store = ApplicationStore(r, runtime.secret(config), config, Path(file).name,
                                 clock.from_environment(config.tz))
        return store, lambda: rows.read_applications(opener, fmt)
    return _import_file(config, file, fmt, start)


def _import_file(config: Config, file: str, fmt: str | None, start: Start) -> int:
    path = Path(file)

    def opener() -> IO[bytes]:
        return path.open("rb")

    bar = Bar(sys.stderr, "rows")
    try:
        fmt = fmt or rows.detect(opener, path.name)
        store, source = start(runtime.connect(runtime.redis_url(config)), opener, fmt)
        counts = importer.run(store, source, _lines(bar), bar)
    except rows.FileError as e:
        bar.close()
        print(f"queueserver: cannot import {file}: {e}", file=sys.stderr)
        print(importer.Counts())
        return EXIT_UNREADABLE
    except redis.RedisError as e:
        return _stopped(e, "Redis failed", bar)
    bar.close()
    print(counts)
    return EXIT_REJECTED if counts.rejected else 0


def run_sync(config: Config) -> int:
    bar = Bar(sys.stderr, "rows")

    def say(text: str) -> None:
        bar.clear()
        print(f"queueserver: {text}", file=sys.stderr)

    try:
        if config.booking_feed is None:
            raise sync.NoFeed("the configuration has no [booking_feed] url")
        r = runtime.connect(runtime.redis_url(config))
        at = clock.iso(clock.from_environment(config.tz).now())
        synced = sync.sync(config, r, runtime.secret(config), at, _lines(bar), bar, note=say)
    except (sync.NoFeed, rows.FileError) as e:
        bar.close()
        print(f"queueserver: cannot sync the booking feed: {e}", file=sys.stderr)
        print(importer.Counts())
        return EXIT_UNREADABLE
    except sync.Busy as e:
        print(f"queueserver: {e}; nothing done", file=sys.stderr)
        print(importer.Counts())
        return EXIT_BUSY
    except sync.LockLost as e:
        return _stopped(e, "the sync lost its lock", bar)
    except redis.RedisError as e:
        return _stopped(e, "Redis failed", bar)
    bar.close()
    if not synced.changed:
        print("queueserver: the booking feed has not changed since the last sync",
              file=sys.stderr)
    print(synced.counts)
    return EXIT_REJECTED if synced.counts.rejected else 0
