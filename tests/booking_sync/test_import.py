"""The booking export import (CONTRACT §2) and `queueserver bookings import` (CONTRACT §3)."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis
from booking_exports import (
    AT,
    CENTRES,
    DATA,
    GOOD,
    LATER,
    SECRET,
    booking,
    history,
    run,
    write_csv,
    write_json,
)

from queueserver.booking_sync import importer, rows
from queueserver.bookings import store
from queueserver.rules import identity
from queueserver.store import keys

# --- the forms of the file -----------------------------------------------------------------------


def test_csv_import_writes_the_store_layout(r: redis.Redis, tmp_path: Path) -> None:
    c, lines = run(r, write_csv(tmp_path / "export.csv", [GOOD]))
    assert (str(c), lines) == ("imported=1 updated=0 cancelled=0 unchanged=0 rejected=0", [])
    kiosk_key = identity.kiosk_key(SECRET, "wan-chai")
    assert r.hgetall(keys.booking("wan-chai", "MEP240001")) == {
        "ref": "MEP240001",
        "centre": "wan-chai",
        "date": "2026-11-27",
        "slot_start": "09:30",
        "slot_end": "10:00",
        "application_type": "first",
        "surname": "SMITH",
        "given_names": "JOHN PAUL",
        "id_kind": "hkid",
        "id_hash": identity.keyed_hash(SECRET, "hkid", "A1234563"),
        "id_masked": "A1****(3)",
        "id_verifier": identity.id_verifier(kiosk_key, "hkid", "A1234563"),
        "passport_no": "K1234567",
        "nationality": "GBR",
        "status": "approved",
        "updated_at": AT,
        "source": "export.csv",
        # Its creation, which its history shows as its first entry (bookings/history.py): a
        # booking new here has no history list of its own yet.
        "created_at": AT,
        "created_source": "export.csv",
    }
    assert not r.exists(keys.booking_history("wan-chai", "MEP240001"))
    assert r.hgetall(keys.booking_index()) == {"MEP240001": "wan-chai"}
    [entry] = history(r, "wan-chai", "MEP240001")
    assert entry["change"] == "created" and entry["at"] == AT and entry["source"] == "export.csv"
    assert "status" in entry["fields"] and "id_hash" in entry["fields"]
    assert "SMITH" not in json.dumps(entry) and "A123456" not in json.dumps(entry)
    # Bookings are not screen events.
    assert not r.exists(keys.events("wan-chai"))


def test_a_booking_with_a_history_already_lists_its_creation_after_it(
        r: redis.Redis, tmp_path: Path) -> None:
    """Its creation goes on its record only where it has no history yet: an entry kept from
    before stays first, in the order things happened."""
    earlier = json.dumps({"at": "2026-11-20T10:00:00+08:00", "source": "erase",
                          "change": "personal_removed", "fields": ["surname"]})
    r.rpush(keys.booking_history("wan-chai", "MEP240001"), earlier)
    c, _ = run(r, write_csv(tmp_path / "export.csv", [booking()]))
    assert str(c) == "imported=1 updated=0 cancelled=0 unchanged=0 rejected=0"
    record = r.hgetall(keys.booking("wan-chai", "MEP240001"))
    assert "created_at" not in record and "created_source" not in record
    assert [(e["change"], e["source"]) for e in history(r, "wan-chai", "MEP240001")] == [
        ("personal_removed", "erase"), ("created", "export.csv")]


def test_sample_csv_with_bom_and_extra_column_then_same_bookings_as_json(r: redis.Redis) -> None:
    c, lines = run(r, DATA / "bookings.csv")
    assert (str(c), lines) == ("imported=2 updated=0 cancelled=1 unchanged=0 rejected=0", [])
    stored = r.hgetall(keys.booking("wan-chai", "MEP240002"))
    assert (stored["surname"], stored["given_names"], stored["id_masked"]) == (
        "陳",
        "大文",
        "B7****(A)",
    )
    notice = r.hgetall(keys.booking("kowloon-bay", "MEP240003"))
    assert (notice["nationality"], notice["status"], notice["given_names"]) == (
        "HKG",
        "cancelled",
        "",
    )
    # The JSON sample holds the same bookings, written differently ({"bookings": [...]}
    # among other members, ids without brackets or in lower case, null given names).
    c, lines = run(r, DATA / "bookings.json")
    assert (str(c), lines) == ("imported=0 updated=0 cancelled=0 unchanged=3 rejected=0", [])


def test_json_array_form(r: redis.Redis, tmp_path: Path) -> None:
    path = write_json(tmp_path / "export.json", [GOOD, booking(booking_ref="MEP240002")])
    assert str(run(r, path)[0]) == "imported=2 updated=0 cancelled=0 unchanged=0 rejected=0"
    assert r.hget(keys.booking_index(), "MEP240002") == "wan-chai"


def test_header_in_any_order_and_case_with_extra_columns(r: redis.Redis, tmp_path: Path) -> None:
    names = ["Remarks", *reversed([f.upper() for f in rows.FIELDS])]
    values = ["call back", *reversed([GOOD[f] for f in rows.FIELDS])]
    path = tmp_path / "export.csv"
    path.write_text(",".join(names) + "\n" + ",".join(values) + ",x,y\n", encoding="utf-8")
    c, lines = run(r, path)
    assert (str(c), lines) == ("imported=1 updated=0 cancelled=0 unchanged=0 rejected=0", [])
    assert r.hget(keys.booking("wan-chai", "MEP240001"), "surname") == "SMITH"


def test_format_is_detected_or_given(r: redis.Redis, tmp_path: Path) -> None:
    as_text = write_json(tmp_path / "export.txt", [GOOD])
    assert rows.detect(lambda: as_text.open("rb"), as_text.name) == "json"
    assert str(run(r, as_text)[0]).startswith("imported=1 ")
    with pytest.raises(rows.FileError, match="missing columns"):
        run(r, as_text, fmt="csv")


def test_json_is_read_across_chunk_ends(
    r: redis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tiny chunks cut every string, number and literal somewhere.
    monkeypatch.setattr(rows, "CHUNK_CHARS", 3)
    items: list[Any] = [booking(booking_ref=f"R{i}") for i in range(5)]
    items.append({**GOOD, "booking_ref": 1234567, "extra": [1.5e3, True, None, {"a": "}"}]})
    path = tmp_path / "export.json"
    path.write_text(
        json.dumps({"x": [1, {"y": "]"}], "bookings": items, "n": 12345}, indent=2),
        encoding="utf-8",
    )
    c, lines = run(r, path)
    assert str(c) == "imported=5 updated=0 cancelled=0 unchanged=0 rejected=1"
    assert lines == ["row 6: booking_ref: must be text"]


class _Endless(io.RawIOBase):
    """A file that never ends: proves rows are read as they come, not the file first."""

    def __init__(self, head: bytes, item: bytes) -> None:
        self.head, self.item = head, item

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.head or self.item
        self.head = b""
        n = min(len(buffer), len(data))
        buffer[:n] = data[:n]
        return n


def _first(stream: _Endless, fmt: str, n: int) -> list[int]:
    found = rows.read(lambda: io.BufferedReader(stream), fmt, CENTRES)
    return [number for number, _ in (next(found) for _ in range(n))]


def test_rows_are_streamed() -> None:
    csv_line = ",".join(GOOD[f] for f in rows.FIELDS).encode() + b"\n"
    assert _first(_Endless(",".join(rows.FIELDS).encode() + b"\n", csv_line), "csv", 3) == [2, 3, 4]
    json_item = json.dumps(GOOD).encode() + b",\n"
    assert _first(_Endless(b'{"bookings": [', json_item), "json", 3) == [1, 2, 3]


# --- validation (the table of bad rows: test_bad_rows.py) ----------------------------------------


def test_what_is_allowed(r: redis.Redis, tmp_path: Path) -> None:
    items = [
        booking(booking_ref="A1", given_names=""),
        booking(booking_ref="A2", id_number="a123456 (3)", nationality="gbr"),
        booking(booking_ref="A3", id_kind="access_notice", id_number="AN 2026/1"),
        booking(booking_ref="A4", slot_start="23:00", slot_end="23:59", date="2028-02-29"),
    ]
    c, lines = run(r, write_csv(tmp_path / "export.csv", items))
    assert (str(c), lines) == ("imported=4 updated=0 cancelled=0 unchanged=0 rejected=0", [])
    assert r.hget(keys.booking("wan-chai", "A2"), "nationality") == "GBR"


def test_first_failing_field_is_named(r: redis.Redis, tmp_path: Path) -> None:
    bad = booking(date="2026-13-01", id_number="A123456(4)", status="maybe")
    assert run(r, write_csv(tmp_path / "export.csv", [bad]))[1] == [
        "row 2: date: must be a real date as YYYY-MM-DD"
    ]


def test_json_items_of_the_wrong_shape(r: redis.Redis, tmp_path: Path) -> None:
    items: list[Any] = [
        "MEP240001",
        {**GOOD, "surname": 7},
        {"booking_ref": "X1"},
        {**GOOD, "given_names": None},
    ]
    c, lines = run(r, write_json(tmp_path / "export.json", items))
    assert str(c) == "imported=1 updated=0 cancelled=0 unchanged=0 rejected=3"
    assert lines == [
        "row 1: booking: must be an object with the export's fields",
        "row 2: surname: must be text",
        "row 3: centre: missing",
    ]


def test_short_csv_rows_and_blank_lines(r: redis.Redis, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    full = ",".join(GOOD[f] for f in rows.FIELDS)
    path.write_text(",".join(rows.FIELDS) + "\n\nMEP1,wan-chai\n" + full + "\n", encoding="utf-8")
    c, lines = run(r, path)
    assert str(c) == "imported=1 updated=0 cancelled=0 unchanged=0 rejected=1"
    assert lines == ["row 3: date: missing"]


PERSONAL = {
    "booking_ref": "MEP777777",
    "surname": "CHEUNG",
    "given_names": "SIU MING",
    "id_number": "C6686689",
    "passport_no": "H9876543",
}


def test_rejections_never_quote_personal_data(r: redis.Redis, tmp_path: Path) -> None:
    person = booking(**PERSONAL)
    items = [
        {**person, "id_number": "C6686680"},  # wrong check digit
        {**person, "id_number": "C668668"},  # wrong shape
        {**person, "id_kind": "access_notice", "id_number": "N" * 80},
        {**person, "passport_no": "H98-76543"},
        {**person, "booking_ref": "MEP 777777"},
        {**person, "surname": "CHEUNG" * 20},
        # Columns shifted by one: personal data lands in fields that should hold none.
        dict(
            zip(
                rows.FIELDS,
                ["MEP777777", "CHEUNG", *[person[f] for f in rows.FIELDS][1:]],
                strict=False,
            )
        ),
        {**person, "centre": "C6686689"},
        {**person, "date": "CHEUNG"},
        {**person, "application_type": "H9876543"},
        {**person, "id_kind": "SIU MING"},
        {**person, "nationality": "C6686689"},
        {**person, "status": "MEP777777"},
    ]
    for path in (
        write_csv(tmp_path / "export.csv", items),
        write_json(tmp_path / "export.json", items),
    ):
        c, lines = run(r, path)
        assert c.rejected == len(items) and len(lines) == len(items)
        for line in lines:
            for value in [*PERSONAL.values(), "C668668", "NNNN", "SIU", "H98", "MEP 7"]:
                assert value.lower() not in line.lower()


# --- what a row does to the store ----------------------------------------------------------------


def test_update_cancel_reinstate_unchanged_in_file_order(r: redis.Redis, tmp_path: Path) -> None:
    items = [
        booking(),  # imported
        booking(slot_start="10:00", slot_end="10:30"),  # updated
        booking(slot_start="10:00", slot_end="10:30"),  # unchanged
        booking(slot_start="10:00", slot_end="10:30", status="cancelled"),  # cancelled
        booking(slot_start="10:00", slot_end="10:30", status="cancelled"),  # unchanged
        booking(slot_start="10:00", slot_end="10:30", status="cancelled", surname="SMYTH"),
        booking(slot_start="10:00", slot_end="10:30", surname="SMYTH"),  # reinstated: updated
        booking(booking_ref="MEP240002", status="cancelled"),  # cancelled when first seen
    ]
    c, lines = run(r, write_csv(tmp_path / "export.csv", items))
    assert (str(c), lines) == ("imported=1 updated=3 cancelled=2 unchanged=2 rejected=0", [])
    changes = [(e["change"], e["fields"]) for e in history(r, "wan-chai", "MEP240001")]
    assert changes[1:] == [
        ("updated", ["slot_start", "slot_end"]),
        ("cancelled", ["status"]),
        ("updated", ["surname"]),
        ("reinstated", ["status"]),
    ]
    assert history(r, "wan-chai", "MEP240002")[0]["change"] == "created"
    assert r.hget(keys.booking("wan-chai", "MEP240002"), "status") == "cancelled"
    # Again: the store already holds each booking's last row, so no row changes anything.
    before = {k: r.dump(k) for k in r.keys("*")}
    c, _ = run(r, tmp_path / "export.csv", at=LATER)
    assert str(c) == "imported=0 updated=0 cancelled=0 unchanged=8 rejected=0"
    assert {k: r.dump(k) for k in r.keys("*")} == before


def test_rows_spanning_batches_apply_in_order(
    r: redis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer, "BATCH_ROWS", 2)
    items = [
        booking(),
        booking(status="cancelled"),
        booking(),
        booking(centre="kowloon-bay"),
        booking(centre="kowloon-bay", status="cancelled"),
        booking(booking_ref="B2"),
        booking(booking_ref="B2", centre="kowloon-bay"),
    ]
    c, _ = run(r, write_csv(tmp_path / "export.csv", items))
    assert str(c) == "imported=2 updated=3 cancelled=2 unchanged=0 rejected=0"
    assert r.hgetall(keys.booking_index()) == {"MEP240001": "kowloon-bay", "B2": "kowloon-bay"}
    c, _ = run(r, tmp_path / "export.csv", at=LATER)
    assert str(c) == "imported=0 updated=0 cancelled=0 unchanged=7 rejected=0"


def test_a_bookings_rows_spanning_script_calls_change_nothing_the_second_time(
    r: redis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One batch, a centre's rows in calls of two: a booking found settled by its first row
    keeps its later rows from changing it, whichever call they would fall in."""
    monkeypatch.setattr(store, "ROWS_A_CALL", 2)
    items = [booking(status=s) for s in ("approved", "cancelled", "approved", "cancelled",
                                         "approved")] + [booking(booking_ref="B2")]
    path = write_csv(tmp_path / "export.csv", items)
    c, _ = run(r, path)
    assert str(c) == "imported=2 updated=2 cancelled=2 unchanged=0 rejected=0"
    before = {k: r.dump(k) for k in r.keys("*")}
    c, lines = run(r, path, at=LATER)
    assert (str(c), lines) == ("imported=0 updated=0 cancelled=0 unchanged=6 rejected=0", [])
    assert {k: r.dump(k) for k in r.keys("*")} == before


