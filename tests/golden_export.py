"""The golden import: an export with every kind of bad row and every kind of change, imported
over a store that holds checked-in bookings, then again. `booking_sync/data/golden/`
holds the exports and what the import reported and left in Redis, as the import before issue
20's single pass did it (generated once from that code with
`PYTHONPATH=tests:tests/booking_sync python tests/golden_export.py REDIS_URL`)."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import redis
from booking_exports import INVALID, booking, run, write_csv

from queueserver.bookings.store import STORED
from queueserver.rules import identity
from queueserver.store import keys

GOLDEN = Path(__file__).parent / "booking_sync" / "data" / "golden"
# Rows per batch of the import was 500: enough filler that refs recur across batches.
FILLER = 1300
LATER = "2026-11-26T19:00:00+08:00"


def _hkid(i: int) -> str:
    prefix, digits = chr(ord("A") + i % 26), f"{i:06d}"
    return f"{prefix}{digits}({identity.hkid_check_digit(prefix, digits)})"


def _filler(i: int) -> dict[str, str]:
    return booking(booking_ref=f"FILL{i}", centre=("wan-chai", "kowloon-bay")[i % 2],
                   date=f"2026-12-{1 + i % 28:02d}", id_number=_hkid(i),
                   slot_start=f"{9 + i % 8:02d}:00", slot_end=f"{9 + i % 8:02d}:30",
                   surname=f"SURNAME{i}", passport_no=f"P{i:07d}")


def before_items() -> list[dict[str, str]]:
    """What the store holds before the golden export: some bookings checked in after it."""
    return [
        booking(booking_ref="HELD1"),
        booking(booking_ref="HELD2", id_number=_hkid(2)),
        booking(booking_ref="HELD3", centre="kowloon-bay"),
        booking(booking_ref="HELD4", status="cancelled"),
        booking(booking_ref="KNOWN1", surname="OLD"),
        booking(booking_ref="KNOWN2", centre="kowloon-bay"),
        booking(booking_ref="GONE1"),
        *[_filler(i) for i in range(0, FILLER, 7)],
    ]


CHECKED_IN = {("wan-chai", "HELD1"): "A001", ("wan-chai", "HELD2"): "A002",
              ("kowloon-bay", "HELD3"): "P003", ("wan-chai", "HELD4"): "A004"}


def _bad_rows() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for i, (field, value, _reason) in enumerate(INVALID):
        items.append(booking(**{"booking_ref": f"BAD{i}", field: value}))
    more: list[dict[str, Any]] = [
        booking(given_names="G" * 101),
        booking(id_kind="access_notice", id_number="N" * 65),
        booking(id_kind="HKID"),
        booking(id_number="   "),
        booking(surname="  "),
        booking(booking_ref="BADX", slot_start="10:00", slot_end="10:00"),
        booking(application_type=""),
        booking(nationality="GBRX"),
        booking(date="2026-00-10"),
        booking(date="20261110"),
        booking(slot_start="09:30:00"),
    ]
    return items + more


def _json_only_bad() -> list[Any]:
    missing = booking()
    del missing["passport_no"]
    return [
        42, "a row", None, [booking()], True,
        booking(surname=7), booking(status=True), booking(date=None),
        booking(booking_ref=12345), booking(given_names=["A"]), booking(id_number={"x": 1}),
        missing, {}, booking(centre=None),
    ]


def _changes() -> list[dict[str, Any]]:
    """Good rows: new, updated, cancelled, reinstated, moved, held, written differently."""
    return [
        booking(booking_ref="NEW1"),
        booking(booking_ref="NEW1"),  # unchanged
        booking(booking_ref="NEW1", slot_start="11:00", slot_end="11:30"),  # updated
        booking(booking_ref="NEW2", status="cancelled"),  # cancelled when first seen
        booking(booking_ref="NEW3"),
        booking(booking_ref="NEW3", status="cancelled"),
        booking(booking_ref="NEW3", status="approved"),  # reinstated: updated
        booking(booking_ref="NEW3", status="cancelled"),
        booking(booking_ref="KNOWN1", surname="NEWER"),  # updated
        booking(booking_ref="KNOWN2", centre="wan-chai"),  # moved
        booking(booking_ref="KNOWN2", centre="kowloon-bay"),  # moved back
        booking(booking_ref="GONE1", status="cancelled"),
        booking(booking_ref="HELD1", slot_start="12:00", slot_end="12:30"),  # held
        booking(booking_ref="HELD1", slot_start="12:00", slot_end="12:30"),  # held again
        booking(booking_ref="HELD1"),  # agrees again: the hold is withdrawn
        booking(booking_ref="HELD2", id_number=_hkid(2), centre="kowloon-bay"),  # held move
        booking(booking_ref="HELD3", centre="kowloon-bay", status="cancelled"),  # held
        booking(booking_ref="HELD4", status="cancelled"),  # checked in and same: unchanged
        booking(booking_ref="CASE1", id_number="a1234563", passport_no="k1234567",
                nationality="gbr", surname="  SMITH "),
        booking(booking_ref="CASE1", id_number="A 123456 (3)"),  # same id written differently
        booking(booking_ref="ACC1", id_kind="access_notice", id_number="IMM/2026/0001"),
        booking(booking_ref="ACC1", id_kind="access_notice", id_number="imm/2026/0001"),
        booking(booking_ref="NAMES", given_names="", surname="李"),
        booking(booking_ref="NAMES2", given_names="Zoë Ånne", surname="Ó BRIAIN"),
    ]


def export_items(with_json_only: bool) -> list[Any]:
    """The golden export: filler rows with the bad rows and changes spread between them, and
    some refs recurring across batches."""
    specials: list[Any] = _bad_rows() + _changes()
    if with_json_only:
        specials += _json_only_bad()
    items: list[Any] = []
    for i in range(FILLER):
        items.append(_filler(i))
        if i % 9 == 0 and specials:
            items.append(specials.pop(0))
        if i % 250 == 3:
            items.append(_filler(i // 2) | {"surname": f"LATER{i}"})  # an update, across batches
        if i % 333 == 5:
            items.append(_filler(i // 3) | {"status": "cancelled"})
    items += specials
    items.append(booking(booking_ref="NEW1"))  # a last row back to the first
    return items


def write_exports(folder: Path) -> tuple[Path, Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    before = write_csv(folder / "before.csv", before_items())
    export_json = folder / "export.json"
    export_json.write_text(json.dumps({"exported_at": "2026-11-26T18:00:00+08:00",
                                       "bookings": export_items(True)},
                                      ensure_ascii=False, indent=1), encoding="utf-8")
    export_csv = write_csv(folder / "export.csv", export_items(False))
    # CSV only: short rows and blank lines.
    with export_csv.open("a", encoding="utf-8") as f:
        f.write("SHORT1,wan-chai,2026-11-27\n\nSHORT2\n,,,,,,,,,,,,\n")
    return before, export_json, export_csv


def dump(r: redis.Redis) -> dict[str, Any]:
    """Everything the store holds (an import plan's own key aside), in a comparable form."""
    out: dict[str, Any] = {}
    plan_prefix = keys.import_plan("")
    for key in sorted(r.scan_iter(count=1000)):
        if key.startswith(plan_prefix):
            continue
        kind = r.type(key)
        if kind == "hash":
            out[key] = dict(sorted(r.hgetall(key).items()))
        elif kind == "list":
            out[key] = r.lrange(key, 0, -1)
        elif kind == "set":
            out[key] = sorted(r.smembers(key))
        elif kind == "zset":
            out[key] = r.zrange(key, 0, -1, withscores=True)
        else:
            out[key] = r.get(key)
    return _creations_listed(out)


def _creations_listed(store: dict[str, Any]) -> dict[str, Any]:
    """A booking's creation kept on its record (`created_at`, `created_source`) written back as
    its history's first entry, in the form that entry had when the golden file was recorded:
    where and how the store keeps it changed, what it says did not."""
    for key, record in list(store.items()):
        if not isinstance(record, dict) or "created_at" not in record:
            continue
        centre, ref = record["centre"], record["ref"]
        assert key == keys.booking(centre, ref)
        entry = json.dumps({"at": record.pop("created_at"), "change": "created",
                            "source": record.pop("created_source"), "fields": list(STORED)},
                           ensure_ascii=False, separators=(",", ":"))
        listed = keys.booking_history(centre, ref)
        store[listed] = [entry, *store.get(listed, [])]
    return dict(sorted(store.items()))


def outcome(r: redis.Redis, folder: Path) -> dict[str, Any]:
    """Import `before`, check in some bookings, then each export twice (from the same store)."""
    result: dict[str, Any] = {}
    for name in ("export.json", "export.csv"):
        r.flushdb()
        run(r, folder / "before.csv")
        for (centre, ref), ticket in CHECKED_IN.items():
            r.hset(keys.booking(centre, ref), "ticket", ticket)
        first, first_lines = run(r, folder / name, at=LATER)
        again, again_lines = run(r, folder / name, at=LATER)
        result[name] = {"first": {"counts": str(first), "lines": first_lines},
                        "again": {"counts": str(again), "lines": again_lines},
                        "store": _summary(dump(r))}
    return result


def _summary(store: dict[str, Any]) -> dict[str, Any]:
    """The store's keys that name no filler booking in full, and a digest of it all (the whole
    of it would make the golden file megabytes)."""
    text = json.dumps(store, ensure_ascii=False, sort_keys=True)
    return {"keys": len(store), "sha256": hashlib.sha256(text.encode()).hexdigest(),
            "special": {k: v for k, v in store.items()
                        if "FILL" not in k and (":booking:" in k or ":booking-history:" in k)}}


if __name__ == "__main__":
    # Writes the golden files; run it against the import whose behaviour is to be kept.
    write_exports(GOLDEN)
    client = redis.Redis.from_url(sys.argv[1], decode_responses=True)
    expected = outcome(client, GOLDEN)
    (GOLDEN / "expected.json").write_text(
        json.dumps(expected, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
