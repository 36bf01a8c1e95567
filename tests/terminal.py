"""Run a command with its standard error on a terminal (a pseudo-terminal, as a person's shell
gives it) and its standard output on a pipe: what a progress bar draws, and what it must not."""

from __future__ import annotations

import os
import select
import subprocess
import time
from pathlib import Path


def run_on_terminal(command: list[str], env: dict[str, str], cwd: Path,
                    timeout: float = 120) -> tuple[int, str, str]:
    """(exit code, standard output, what the terminal was sent)."""
    leader, follower = os.openpty()
    proc = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=follower)
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + timeout
    try:
        while True:  # until the process, the terminal's other end, exits
            left = deadline - time.monotonic()
            assert left > 0, f"{command} still running after {timeout} s"
            ready, _, _ = select.select([leader], [], [], left)
            if not ready:
                continue
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal's other end closed with the process
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(leader)
        if proc.poll() is None and time.monotonic() >= deadline:
            proc.kill()
    stdout, _ = proc.communicate(timeout=timeout)
    return proc.returncode, stdout.decode(), seen.decode()
