"""The import reports exactly the rows and reasons, and leaves exactly the store, that the import
before issue 20's single pass did, on an export with every kind of bad row and change
(`golden_export.py` says what is in it)."""

from __future__ import annotations

import json

import pytest
import redis
from golden_export import GOLDEN, outcome

from queueserver.booking_sync import importer
from queueserver.bookings import store


@pytest.mark.parametrize("name", ["export.json", "export.csv"])
@pytest.mark.parametrize("way", ["batches", "small-batches", "calls-out-of-budget"])
def test_the_import_matches_the_golden_report_and_store(
        r: redis.Redis, monkeypatch: pytest.MonkeyPatch, name: str, way: str) -> None:
    """Small batches and script calls too: a booking's rows then fall in several batches, and
    a batch's rows of one centre in several calls. And calls that each stop once they may (no
    budget at all), their rows left for the next round trip."""
    if way == "small-batches":
        monkeypatch.setattr(importer, "BATCH_ROWS", 7)
        monkeypatch.setattr(store, "ROWS_A_CALL", 3)
        monkeypatch.setattr(store, "MAX_ROWS_A_CALL", 3)
    if way == "calls-out-of-budget":
        monkeypatch.setattr(store, "CALL_BUDGET_US", 0)
    expected = json.loads((GOLDEN / "expected.json").read_text(encoding="utf-8"))[name]
    got = json.loads(json.dumps(outcome(r, GOLDEN)[name], ensure_ascii=False))
    assert got["first"] == expected["first"]
    assert got["again"] == expected["again"]
    assert got["store"]["special"] == expected["store"]["special"]
    assert got["store"] == expected["store"]
