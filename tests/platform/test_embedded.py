"""The embedded default (DESIGN.md), with real processes: a private redis-server per data folder,
shared by the commands that run on it, gone with the process that started it.

Every test uses its own data folder under tmp_path and a child environment without REDIS_URL;
nothing here opens a TCP port, so the machine's own Redis on 6379 is never touched.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from queueserver.auth import credentials as auth
from queueserver.platform import embedded

pytestmark = pytest.mark.e2e

CONFIG = Path(__file__).parents[1] / "data" / "config.toml"
TIMEOUT = 30.0  # generous: CI machines are slow; every wait below is a poll loop

# A long-running command in miniature: takes (or joins) the embedded Redis, says where it is,
# and stays up. `long_running=True` starts keep_alive, as `serve` and `worker` do.
HOLDER = """
import sys, time
from pathlib import Path
from queueserver.platform import embedded
print(embedded.ensure(Path(sys.argv[1]), long_running=True), flush=True)
while True:
    time.sleep(1)
"""

# A one-off look from another process: the credentials it can see, and the server's pid.
LOOK = """
import sys
from pathlib import Path
import redis
from queueserver.auth import credentials as auth
from queueserver.platform import embedded
r = redis.Redis.from_url(embedded.ensure(Path(sys.argv[1])), decode_responses=True)
for token in sys.argv[2:]:
    cred = auth.lookup_token(r, token)
    print(cred.name if cred else "-")
print(r.info("server")["process_id"])
"""


# Takes the embedded Redis from a thread that then ends (as a thread-pool worker would). The
# parent-death signal follows the creating *thread*: the server must outlive this one.
FROM_A_THREAD = """
import sys, threading, time
from pathlib import Path
from queueserver.platform import embedded
found = []
worker = threading.Thread(target=lambda: found.append(embedded.ensure(Path(sys.argv[1]))))
worker.start()
worker.join()
print(found[0], flush=True)
while True:
    time.sleep(1)
