"""Without REDIS_URL, every command shares one private redis-server in the data folder."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from conftest import alive, children, server_env, start_server

pytestmark = pytest.mark.e2e


def token(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(["queueserver", "tokens", "create", *args], env=env,
                          capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.strip().splitlines()[-1]


def test_tokens_create_then_serve_share_one_embedded_redis(tmp_path: Path) -> None:
    env = server_env(None, QUEUESERVER_DATA=str(tmp_path / "var"))
    env.pop("QUEUESERVER_SECRET")
    assert "REDIS_URL" not in env
    before = token(env, "--role", "admin", "--name", "before-serve")
    server = start_server(env, cwd=tmp_path)
    try:
        board = "/api/v1/centres/wan-chai/board"
        answer = httpx.get(server.url + board, headers={"Authorization": f"Bearer {before}"})
        assert answer.status_code == 200, answer.text
        # While serve runs, a command uses serve's redis-server rather than another one.
        redis_servers = [p for p in children(server.proc.pid)
                         if b"redis-server" in Path(f"/proc/{p}/cmdline").read_bytes()]
        assert len(redis_servers) == 1
        during = token(env, "--role", "display", "--centre", "wan-chai")
        assert httpx.get(server.url + board,
                         headers={"Authorization": f"Bearer {during}"}).status_code == 200
        assert alive(redis_servers[0])
        # Killed outright, serve takes its redis-server with it.
        os.kill(server.proc.pid, signal.SIGKILL)
        server.proc.wait(10)
        deadline = time.monotonic() + 10
        while alive(redis_servers[0]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(redis_servers[0])
    finally:
        server.stop()
    # The next command starts it again on the same data: both credentials are still there.
    done = subprocess.run(["queueserver", "tokens", "revoke", "before-serve"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
