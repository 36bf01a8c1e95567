"""Booking exports for the booking_sync tests: rows, files, one import, a booking's history."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import redis

from queueserver.booking_sync import importer, rows
from queueserver.bookings import history as booking_history
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

# A bad value for each rule of CONTRACT §2, and the reason its row is rejected with.
INVALID = [
    ("booking_ref", "", "missing"),
    ("booking_ref", "MEP-240001", "must be 1-32 letters or digits"),
    ("booking_ref", "M" * 33, "must be 1-32 letters or digits"),
    ("centre", "sha-tin", "not a centre of this configuration"),
    ("centre", "", "missing"),
    ("date", "2026-02-30", "must be a real date as YYYY-MM-DD"),
    ("date", "27/11/2026", "must be a real date as YYYY-MM-DD"),
    ("date", "2026-1-05", "must be a real date as YYYY-MM-DD"),
    ("slot_start", "9:30", "must be a time as HH:MM"),
    ("slot_start", "24:00", "must be a time as HH:MM"),
    ("slot_end", "10:60", "must be a time as HH:MM"),
    ("slot_end", "09:30", "must be after slot_start"),
    ("slot_end", "09:00", "must be after slot_start"),
    ("application_type", "new", "must be one of first, renewal, reissue_lost, reissue_damaged"),
    ("surname", "", "missing"),
    ("surname", "S" * 101, "longer than 100 characters"),
    ("id_kind", "passport", "must be hkid or access_notice"),
    ("id_number", "", "missing"),
    ("id_number", "A123456(4)", "check digit does not match"),
    ("id_number", "a1234564", "check digit does not match"),
    (
        "id_number",
        "A12345(3)",
        "not a Hong Kong identity card number (1-2 letters, 6 digits, check digit)",
    ),
    (
        "id_number",
        "A123456(3",
        "not a Hong Kong identity card number (1-2 letters, 6 digits, check digit)",
    ),
    ("passport_no", "", "missing"),
    ("passport_no", "K123", "must be 5-20 letters or digits"),
    ("passport_no", "K123-4567", "must be 5-20 letters or digits"),
    ("nationality", "GB", "must be three letters (ISO 3166 alpha-3)"),
    ("nationality", "G8R", "must be three letters (ISO 3166 alpha-3)"),
    ("status", "pending", "must be approved or cancelled"),
    ("status", "", "missing"),
]


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
    """As its readers show it (bookings/history.py): its creation, then its list's entries."""
    return booking_history.entries(r.hgetall(keys.booking(centre, ref)),
                                   r.lrange(keys.booking_history(centre, ref), 0, -1))