"""


def child_env(data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "RQ_REDIS_URL")}
    env["QUEUESERVER_DATA"] = str(data)
    env["QUEUESERVER_CONFIG"] = str(CONFIG)
    return env


def outside(data: Path) -> Path:
    """Where a child starts: not the checkout (`python -m` there would find the unmapped source
    folder), and a folder that exists (the data folder is the child's to create)."""
    return next(p for p in (data, *data.parents) if p.is_dir())


def cli(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "queueserver.tools.cli", *args],
        env=child_env(data),
        cwd=outside(data),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def look(data: Path, *tokens: str) -> tuple[list[str], int]:
    done = subprocess.run(
        [sys.executable, "-c", LOOK, str(data), *tokens],
        env=child_env(data),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split()
    return lines[:-1], int(lines[-1])


def wait_for(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def alive(pid: int) -> bool:
    """Running, not a zombie (in a container nobody may reap the orphaned server)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def server_pid(url: str) -> int | None:
    client = redis.Redis.from_url(
        url, socket_timeout=2, socket_connect_timeout=2, retry=Retry(NoBackoff(), 0)
    )
    try:
        return int(client.info("server")["process_id"])
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return None
    finally:
        client.close()


class Holder:
    def __init__(self, data: Path, script: str = HOLDER) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", script, str(data)],
            env=child_env(data),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], TIMEOUT)
        self.url = self.proc.stdout.readline().strip() if ready else ""
        if not self.url.startswith("unix://"):
            raise AssertionError(f"the holder did not report its Redis: {self.stop()}")

    def stop(self, sig: int = signal.SIGKILL) -> str:
        """Signal it, wait for it, and return what it wrote on stderr."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        _, err = self.proc.communicate(timeout=TIMEOUT)
        return err


@pytest.fixture
def data(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "data"
    yield folder
    # Nothing may outlive the test: a server still answering here is a bug, but clean it up.
    pid = server_pid(embedded.url(folder)) if folder.exists() else None
    if pid is not None:
        os.kill(pid, signal.SIGKILL)
        raise AssertionError(f"an embedded redis-server (pid {pid}) outlived its test")


@pytest.fixture
def holders() -> Iterator[Callable[..., Holder]]:
    started: list[Holder] = []

    def start(folder: Path, script: str = HOLDER) -> Holder:
        holder = Holder(folder, script)
        started.append(holder)
        return holder

    yield start
    for holder in started:
        holder.stop()


def test_consecutive_commands_share_the_data(data: Path) -> None:
    first = cli(data, "tokens", "create", "--role", "admin", "--name", "first")
    assert first.returncode == 0, first.stderr
    assert "started the embedded redis-server" in first.stderr
    token = first.stdout.strip().splitlines()[-1]
    # A short-lived command that started it stops it when it exits...
    assert not embedded.running(data)

    # ...and the next one starts it again on the same data (the AOF).
    second = cli(data, "tokens", "create", "--role", "admin", "--name", "second")
    assert second.returncode == 0, second.stderr
    names, _ = look(data, token, second.stdout.strip().splitlines()[-1])
    assert names == ["first", "second"]

    revoked = cli(data, "tokens", "revoke", "first")
    assert revoked.returncode == 0, revoked.stderr
    assert look(data, token)[0] == ["-"]
    assert not embedded.running(data)


def test_commands_join_a_running_server(data: Path, holders: Callable[..., Holder]) -> None:
    owner = holders(data)
    pid = server_pid(owner.url)
    assert pid is not None and alive(pid)
    assert owner.url == embedded.url(data) == f"unix://{data.resolve() / 'redis.sock'}"

    made = cli(data, "tokens", "create", "--role", "admin", "--name", "joined")
    assert made.returncode == 0, made.stderr
    assert "started" not in made.stderr
    token = made.stdout.strip().splitlines()[-1]

    # Same server, still running after the command left; it holds the command's write.
    assert server_pid(owner.url) == pid
    assert look(data, token) == (["joined"], pid)
    client = redis.Redis.from_url(owner.url, decode_responses=True)
    assert auth.lookup_token(client, token) is not None
    client.close()


def test_server_dies_with_an_owner_killed_outright(
    data: Path, holders: Callable[..., Holder]
) -> None:
    owner = holders(data)
    pid = server_pid(owner.url)
    assert pid is not None
    owner.stop(signal.SIGKILL)
    wait_for(lambda: not alive(pid), "the redis-server to die with its owner", timeout=10)
    assert not embedded.running(data)


def test_server_stops_with_an_owner_terminated(data: Path, holders: Callable[..., Holder]) -> None:
    owner = holders(data)
    pid = server_pid(owner.url)
    assert pid is not None
    owner.stop(signal.SIGTERM)
    assert owner.proc.returncode == -signal.SIGTERM
    wait_for(lambda: not alive(pid), "the redis-server to stop with its owner", timeout=10)
    # A graceful stop: redis removed its socket and closed the AOF itself.
    assert not (data / "redis.sock").exists()
    assert "Redis is now ready to exit" in (data / "redis.log").read_text()


def test_long_running_command_takes_over_when_the_owner_dies(
    data: Path, holders: Callable[..., Holder]
) -> None:
    owner = holders(data)
    follower = holders(data)  # started while the owner runs: joins, does not own
    assert follower.url == owner.url
    first_pid = server_pid(owner.url)
    assert first_pid is not None
    client = redis.Redis.from_url(owner.url, decode_responses=True)
    client.set("kept", "through the AOF")
    client.close()

    owner.stop(signal.SIGKILL)

    def restarted() -> bool:
        pid = server_pid(follower.url)
        return pid is not None and pid != first_pid

    wait_for(restarted, "the follower to start the redis-server again")
    client = redis.Redis.from_url(follower.url, decode_responses=True)
    assert client.get("kept") == "through the AOF"
    client.close()
    assert not alive(first_pid)

    # The follower owns it now (it is the server's parent), and the server goes with it.
    second_pid = server_pid(follower.url)
    assert second_pid is not None
    assert parent(second_pid) == follower.proc.pid
    follower.stop(signal.SIGKILL)
    wait_for(
        lambda: not alive(second_pid), "the new redis-server to die with its new owner", timeout=10
    )


def test_server_outlives_the_thread_that_started_it(
    data: Path, holders: Callable[..., Holder]
) -> None:
    owner = holders(data, FROM_A_THREAD)
    pid = server_pid(owner.url)
    assert pid is not None and parent(pid) == owner.proc.pid
    deadline = time.monotonic() + 1.0  # a killed server would be gone in milliseconds
    while time.monotonic() < deadline:
        assert server_pid(owner.url) == pid
        time.sleep(0.05)
    owner.stop(signal.SIGKILL)
    wait_for(lambda: not alive(pid), "the redis-server to die with its owner", timeout=10)


def test_durability_settings_are_in_force(data: Path, holders: Callable[..., Holder]) -> None:
    owner = holders(data)
    client = redis.Redis.from_url(owner.url, decode_responses=True)
    config = {
        key: client.config_get(key)[key]
        for key in ("appendonly", "appendfsync", "port", "save", "dir", "unixsocket")
    }
    client.close()
    assert config == {
        "appendonly": "yes",
        "appendfsync": "always",
        "port": "0",
        "save": "",
        "dir": str(data.resolve()),
        "unixsocket": str(data.resolve() / "redis.sock"),
    }
    assert (data / "appendonlydir").is_dir()


def test_a_data_folder_too_deep_for_a_socket_path(tmp_path: Path) -> None:
    data = tmp_path.joinpath(*["a-folder-nested-deep"] * 6)
    assert len(str(data / "redis.sock")) > embedded.MAX_SOCKET_PATH
    sock = embedded.socket_path(data)
    assert len(str(sock)) <= embedded.MAX_SOCKET_PATH
    assert not sock.is_relative_to(data)
    try:
        made = cli(data, "tokens", "create", "--role", "admin", "--name", "deep")
        assert made.returncode == 0, made.stderr
        assert f"unix://{sock}" in made.stderr
        assert (sock.parent.stat().st_mode & 0o777) == 0o700
        revoked = cli(data, "tokens", "revoke", "deep")  # found again, on the same data
        assert revoked.returncode == 0, revoked.stderr
    finally:
        assert not embedded.running(data)
        if sock.parent.exists():
            sock.parent.rmdir()


def test_no_redis_server_binary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    data = tmp_path / "data"
    with pytest.raises(embedded.EmbeddedRedisUnavailable, match="redis-server"):
        embedded.ensure(data)
    # The failed attempt released the lock: another process may try.
    fd = embedded._try_lock(data.resolve())
    assert fd is not None
    os.close(fd)


def _modes(folder: Path) -> dict[str, str]:
    """Every folder and regular file under `folder` (itself included), with its mode."""
    out = {".": oct(folder.stat().st_mode & 0o777)}
    for path in folder.rglob("*"):
        if path.is_dir() or path.is_file():
            out[str(path.relative_to(folder))] = oct(path.stat().st_mode & 0o777)
    return out


def test_the_data_folder_and_its_files_are_the_owners_only(data: Path) -> None:
    """The append-only file holds names and passport numbers, the secret the key of every
    identity hash: after a real start, with the usual umask, nobody else may read either."""
    bookings = CONFIG.parent / "bookings.csv"

    def run(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "queueserver.tools.cli", *args],
                              env={**child_env(data), "QUEUESERVER_SECRET": ""}, cwd=outside(data),
                              capture_output=True, text=True, timeout=TIMEOUT,
                              preexec_fn=lambda: os.umask(0o022))
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    assert "imported=2 " in run("bookings", "import", str(bookings))
    modes = _modes(data)
    assert {"secret", "redis.lock", "redis.log", "appendonlydir"} <= set(modes)
    assert len([name for name in modes if name.startswith("appendonlydir/")]) >= 2
    assert b"SMITH" in b"".join(p.read_bytes() for p in (data / "appendonlydir").iterdir())
    wanted = {name: oct(0o700 if (data / name).is_dir() else 0o600) for name in modes}
    assert modes == wanted
    # A folder an earlier version left readable by everyone is made private at the next start.
    for name in modes:
        (data / name).chmod(0o755 if (data / name).is_dir() else 0o644)
    run("tokens", "create", "--role", "admin", "--name", "later")
    assert _modes(data) == {name: oct(0o700 if (data / name).is_dir() else 0o600)
                            for name in _modes(data)}
    assert set(_modes(data)) >= set(modes)
