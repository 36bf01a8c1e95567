"""`queueserver bookings import FILE [--format csv|json]` (CONTRACT §3).

Prints one line per rejected row, then `imported=N updated=N cancelled=N unchanged=N
rejected=N` last. Exit 0: nothing rejected; 1: some rows were; 2: the file could not be read
at all and nothing was imported; 3: Redis failed (the run may have stopped part-way: run it
again, since importing the same rows twice changes nothing).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO

import redis

from queueserver import clock, runtime
from queueserver.booking_sync import importer, rows
from queueserver.bookings import BookingStore
from queueserver.config import Config

EXIT_REJECTED = 1
EXIT_UNREADABLE = 2
EXIT_UNAVAILABLE = 3


def run_import(config: Config, file: str, fmt: str | None) -> int:
    path = Path(file)

    def opener() -> IO[bytes]:
        return path.open("rb")

    try:
        fmt = fmt or rows.detect(opener, path.name)
        r = runtime.connect(runtime.redis_url(config))
        at = clock.iso(clock.from_environment(config.tz).now())
        store = BookingStore(r, runtime.secret(config), path.name, at)
        counts = importer.run(
            store,
            opener,
            fmt,
            frozenset(c.id for c in config.centres),
            print,
        )
    except rows.FileError as e:
        print(f"queueserver: cannot import {file}: {e}", file=sys.stderr)
        print(importer.Counts())
        return EXIT_UNREADABLE
    except redis.RedisError as e:
        print(
            f"queueserver: Redis failed ({e}); the import stopped part-way: run it again "
            "(rows already applied then count as unchanged)",
            file=sys.stderr,
        )
        return EXIT_UNAVAILABLE
    print(counts)
    return EXIT_REJECTED if counts.rejected else 0