def evalsha_calls(r: redis.Redis) -> int:
    """booking_upsert is the import's one script: every EVALSHA since the last
    `config_resetstat` is one of its calls."""
    return int(r.info("commandstats")["cmdstat_evalsha"]["calls"])


def test_an_import_sends_a_few_rows_a_script_call(
        r: redis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Redis runs one script at a time for every centre it holds: however long the export, an
    import starts at ROWS_A_CALL rows a call (issue 20), a centre's rows apart from another's,
    the same file again as many. (A budget no call reaches: the calls' count is the rows'.)"""
    monkeypatch.setattr(store, "CALL_BUDGET_US", 10**9)
    per_call = store.ROWS_A_CALL
    assert per_call <= store.MAX_ROWS_A_CALL <= 32  # ~0.5 ms of new rows (docs/benchmarks.md)
    items = [booking(booking_ref=f"MEP{i:04d}", centre=("wan-chai", "kowloon-bay")[i % 2])
             for i in range(5 * per_call + 3)]
    path = write_csv(tmp_path / "export.csv", items)
    wanted = sum(-(-len(items[i::2]) // per_call) for i in range(2))  # each centre's, rounded up
    for label, at in (("imported", AT), ("unchanged", LATER)):
        r.config_resetstat()  # the suite's own server: its counts of commands start again
        c, _ = run(r, path, at=at)
        assert getattr(c, label) == len(items)
        assert evalsha_calls(r) == wanted, label


def test_a_call_out_of_budget_stops_between_bookings_and_the_rest_follow(
        r: redis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A call whose budget has run out (here: none at all) stops before the next row of a
    booking it has not touched, never between two rows of one booking, and the importer sends
    what it left in the next call: every row applied once, in order, to the same store, the
    same counts and lines, as calls that never stop."""
    items = [booking(), booking(booking_ref="B2"), booking(status="cancelled"),
             booking(booking_ref="B3"), booking(booking_ref="B2", surname="LEE"),
             booking(booking_ref="B4"), booking(booking_ref="B5", centre="kowloon-bay"),
             booking(booking_ref="B6", centre="kowloon-bay")]
    path = write_csv(tmp_path / "export.csv", items)
    monkeypatch.setattr(store, "ROWS_A_CALL", len(items))
    results = []
    for budget in (10**9, 0):
        monkeypatch.setattr(store, "CALL_BUDGET_US", budget)
        r.flushdb()  # the suite's own server
        r.config_resetstat()
        first = run(r, path)
        calls = evalsha_calls(r)
        again = run(r, path, at=LATER)
        results.append((calls, str(first[0]), first[1], str(again[0]), again[1],
                        {k: r.dump(k) for k in r.keys("*")}))
    (whole, *unbounded), (cut, *bounded) = results
    assert unbounded == bounded
    assert unbounded[0] == "imported=6 updated=1 cancelled=1 unchanged=0 rejected=0"
    assert unbounded[2] == "imported=0 updated=0 cancelled=0 unchanged=8 rejected=0"
    # A budget that never runs out: one call a centre. None at all: wan-chai's rows MEP240001,
    # B2, MEP240001, B3, B2, B4 in two calls (the first runs to B2's last row, the fifth: it may
    # stop only before B4), kowloon-bay's two in two. Calls stopping before any row: 8.
    assert (whole, cut) == (2, 4)


@pytest.mark.parametrize(("rounds", "after"), [
    ([(100, 2500)], 7),    # 25 us a row: 0.7 x 250 us holds 7
    ([(100, 8000)], 2),    # a slow moment: 80 us a row
    ([(100, 30000)], 1),   # rows slower than the budget: one a call, never none
    ([(100, 500)], 32),    # 5 us a row: 35 would fit, MAX_ROWS_A_CALL
    ([(3, 0)], 32),        # too quick to measure
    # A round of one slow left-over row after a round of 2,000 moves it little...
    ([(2000, 50000), (1, 200)], 6),
    # ...and rounds long slow follow: 25 us a row, then 50.
    ([(2000, 50000), (2000, 100000)], 4),
    ([(2000, 50000), (2000, 100000), (2000, 100000), (2000, 100000)], 3),
])
def test_the_rows_a_call_follow_how_long_rows_take(
        r: redis.Redis, monkeypatch: pytest.MonkeyPatch, rounds: list[tuple[int, int]],
        after: int) -> None:
    monkeypatch.setattr(store, "CALL_BUDGET_US", 250)
    monkeypatch.setattr(store, "CALL_FILL", 0.7)
    s = store.BookingStore(r, SECRET, "export.csv", AT)
    for rows_, took_us in rounds:
        s._adapt(rows_, took_us)
    assert s._rows_a_call == after


def test_same_file_twice_changes_nothing(r: redis.Redis, tmp_path: Path) -> None:
    items = [
        booking(),
        booking(booking_ref="MEP2", status="cancelled"),
        booking(booking_ref="MEP3", centre="kowloon-bay"),
        booking(booking_ref="MEP3", centre="wan-chai", surname="LEE"),
    ]
    path = write_csv(tmp_path / "export.csv", items)
    run(r, path)
    before = {k: r.dump(k) for k in r.keys("*")}
    c, lines = run(r, path, at=LATER)
    assert (str(c), lines) == ("imported=0 updated=0 cancelled=0 unchanged=4 rejected=0", [])
    assert {k: r.dump(k) for k in r.keys("*")} == before


def test_same_id_written_differently_is_unchanged_another_id_is_not(
    r: redis.Redis, tmp_path: Path
) -> None:
    run(r, write_csv(tmp_path / "a.csv", [booking()]))
    c, _ = run(r, write_csv(tmp_path / "b.csv", [booking(id_number="a1234563")]))
    assert c.unchanged == 1
    c, _ = run(r, write_csv(tmp_path / "c.csv", [booking(id_number="B765432(A)")]))
    assert c.updated == 1
    last = history(r, "wan-chai", "MEP240001")[-1]
    assert (last["change"], last["fields"], last["source"]) == (
        "updated",
        ["id_hash", "id_masked", "id_verifier"],
        "c.csv",
    )
    assert r.hget(keys.booking("wan-chai", "MEP240001"), "source") == "c.csv"


def test_import_never_writes_or_clears_the_ticket(r: redis.Redis, tmp_path: Path) -> None:
    run(r, write_csv(tmp_path / "a.csv", [booking()]))
    r.hset(keys.booking("wan-chai", "MEP240001"), "ticket", "A001")
    run(r, write_csv(tmp_path / "b.csv", [booking(surname="SMYTH"), booking(status="cancelled")]))
    assert r.hget(keys.booking("wan-chai", "MEP240001"), "ticket") == "A001"
    run(r, write_csv(tmp_path / "c.csv", [booking(centre="kowloon-bay")]))
    assert r.hget(keys.booking("wan-chai", "MEP240001"), "ticket") == "A001"
    assert r.hget(keys.booking("kowloon-bay", "MEP240001"), "ticket") is None


def test_moving_centre_leaves_a_tombstone_and_a_copy(r: redis.Redis, tmp_path: Path) -> None:
    run(r, write_csv(tmp_path / "a.csv", [booking()]))
    old = r.hgetall(keys.booking("wan-chai", "MEP240001"))
    c, _ = run(r, write_csv(tmp_path / "b.csv", [booking(centre="kowloon-bay")]), at=LATER)
    assert str(c) == "imported=0 updated=1 cancelled=0 unchanged=0 rejected=0"
    tombstone = r.hgetall(keys.booking("wan-chai", "MEP240001"))
    assert tombstone == {**old, "status": "moved", "updated_at": LATER, "source": "b.csv"}
    copy = r.hgetall(keys.booking("kowloon-bay", "MEP240001"))
    kiosk_key = identity.kiosk_key(SECRET, "kowloon-bay")
    # Its creation stays with the old centre's record; the copy's history starts with its move.
    assert copy == {
        **{k: v for k, v in old.items() if k not in ("created_at", "created_source")},
        "centre": "kowloon-bay",
        "updated_at": LATER,
        "source": "b.csv",
        "id_verifier": identity.id_verifier(kiosk_key, "hkid", "A123456(3)"),
    }
    assert r.hget(keys.booking_index(), "MEP240001") == "kowloon-bay"
    out = history(r, "wan-chai", "MEP240001")[-1]
    assert (out["change"], out["fields"], out["to"]) == ("moved_out", ["status"], "kowloon-bay")
    [moved_in] = history(r, "kowloon-bay", "MEP240001")
    assert (moved_in["change"], moved_in["fields"], moved_in["from"]) == (
        "moved_in",
        ["centre", "id_verifier"],
        "wan-chai",
    )
    # Moving back, cancelled on the way: the old centre's tombstone becomes the booking again.
    c, _ = run(r, write_csv(tmp_path / "c.csv", [booking(status="cancelled")]))
    assert str(c) == "imported=0 updated=0 cancelled=1 unchanged=0 rejected=0"
    assert r.hget(keys.booking("kowloon-bay", "MEP240001"), "status") == "moved"
    assert r.hget(keys.booking("wan-chai", "MEP240001"), "status") == "cancelled"
    assert r.hget(keys.booking_index(), "MEP240001") == "wan-chai"


def test_a_move_cut_short_is_finished_by_the_next_import(r: redis.Redis, tmp_path: Path) -> None:
    run(r, write_csv(tmp_path / "a.csv", [booking()]))
    # As if the last run stopped after the tombstone, before the copy and the index.
    r.hset(keys.booking("wan-chai", "MEP240001"), "status", "moved")
    c, _ = run(r, write_csv(tmp_path / "b.csv", [booking(centre="kowloon-bay")]))
    assert str(c) == "imported=1 updated=0 cancelled=0 unchanged=0 rejected=0"
    assert r.hget(keys.booking("kowloon-bay", "MEP240001"), "status") == "approved"
    assert r.hget(keys.booking_index(), "MEP240001") == "kowloon-bay"


# --- files that cannot be read -------------------------------------------------------------------


def _valid_then(tail: str) -> str:
    return json.dumps([GOOD, booking(booking_ref="MEP2")])[:-1] + tail


UNREADABLE: list[tuple[str, bytes, str]] = [
    ("empty.csv", b"", "empty file"),
    ("noheader.csv", ",".join(GOOD.values()).encode(), "missing columns booking_ref, centre"),
    (
        "short.csv",
        b"booking_ref,centre,date\nX,wan-chai,2026-11-27\n",
        "missing columns slot_start",
    ),
    (
        "latin1.csv",
        ",".join(rows.FIELDS).encode()
        + b"\n"
        + ",".join(GOOD.values()).encode()
        + b"\n" * 70000
        + "CH\xc9UNG".encode("latin-1"),
        "not UTF-8 text",
    ),
    ("huge.csv", ",".join(rows.FIELDS).encode() + b"\n" + b"x" * 200_000, "not readable as CSV"),
    ("truncated.json", _valid_then(', {"booking_ref": "MEP3"').encode(), "not valid JSON"),
    ("garbage.json", _valid_then(", garbage]").encode(), "not valid JSON"),
    ("trailing.json", _valid_then("] []").encode(), "text after the end"),
    ("nobookings.json", b'{"rows": []}', 'no "bookings" array'),
    ("notarray.json", b'{"bookings": {"a": 1}}', 'no "bookings" array'),
    ("scalar.json", b'"bookings"', "not valid JSON"),
    ("image.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not UTF-8 text"),
]


@pytest.mark.parametrize(("name", "content", "message"), UNREADABLE)
def test_unreadable_files_import_nothing(
    r: redis.Redis, tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(rows.FileError, match=message.replace("(", r"\(")):
        run(r, path)
    assert r.dbsize() == 0


def test_empty_json_array_is_an_empty_export(r: redis.Redis, tmp_path: Path) -> None:
    assert str(run(r, write_json(tmp_path / "e.json", [], wrapped=True))[0]).startswith(
        "imported=0 "
    )


# --- the command ---------------------------------------------------------------------------------


def cli(redis_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("queueserver")
    command = [exe] if exe else [sys.executable, "-m", "queueserver.tools.cli"]
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "QUEUESERVER_SECRET": "test-secret",
        "QUEUESERVER_DATA": str(tmp_path / "var"),
    }
    env.pop("QUEUESERVER_CONFIG", None)
    return subprocess.run(
        [*command, "--config", str(DATA / "config.toml"), "bookings", "import", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.e2e
def test_command_exit_codes(r: redis.Redis, redis_url: str, tmp_path: Path) -> None:
    done = cli(redis_url, tmp_path, str(DATA / "bookings.csv"))
    assert (done.returncode, done.stdout) == (
        0,
        "imported=2 updated=0 cancelled=1 unchanged=0 rejected=0\n",
    )
    done = cli(redis_url, tmp_path, str(DATA / "bookings.json"), "--format", "json")
    assert (done.returncode, done.stdout) == (
        0,
        "imported=0 updated=0 cancelled=0 unchanged=3 rejected=0\n",
    )

    done = cli(redis_url, tmp_path, str(DATA / "bookings-rejected.csv"))
    assert (done.returncode, done.stdout) == (
        1,
        "row 3: id_number: check digit does not match\n"
        "imported=0 updated=0 cancelled=0 "
        "unchanged=1 rejected=1\n",
    )
    assert "A123456" not in done.stdout + done.stderr and "CHAN" not in done.stdout

    before = r.dbsize()
    truncated = tmp_path / "truncated.json"
    truncated.write_text(_valid_then(", {"), encoding="utf-8")
    for args in (
        ["missing.csv"],
        [str(truncated)],
        [str(DATA / "bookings.json"), "--format", "csv"],
    ):
        done = cli(redis_url, tmp_path, *args)
        assert done.returncode == 2, done.stderr
        assert done.stdout.splitlines()[-1] == (
            "imported=0 updated=0 cancelled=0 unchanged=0 rejected=0"
        )
        assert "cannot import" in done.stderr
    assert r.dbsize() == before


def test_a_booking_named_in_chinese_is_settled_by_its_fingerprint(
    r: redis.Redis, tmp_path: Path
) -> None:
    """The importer's fingerprint of a row counts bytes as booking_upsert.lua does (陳 is three
    in UTF-8): the second import finds the store already holding the last row, and the
    booking's cancellation and reinstatement are not played again."""
    items = [booking(surname="陳", given_names="大文", status="cancelled"),
             booking(surname="陳", given_names="大文")]
    path = write_json(tmp_path / "export.json", items)
    c, _ = run(r, path)
    assert str(c) == "imported=0 updated=1 cancelled=1 unchanged=0 rejected=0"
    before = {k: r.dump(k) for k in r.keys("*")}
    c, _ = run(r, path, at=LATER)
    assert str(c) == "imported=0 updated=0 cancelled=0 unchanged=2 rejected=0"
    assert {k: r.dump(k) for k in r.keys("*")} == before
    stored = r.hmget(keys.booking("wan-chai", "MEP240001"), store.STORED)
    text = ";".join(f"{n}={len(v.encode())}:{v}" for n, v in zip(store.STORED, stored, strict=True))
    assert store.fingerprint(stored) == r.eval("return redis.sha1hex(ARGV[1])", 0, text)
