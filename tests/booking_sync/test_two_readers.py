"""An export file of more than two batches is read by two processes (`importer._Helper`): the
same report, counts and store as one process reading it alone, and the same "nothing
imported" when the file cannot be read, wherever that shows, or when the second reader fails."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import redis
from booking_exports import CENTRES, SECRET, booking, run, write_csv, write_json
from golden_export import GOLDEN, outcome

from queueserver.booking_sync import importer, rows
from queueserver.bookings.store import BookingStore


@pytest.fixture
def helpers(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The second readers started (their process ids), batches of 5 rows."""
    monkeypatch.setattr(importer, "BATCH_ROWS", 5)
    started: list[int] = []
    start = importer._Helper.__init__

    def counted(self: importer._Helper, *args: Any, **kwargs: Any) -> None:
        start(self, *args, **kwargs)
        started.append(self.pid)

    monkeypatch.setattr(importer._Helper, "__init__", counted)
    return started


def gone(pids: list[int]) -> bool:
    """Every one of these processes has ended and been waited for."""
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            continue
        return False
    return True


def test_two_readers_report_and_store_what_one_does(
        r: redis.Redis, monkeypatch: pytest.MonkeyPatch, helpers: list[int]) -> None:
    """The golden export (every kind of bad row, bookings whose rows fall in both readers'
    batches, held rows), each form imported twice."""
    together = json.loads(json.dumps(outcome(r, GOLDEN), ensure_ascii=False))
    assert len(helpers) == 6  # in each form: the file before, and the export twice
    monkeypatch.setattr(importer, "_can_fork", lambda: False)
    alone = json.loads(json.dumps(outcome(r, GOLDEN), ensure_ascii=False))
    assert len(helpers) == 6
    assert together == alone
    assert gone(helpers)


def test_a_small_file_is_read_by_one_process(r: redis.Redis, tmp_path: Path,
                                             helpers: list[int]) -> None:
    c, _ = run(r, write_csv(tmp_path / "export.csv", [
        booking(booking_ref=f"B{i}") for i in range(10)]))
    assert str(c) == "imported=10 updated=0 cancelled=0 unchanged=0 rejected=0"
    assert helpers == []
    c, _ = run(r, write_csv(tmp_path / "export.csv", [
        booking(booking_ref=f"B{i}") for i in range(11)]))
    assert str(c) == "imported=1 updated=0 cancelled=0 unchanged=10 rejected=0"
    assert len(helpers) == 1


@pytest.mark.parametrize("rows_before_the_break", [12, 17, 22, 27])
def test_a_file_broken_late_imports_nothing(
        r: redis.Redis, tmp_path: Path, helpers: list[int], rows_before_the_break: int) -> None:
    """Broken in a batch this process prepares (rows 11-15, 21-25) or in one the helper
    prepares (16-20, 26-30): both read the whole file."""
    items = [booking(booking_ref=f"B{i}") for i in range(rows_before_the_break)]
    text = json.dumps(items)[:-1] + ', {"booking_ref": "B99", "centre": '
    path = tmp_path / "export.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(rows.FileError, match="not valid JSON"):
        run(r, path)
    assert len(helpers) == 1
    assert r.dbsize() == 0  # not one booking, and no plan left behind
    assert gone(helpers)


class FailingInTheHelper(BookingStore):
    """Prepares rows as the store does, but fails on one row in the second reader only."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.importer_pid = os.getpid()

    def prepare(self, b: Any) -> tuple[str, str, list[str]]:
        if os.getpid() != self.importer_pid and b.ref == "B17":
            raise ValueError(f"{b.id_number} is not what it seemed")
        return super().prepare(b)


def test_the_second_reader_failing_stops_the_import_before_any_write(
        r: redis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        helpers: list[int]) -> None:
    path = write_json(tmp_path / "export.json", [booking(booking_ref=f"B{i}") for i in range(40)])
    store = FailingInTheHelper(r, SECRET, path.name, "2026-11-26T18:00:00+08:00")
    source = importer.from_file(lambda: path.open("rb"), "json", CENTRES)
    with pytest.raises(RuntimeError) as failed:
        importer.run(store, source, lambda line: None)
    # Its kind, never its message: that might quote a row's value.
    assert str(failed.value) == "the import's second reader failed (ValueError)"
    assert r.dbsize() == 0
    assert gone(helpers)
    # The same store in one process: the row is fine there, and everything is imported.
    monkeypatch.setattr(importer, "_can_fork", lambda: False)
    counts = importer.run(store, importer.from_file(lambda: path.open("rb"), "json", CENTRES),
                          lambda line: None)
    assert str(counts) == "imported=40 updated=0 cancelled=0 unchanged=0 rejected=0"
