"""Booking exports for the booking_sync tests: rows, files, one import, a booking's history."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import redis

from queueserver.booking_sync import importer, rows
from queueserver.bookings.store import BookingStore
from queueserver.store import keys

DATA = Path(__file__).parent / "data"
SECRET = b"test-secret"
AT = "2026-11-26T18:00:00+08:00"
LATER = "2026-11-26T19:00:00+08:00"
CENTRES = frozenset({"wan-chai", "kowloon-bay"})
GOOD: dict[str, str] = {
    "booking_ref": "MEP240001",
    "centre": "wan-chai",
    "date": "2026-11-27",
    "slot_start": "09:30",
    "slot_end": "10:00",
    "application_type": "first",
    "surname": "SMITH",
    "given_names": "JOHN PAUL",
    "id_kind": "hkid",
    "id_number": "A123456(3)",
    "passport_no": "K1234567",
    "nationality": "GBR",
    "status": "approved",
}


def booking(**changes: str) -> dict[str, str]:
    return {**GOOD, **changes}


def csv_text(items: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows.FIELDS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(items)
    return out.getvalue()


def write_csv(path: Path, items: list[dict[str, str]], bom: bool = False) -> Path:
    path.write_text(("\ufeff" if bom else "") + csv_text(items), encoding="utf-8")
    return path


def write_json(path: Path, items: list[Any], wrapped: bool = False) -> Path:
    path.write_text(
        json.dumps({"bookings": items} if wrapped else items, ensure_ascii=False), encoding="utf-8"
    )
    return path


def run(
    r: redis.Redis, path: Path, at: str = AT, fmt: str | None = None
) -> tuple[importer.Counts, list[str]]:
    """One import of a file, as `bookings import` does it: the counts and the reported lines."""
    lines: list[str] = []
    store = BookingStore(r, SECRET, path.name, at)

    def opener() -> io.BufferedReader:
        return path.open("rb")

    source = importer.from_file(opener, fmt or rows.detect(opener, path.name), CENTRES)
    counts = importer.run(store, source, lambda line: lines.append(str(line)))
    return counts, lines


def history(r: redis.Redis, centre: str, ref: str) -> list[dict[str, Any]]:
    return [json.loads(e) for e in r.lrange(keys.booking_history(centre, ref), 0, -1)]
