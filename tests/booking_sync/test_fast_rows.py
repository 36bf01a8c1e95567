"""A valid row's fast path (`rows._valid_booking`, one pattern for the fixed-shape fields) is
only a shortcut: on any row it either gives exactly the Booking that the field-by-field check
gives, or steps aside so that check names the first failing field. A row of a real export
takes it."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from booking_exports import CENTRES, GOOD, INVALID, booking
from golden_export import _bad_rows

from queueserver.booking_sync import bench, rows
from queueserver.booking_sync.rows import _Invalid


def _by_field(item: Any) -> Any:
    try:
        return rows._booking_by_field(item, CENTRES)
    except _Invalid as e:
        return (e.field, e.reason)


# Rows the field-by-field check accepts, but not as written: white space to strip, lower case
# to raise, brackets left out, a missing given name. The fast path must step aside or agree.
ACCEPTED_AS_CHANGED = [
    {"booking_ref": " MEP240001"}, {"centre": "wan-chai "}, {"date": "2026-11-27\t"},
    {"slot_start": " 09:30"}, {"slot_end": "10:00 "}, {"application_type": " renewal"},
    {"surname": " SMITH"}, {"given_names": "JOHN "}, {"given_names": None},
    {"given_names": ""}, {"id_kind": "hkid "}, {"id_number": "a123456(3)"},
    {"id_number": "A1234563"}, {"id_number": " A123456(3)"}, {"id_number": "A 123456 (3)"},
    {"passport_no": "k1234567"}, {"passport_no": " K1234567"}, {"nationality": "gbr"},
    {"nationality": "GBR "}, {"status": "cancelled"}, {"status": " approved"},
    {"id_kind": "access_notice", "id_number": "an-2026-0001"},
    {"id_kind": "access_notice", "id_number": "AN20260001"},
    {"surname": "陳"}, {"given_names": "大文"}, {"surname": "S" * 100},
]
# Values of the wrong type in each field.
WRONG_TYPES: list[dict[str, Any]] = [
    {field: value} for field in GOOD for value in (None, 7, ["x"], {"x": 1}, True)]


@pytest.mark.parametrize("changes", [
    *[{field: value} for field, value, _ in INVALID], *ACCEPTED_AS_CHANGED, *WRONG_TYPES,
    *_bad_rows()])
def test_the_fast_path_agrees_or_steps_aside(changes: dict[str, Any]) -> None:
    item = {**GOOD, **changes}
    fast = rows._valid_booking(item, CENTRES)
    if fast is not None:
        assert fast == _by_field(item)
    # Through the reader's own entry point, the answer is the field-by-field one either way.
    try:
        assert rows._booking(item, CENTRES) == _by_field(item)
    except _Invalid as e:
        assert (e.field, e.reason) == _by_field(item)


def test_a_missing_field_steps_aside() -> None:
    for field in GOOD:
        item = booking()
        del item[field]
        assert rows._valid_booking(item, CENTRES) is None or field == "given_names"


@pytest.mark.parametrize("changes", [{}, *ACCEPTED_AS_CHANGED[-4:],
                                     {"id_kind": "access_notice", "id_number": "AN20260001"}])
def test_rows_as_an_export_writes_them_take_the_fast_path(changes: dict[str, str]) -> None:
    item = booking(**changes)
    assert rows._valid_booking(item, CENTRES) == _by_field(item)


def test_every_row_of_the_benchmark_export_takes_the_fast_path() -> None:
    centres = frozenset(bench.CENTRES)
    for i in range(0, 20_000, 7):
        item = bench.booking_row(i)
        fast = rows._valid_booking(item, centres)
        assert fast is not None and fast == rows._booking_by_field(item, centres)


# --- the JSON reader's runs of items -------------------------------------------------------------

# Items whose text holds what a run's end is looked for by (a `}` then a comma) where no item
# ends, values msgspec refuses and `json` takes, and plain rows.
TRICKY_ITEMS: list[Any] = [
    GOOD,
    {**GOOD, "surname": "A},{B", "given_names": "C}\n,D"},
    {**GOOD, "extra": {"nested": {"deeper": [1, {"x": "},"}]}}, "after": ","},
    {**GOOD, "surname": "\ud800 lone", "given_names": "陳大文"},
    {**GOOD, "extra": float("inf")},  # written as Infinity: json reads it, msgspec does not
    [], {}, "text", 12345678901234567890123, None,
    *[{**GOOD, "booking_ref": f"MEP{i:06d}"} for i in range(40)],
]
LAYOUTS = {
    "compact": dict(separators=(",", ":")),
    "spaced": dict(),
    "indented": dict(indent=2),
}


@pytest.mark.parametrize("chunk", [7, 64, 1000, 1 << 16])
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_the_json_reader_reads_what_json_reads(
        chunk: int, layout: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Read in runs (msgspec) where it can and an item at a time where it cannot, the items
    are exactly those `json` reads from the whole text, numbered alike, whatever the window."""
    monkeypatch.setattr(rows, "CHUNK_CHARS", chunk)
    text = json.dumps({"exported_at": "x", "bookings": TRICKY_ITEMS}, **LAYOUTS[layout])
    expected = list(enumerate(json.loads(text)["bookings"], start=1))
    buffer = rows._Buffer(io.StringIO(text))
    assert list(rows._json_items(buffer, {}, rows.BOOKINGS)) == expected


def test_an_export_as_written_is_read_in_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The runs are the reader's speed: a plain export (one row a line, a comma starting the
    next) is read a window's rows at a time, not one by one."""
    decoded: list[int] = []
    fast = rows._FAST

    def counted(text: str) -> Any:
        items = fast(text)
        decoded.append(len(items))
        return items

    monkeypatch.setattr(rows, "_FAST", counted)
    out = io.StringIO()
    bench.write_export(out, 2000)
    out.seek(0)
    items = list(rows._json_items(rows._Buffer(out), {}, rows.BOOKINGS))
    assert [n for n, _ in items] == list(range(1, 2001))
    assert sum(decoded) >= 1990 and len(decoded) <= 2000 // 100
