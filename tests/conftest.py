"""Shared fixtures: a private redis-server on a free loopback port, never the machine's own."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = shutil.which("redis-server")
    assert binary, "redis-server is required (apt-get install redis-server)"
    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(folder)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    for _ in range(200):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.02)
    else:
        proc.kill()
        raise RuntimeError("the test redis-server did not start")
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def r(redis_url: str) -> Iterator[redis.Redis]:
    """A clean database on the suite's own server (flushing it is safe: the suite made it)."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.flushdb()
    yield client
    client.close()


SAMPLE_CONFIG = Path(__file__).parent / "data" / "config.toml"


@pytest.fixture
def config_path() -> Path:
    return SAMPLE_CONFIG


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUEUESERVER_SECRET", "test-secret")
    os.environ.pop("QUEUESERVER_TEST_NOW", None)
