"""The import reports exactly the rows and reasons, and leaves exactly the store, that the import
before issue 20's single pass did, on an export with every kind of bad row and change
(`golden_export.py` says what is in it)."""

from __future__ import annotations

import json

import pytest
import redis
from golden_export import GOLDEN, outcome


@pytest.mark.parametrize("name", ["export.json", "export.csv"])
def test_the_import_matches_the_golden_report_and_store(r: redis.Redis, name: str) -> None:
    expected = json.loads((GOLDEN / "expected.json").read_text(encoding="utf-8"))[name]
    got = json.loads(json.dumps(outcome(r, GOLDEN)[name], ensure_ascii=False))
    assert got["first"] == expected["first"]
    assert got["again"] == expected["again"]
    assert got["store"]["special"] == expected["store"]["special"]
    assert got["store"] == expected["store"]
