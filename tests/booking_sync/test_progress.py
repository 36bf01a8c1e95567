"""The progress bar: drawn in a terminal, nothing elsewhere (the summary line says it all)."""

from __future__ import annotations

import io
import os
import select
import subprocess
import time
from pathlib import Path

import pytest
import redis
from booking_exports import booking, write_json

from queueserver.booking_sync.importer import APPLYING, READING
from queueserver.booking_sync.progress import Bar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_redraws_one_line_in_a_terminal() -> None:
    now = [0.0]
    out = Terminal()
    bar = Bar(out, now=lambda: now[0])
    now[0] = 1.0
    bar(READING, 500, None)
    assert out.getvalue() == "\rreading 500 rows 500 rows/s\x1b[K"
    bar(READING, 1000, None)  # too soon after the last redraw: skipped
    assert out.getvalue().count("\r") == 1
    now[0] = 2.0
    bar(APPLYING, 250, 1000)
    assert out.getvalue().endswith(
        "\rapplying [#######-----------------------]  25% 250/1,000 rows 125 rows/s\x1b[K")
    bar.clear()  # a line is about to be printed
    assert out.getvalue().endswith("\r\x1b[K")
    bar(APPLYING, 1000, 1000)  # the last one is always drawn
    assert "100% 1,000/1,000 rows" in out.getvalue()
    bar.close()
    assert out.getvalue().endswith("\x1b[K\n")


def test_nothing_is_drawn_where_nobody_watches() -> None:
    out = io.StringIO()
    bar = Bar(out)
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
    leader, follower = os.openpty()
    proc = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=follower)
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + 60
    while True:
        # Read only what has come, and give up on an import that never ends its output.
        left = deadline - time.monotonic()
        assert left > 0, f"the import's terminal was still open after 60 s: {seen[-300:]!r}"
        if not select.select([leader], [], [], left)[0]:
            continue
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal's other end closed with the process
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    stdout, _ = proc.communicate(timeout=60)
    screen = seen.decode()
    assert "applying [" in screen and "1,201/1,201 rows" in screen
    # Standard output is a pipe: the report lines and the summary, nothing of the bar.
    assert stdout.decode() == ("row 1201: date: must be a real date as YYYY-MM-DD\n"
                               "imported=1200 updated=0 cancelled=0 unchanged=0 rejected=1\n")
