"""Memory stays flat whatever the export's size: the rows are streamed, the import's plan is
kept in Redis, and writes go in fixed-size batches (tracemalloc's peak of the Python heap)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import redis

from queueserver.booking_sync import bench
from queueserver.bookings.store import BookingStore

# 50,000 rows may cost a little more than 10,000 (a longer plan key name? no: slack for the
# allocator's and redis-py's own caches), never anywhere near five times as much.
SMALL_FACTOR = 1.5


def peak_of_import(r: redis.Redis, path: Path) -> tuple[int, str]:
    r.flushdb()
    store = BookingStore(r, bench.SECRET, path.name, bench.AT)
    store.fingerprint(bench_booking := _first_booking(path))  # warm caches outside the trace
    del bench_booking
    tracemalloc.start()
    try:
        counts = bench.import_file(r, path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak, str(counts)


def _first_booking(path: Path):  # type: ignore[no-untyped-def]
    from queueserver.booking_sync import rows

    _, row = next(rows.read(lambda: path.open("rb"), "json", frozenset(bench.CENTRES)))
    return row


def test_memory_at_10000_and_50000_rows_is_within_a_small_factor(
        r: redis.Redis, tmp_path: Path) -> None:
    peaks = {}
    for size in (10_000, 50_000):
        path = tmp_path / f"export-{size}.json"
        with path.open("w", encoding="utf-8") as out:
            bench.write_export(out, size)
        peaks[size], counts = peak_of_import(r, path)
        assert counts == f"imported={size} updated=0 cancelled=0 unchanged=0 rejected=0"
    assert peaks[50_000] < SMALL_FACTOR * peaks[10_000], peaks
