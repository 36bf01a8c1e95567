"""Shared fixtures: a private redis-server on a free loopback port, never the machine's own."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from starlette.testclient import TestClient

from queueserver.auth import credentials as auth
from queueserver.bookings.store import Booking, BookingStore, Upsert
from queueserver.platform import config
from queueserver.platform.clock import Clock


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


# --- the app in-process, on the suite's Redis, with an injected clock ---------------------------




SECRET = b"test-secret"
TZ = config.load(SAMPLE_CONFIG).tz
# A Friday morning: no test depends on the real time of day.
DAY = dt.date(2026, 11, 27)
MORNING = dt.datetime(2026, 11, 27, 9, 20, tzinfo=TZ)
HKIDS = ["A123456(3)", "B987654(0)", "C668668(9)", "Z683365(A)"]


@pytest.fixture
def cfg() -> config.Config:
    return config.load(SAMPLE_CONFIG)


@pytest.fixture
def clock(cfg: config.Config) -> Clock:
    # Frozen: it moves only when a test sets or advances it, so exact times hold on any machine.
    return Clock.frozen(cfg.tz, MORNING)


@pytest.fixture
def client(r: redis.Redis, redis_url: str, cfg: config.Config,
           clock: Clock) -> Iterator[TestClient]:
    from queueserver.web.app import create_app

    with TestClient(create_app(cfg, redis_url, SECRET, clock)) as c:
        yield c


@pytest.fixture
def tokens(r: redis.Redis) -> dict[str, str]:
    """One credential of each role, bound to wan-chai (a clerk at counter 1)."""
    out = {}
    for role in auth.Role:
        centre = None if role is auth.Role.ADMIN else "wan-chai"
        counter = 1 if role is auth.Role.CLERK else None
        out[role.value], _ = auth.create_token(r, role, centre, counter)
    return out


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_booking(ref: str, **fields: Any) -> Booking:
    values: dict[str, Any] = dict(
        ref=ref, centre="wan-chai", date=DAY.isoformat(), slot_start="09:30", slot_end="10:00",
        application_type="first", surname="SMITH", given_names="JOHN PAUL", id_kind="hkid",
        id_number="A123456(3)", passport_no="K1234567", nationality="GBR", status="approved")
    values.update(fields)
    return Booking(**values)


def store(r: redis.Redis, bookings: list[Booking]) -> None:
    """Write bookings through the real booking store, as an import does."""
    BookingStore(r, SECRET, "test", MORNING.isoformat()).apply([Upsert(b) for b in bookings])


@pytest.fixture
def seed(r: redis.Redis) -> Callable[..., Booking]:
    """Writes one booking through the real booking store."""

    def add(ref: str, **fields: Any) -> Booking:
        booking = make_booking(ref, **fields)
        store(r, [booking])
        return booking

    return add


# --- processes ------------------------------------------------------------------------------

def children(pid: int) -> set[int]:
    """Every descendant of a process, from /proc."""
    out: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with open(task / "children") as f:
            for child in f.read().split():
                out |= {int(child)} | children(int(child))
    return out


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


# --- `queueserver serve` as a real process -------------------------------------------------------

TEST_NOW = MORNING.isoformat()


def server_env(redis_url: str | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("REDIS_URL", "QUEUESERVER_CONFIG", "QUEUESERVER_DATA")}
    env.update({"QUEUESERVER_CONFIG": str(SAMPLE_CONFIG), "QUEUESERVER_SECRET": SECRET.decode(),
                "QUEUESERVER_TEST_MODE": "1", "QUEUESERVER_TEST_NOW": TEST_NOW})
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(extra)
    return env


class Server:
    def __init__(self, proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
        self.proc = proc
        self.url = url
        self.log = log

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def start_server(env: dict[str, str], *args: str, cwd: Path | None = None,
                 port: int | None = None) -> Server:
    """`queueserver serve` on a free port (or `port`, to come back where a stopped one was);
    returns once /healthz answers."""
    import httpx

    port = port or free_port()
    log = Path(tempfile.mkstemp(prefix="serve-", suffix=".log")[1])
    with log.open("wb") as out:
        proc = subprocess.Popen(["queueserver", "serve", "--port", str(port), *args], env=env,
                                cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"serve exited: {log.read_text(errors='replace')}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code in (200, 503):
                return Server(proc, url, log)
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("serve did not answer within 30 s")


@pytest.fixture
def server(r: redis.Redis, redis_url: str) -> Iterator[Server]:
    s = start_server(server_env(redis_url))
    yield s
    s.stop()


@pytest.fixture
def two_servers(r: redis.Redis, redis_url: str) -> Iterator[tuple[Server, Server]]:
    """Two serve processes on the same Redis, as a centre runs them behind its proxy."""
    a = start_server(server_env(redis_url))
    b = start_server(server_env(redis_url))
    yield a, b
    a.stop()
    b.stop()



def everything_in(r: redis.Redis) -> str:
    """Every key and every value in the database, of every type, as one text: what a copy of
    Redis or of its append-only file would give away (a plain search over DUMP would miss
    values Redis stores compressed). Bytes are read as UTF-8, so RQ's pickles do not stop it."""
    where = r.connection_pool.connection_kwargs
    raw = redis.Redis(host=where["host"], port=where["port"], db=where.get("db", 0))

    def text(value: Any) -> str:
        if isinstance(value, bytes):
            return value.decode("utf-8", errors="replace")
        if isinstance(value, dict):
            return " ".join(f"{text(k)}={text(v)}" for k, v in value.items())
        if isinstance(value, list | tuple | set):
            return " ".join(text(v) for v in value)
        return str(value)

    out = []
    try:
        for key in raw.scan_iter(count=1000):
            kind = text(raw.type(key))
            value: Any
            if kind == "string":
                value = raw.get(key)
            elif kind == "hash":
                value = raw.hgetall(key)
            elif kind == "list":
                value = raw.lrange(key, 0, -1)
            elif kind == "set":
                value = raw.smembers(key)
            elif kind == "zset":
                value = raw.zrange(key, 0, -1, withscores=True)
            elif kind == "stream":
                value = raw.xrange(key)
            else:
                raise AssertionError(f"{key!r}: a type this scan does not read: {kind}")
            out.append(f"{text(key)} {text(value)}")
    finally:
        raw.close()
    return "\n".join(out)
