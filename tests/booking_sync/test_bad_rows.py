"""A table of bad rows (CONTRACT §2): each rejected with its row number, field and reason,
never stopping the good rows around it."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from booking_exports import INVALID, booking, run, write_csv, write_json

from queueserver.store import keys


@pytest.mark.parametrize(("field", "value", "reason"), INVALID)
def test_each_rule_rejects_with_its_line(
    r: redis.Redis, tmp_path: Path, field: str, value: str, reason: str
) -> None:
    items = [booking(booking_ref="OK1"), booking(**{field: value})]
    c, lines = run(r, write_csv(tmp_path / "export.csv", items))
    assert str(c) == "imported=1 updated=0 cancelled=0 unchanged=0 rejected=1"
    assert lines == [f"row 3: {field}: {reason}"]
    c, lines = run(r, write_json(tmp_path / "export.json", items))
    assert str(c) == "imported=0 updated=0 cancelled=0 unchanged=1 rejected=1"
    assert lines == [f"row 2: {field}: {reason}"]


def test_one_export_full_of_bad_rows_imports_every_good_one(
    r: redis.Redis, tmp_path: Path
) -> None:
    """Every bad row of the table in one export, each between two good ones: each is reported
    by its own row number, in order, and every good row is imported."""
    items, expected_csv, expected_json = [], [], []
    for i, (field, value, reason) in enumerate(INVALID):
        items.append(booking(booking_ref=f"GOOD{i}"))
        items.append(booking(**{"booking_ref": f"BAD{i}", field: value}))
        # The CSV header is row 1, so the i-th bad row is on line 2i + 3; JSON counts from 1.
        expected_csv.append(f"row {2 * i + 3}: {field}: {reason}")
        expected_json.append(f"row {2 * i + 2}: {field}: {reason}")
    items.append(booking(booking_ref="LAST"))
    good = len(INVALID) + 1
    c, lines = run(r, write_csv(tmp_path / "export.csv", items))
    assert (c.imported, c.rejected, lines) == (good, len(INVALID), expected_csv)
    assert r.hlen(keys.booking_index()) == good
    r.flushdb()
    c, lines = run(r, write_json(tmp_path / "export.json", items))
    assert (c.imported, c.rejected, lines) == (good, len(INVALID), expected_json)
    assert not [k for k in r.hkeys(keys.booking_index()) if not k.startswith(("GOOD", "LAST"))]
