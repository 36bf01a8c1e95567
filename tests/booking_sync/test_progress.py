"""The progress bar of `bookings import` (queueserver/platform/progress.py): drawn in a terminal,
nothing elsewhere (the summary line says it all)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
import redis
from booking_exports import booking, write_json
from terminal import run_on_terminal

from queueserver.booking_sync.importer import APPLYING, READING
from queueserver.platform.progress import Bar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_redraws_one_line_in_a_terminal() -> None:
    out = Terminal()
    bar = Bar(out, "rows")
    bar(READING, 500, None)
    assert out.getvalue().startswith("\rreading: ") and " rows [" in out.getvalue()
    bar(APPLYING, 250, 1000)  # a new phase starts the same line again
    assert out.getvalue().rsplit("\r", 1)[1].startswith("applying:   0%|")
    assert "\n" not in out.getvalue()
    bar.clear()  # a line is about to be printed
    assert out.getvalue().endswith(" \r") and out.getvalue().rsplit("\r", 2)[1].strip() == ""
    bar(APPLYING, 1000, 1000)
    bar.close()  # the last state is drawn and kept on its line
    last = out.getvalue().rsplit("\r", 1)[1]
    assert last.startswith("applying: 100%|") and " 1000/1000 [" in last and last.endswith("\n")
    assert out.getvalue().count("\n") == 1


def test_nothing_is_drawn_where_nobody_watches() -> None:
    out = io.StringIO()
    bar = Bar(out, "rows")
    bar(READING, 500, None)
    bar(APPLYING, 1000, 1000)
    bar.clear()
    bar.close()
    assert out.getvalue() == ""


@pytest.mark.e2e
def test_the_import_command_draws_it_on_a_terminal_only(
        r: redis.Redis, redis_url: str, tmp_path: Path) -> None:
    export = write_json(tmp_path / "export.json",
                        [booking(booking_ref=f"R{i}") for i in range(1200)]
                        + [booking(booking_ref="BAD", date="2026-13-01")])
    env = {**os.environ, "REDIS_URL": redis_url, "QUEUESERVER_SECRET": "test-secret",
           "QUEUESERVER_DATA": str(tmp_path / "var")}
    env.pop("QUEUESERVER_CONFIG", None)
    command = ["queueserver", "--config", str(Path(__file__).parent.parent / "data" /
                                              "config.toml"), "bookings", "import", str(export)]
    _, stdout, screen = run_on_terminal(command, env, tmp_path, timeout=60)
    assert "applying: 100%|" in screen and " 1201/1201 [" in screen
    # Standard output is a pipe: the report lines and the summary, nothing of the bar.
    assert stdout == ("row 1201: date: must be a real date as YYYY-MM-DD\n"
                      "imported=1200 updated=0 cancelled=0 unchanged=0 rejected=1\n")
