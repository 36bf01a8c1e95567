"""`queueserver worker` forks a process for each job (RQ's work horse) while its own threads run
(the periodic schedule and notice sweep, the emails' dispatcher). A thread importing a module
at the moment of a fork leaves that module's import lock held in the child by a thread the child
does not have: the job then waits forever for it, and fails at its time limit (a print job did,
in CI: the sweep's first use of the Lua scripts imported their package as the first print job
was forked). So what those threads and the jobs run imports nothing once the worker's module is
loaded."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def test_the_scripts_and_the_notice_sweep_import_nothing_after_the_worker_is_loaded(
        tmp_path: Path) -> None:
    # In a fresh interpreter (this suite's own process has imported everything long ago), run
    # away from the source tree, so that it imports the package as installed.
    program = textwrap.dedent("""
        import sys
        import queueserver.tools.worker
        from queueserver.store import lua
        before = set(sys.modules)
        # The sweep's script (the schedule thread) and a print job's last one.
        lua.source("notice_expire")
        lua.source("printer_failed")
        new = sorted(set(sys.modules) - before)
        print(",".join(new))
    """)
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"imported lazily: {done.stdout.strip()}"
