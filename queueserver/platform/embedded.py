"""The embedded default (DESIGN.md): a private `redis-server` kept in the data folder.

Where `REDIS_URL` is unset, the first command that needs Redis starts a `redis-server` that
listens only on a unix socket (`--port 0`), keeps an append-only file with `appendfsync always`
in the data folder and never writes RDB snapshots. Later commands, in other processes, find it
through the same socket; when nobody runs it, the next command starts it again on the same data.

Who starts it is decided by an exclusive `flock` on `redis.lock` in the data folder. The starter
(the *owner*) keeps the lock for its life, and the `redis-server` inherits the locked file, so
the lock is free only once both are gone: a second server can never run on the same AOF, even
while the first is still dying.

The server stops with its owner: at normal exit (atexit), on SIGTERM, and, when the owner is
killed outright, through the kernel's parent-death signal (`PR_SET_PDEATHSIG`). A long-running
command (`serve`, `worker`, `demo`) calls `ensure(..., long_running=True)`, which also starts
`keep_alive`: when the owner goes away and takes the server with it, the long-running command
starts it again and owns it from then on.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import fcntl
import hashlib
import os
import queue
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

SOCKET_NAME = "redis.sock"
LOCK_NAME = "redis.lock"
LOG_NAME = "redis.log"

# sun_path is 108 bytes on Linux, including the terminating NUL.
MAX_SOCKET_PATH = 107
# Loading a large AOF takes a while; 10 s covers any queue system's day of writes.
START_TIMEOUT = 10.0
# How often a waiting command looks again at the socket or the lock.
POLL_INTERVAL = 0.02
# How long a graceful SHUTDOWN (SIGTERM: fsync and close the AOF) may take before SIGKILL.
STOP_TIMEOUT = 5.0

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
# The append-only file holds names and passport numbers: the data folder is its owner's only,
# and so is everything in it (the redis-server writes with this umask).
PRIVATE_UMASK = 0o077
PRIVATE_FOLDER = 0o700
PRIVATE_FILE = 0o600
# Where redis-server keeps the append-only file's parts (its `appenddirname` default).
AOF_FOLDER = "appendonlydir"


class EmbeddedRedisUnavailable(RuntimeError):
    """The embedded default cannot run here; the message says why and what to do."""


@dataclass
class _Owned:
    """A `redis-server` this process started, and the lock it holds for it."""

    data_dir: Path
    socket: Path
    lock_fd: int
    proc: subprocess.Popen[bytes] | None = None


# Module state is per process: what this process owns, and its keep-alive threads.
_guard = threading.RLock()
_owned: dict[Path, _Owned] = {}
_keepers: dict[Path, threading.Thread] = {}
_owner_pid = os.getpid()
_sigterm_installed = False
# Set once the process is exiting: nothing may start a server after its owner stopped it.
_exiting = False


# --- the data folder ---------------------------------------------------------------------------


def private_folder(data_dir: Path) -> Path:
    """The data folder, made (0700) if need be, and what an older version left readable by
    others in it (the folder, its files, the append-only file's folder) made this user's only."""
    data_dir.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
    for folder in (data_dir, data_dir / AOF_FOLDER):
        if not folder.is_dir() or folder.is_symlink():
            continue
        _tighten(folder, PRIVATE_FOLDER)
        for entry in folder.iterdir():
            if entry.is_file() and not entry.is_symlink():
                _tighten(entry, PRIVATE_FILE)
    return data_dir


def _tighten(path: Path, mode: int) -> None:
    info = path.lstat()
    # Another user's file is not ours to change (and chmod would fail): leave it as it is.
    if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & ~mode:
        path.chmod(stat.S_IMODE(info.st_mode) & mode)


# --- where the socket is -----------------------------------------------------------------------


def socket_path(data_dir: Path) -> Path:
    """The socket of the data folder's server: `redis.sock` in the folder, or, where that path is
    over the unix-socket limit, the same name in a private folder under the temp folder whose name
    is derived from the data folder (so every command computes the same path, no file needed)."""
    data_dir = data_dir.resolve()
    inside = data_dir / SOCKET_NAME
    if len(os.fsencode(inside)) <= MAX_SOCKET_PATH:
        return inside
    digest = hashlib.sha256(os.fsencode(data_dir)).hexdigest()[:16]
    name = f"queueserver-{os.getuid()}-{digest}"
    for base in (tempfile.gettempdir(), "/tmp"):
        candidate = Path(base) / name / SOCKET_NAME
        if len(os.fsencode(candidate)) <= MAX_SOCKET_PATH:
            return candidate
    raise EmbeddedRedisUnavailable(
        f"no unix-socket path short enough for the data folder {data_dir}: set QUEUESERVER_DATA "
        "to a shorter path, or set REDIS_URL"
    )


def url(data_dir: Path) -> str:
    """The `unix://` URL of the data folder's server (whether or not it runs)."""
    return f"unix://{socket_path(data_dir)}"


def _prepare_socket_folder(sock: Path, data_dir: Path) -> None:
    """Make the socket's folder if it is outside the data folder, and refuse one that another
    user could have planted in the shared temp folder."""
    folder = sock.parent
    if folder == data_dir.resolve():
        return
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o700)
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise EmbeddedRedisUnavailable(
            f"{folder} (the socket folder of the embedded Redis, used because the data folder's "
            "path is too long for a unix socket) is not a private folder of this user: remove "
            "it, or set QUEUESERVER_DATA to a shorter path"
        )


def _answers(sock: Path, timeout: float = 1.0) -> bool:
    """True if a server answers PING on the socket. A raw exchange, not redis-py, whose retries
    with backoff would turn every look at a stale socket file into seconds."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout)
            conn.connect(str(sock))
            conn.sendall(b"*1\r\n$4\r\nPING\r\n")
            reply = b""
            while not reply.endswith(b"\r\n"):
                chunk = conn.recv(256)
                if not chunk:
                    return False
                reply += chunk
    except OSError:  # no file, refused (a stale file), timed out
        return False
    return reply == b"+PONG\r\n"  # not "-LOADING ...": alive, but not ready yet


def running(data_dir: Path) -> bool:
    """True if the data folder's server answers now (started by anyone)."""
    return _answers(socket_path(data_dir))


# --- starting it -------------------------------------------------------------------------------


def _redis_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        # The demo's fakeredis fallback (DESIGN.md) catches this error and takes over.
        raise EmbeddedRedisUnavailable(
            "no redis-server binary on PATH: install it (Debian/Ubuntu: apt-get install "
            "redis-server; macOS: brew install redis), or set REDIS_URL to a Redis you run"
        )
    return binary


def _try_lock(data_dir: Path) -> int | None:
    """The lock file's descriptor, locked, or None if another process (or server) holds it."""
    fd = os.open(data_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    # Informative only: who holds it.
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _preexec(parent_pid: int) -> Callable[[], None]:
    """Run in the forked child before exec: die with the parent (see `_Spawner`)."""
    prctl: Callable[..., int] | None = None
    if sys.platform.startswith("linux"):
        # Looked up before the fork: nothing is loaded or allocated in the child.
        prctl = ctypes.CDLL(None, use_errno=True).prctl

    def run() -> None:
        os.umask(PRIVATE_UMASK)
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL))
            # The parent may have died between fork and prctl: then no signal would ever come.
            if os.getppid() != parent_pid:
                os._exit(1)

    return run


class _Spawner:
    """One daemon thread that starts every `redis-server` of this process.

    PR_SET_PDEATHSIG fires when the *thread* that created the child exits, not the process. A
    server started from a short-lived thread (a thread-pool worker, a request handler) would be
    killed when that thread ends. This thread waits on its queue for the life of the process, so
    the signal fires exactly when the process dies, however it dies. SIGKILL is safe for the data:
    with `appendfsync always` every acknowledged write is already on disk.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[
            tuple[Callable[[], subprocess.Popen[bytes]], Future[subprocess.Popen[bytes]]]
        ] = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=self._run, name="queueserver-redis-spawner", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        while True:
            start, result = self._jobs.get()
            try:
                result.set_result(start())
            except BaseException as e:  # handed to the caller, who raises it
                result.set_exception(e)

    def spawn(self, start: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
        result: Future[subprocess.Popen[bytes]] = Future()
        self._jobs.put((start, result))
        return result.result()


_spawner: _Spawner | None = None


def _spawn(data_dir: Path, sock: Path, lock_fd: int) -> subprocess.Popen[bytes]:
    global _spawner
    binary = _redis_binary()
    _prepare_socket_folder(sock, data_dir)
    with contextlib.suppress(FileNotFoundError):
        sock.unlink()  # left by a server that was killed; nobody else holds the lock
    options = {
        "port": "0",  # no TCP at all: never meets the machine's shared Redis
        "unixsocket": str(sock),
        "unixsocketperm": "700",
        "dir": str(data_dir),
        "appendonly": "yes",
        "appendfsync": "always",  # a lost second could hand a ticket number out twice
        "save": "",
        "daemonize": "no",
        "logfile": str(data_dir / LOG_NAME),
    }
    args = [binary, *(arg for name, value in options.items() for arg in (f"--{name}", value))]
    preexec = _preexec(os.getpid())

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # The server holds the lock too, so it is free only once the server is gone.
            pass_fds=(lock_fd,),
            # Its own session: Ctrl-C in a terminal reaches the owner, which stops it in order.
            start_new_session=True,
            preexec_fn=preexec,
        )

    with _guard:
        if _spawner is None:
            _spawner = _Spawner()
        spawner = _spawner
    return spawner.spawn(start)


def _log_tail(data_dir: Path, lines: int = 5) -> str:
    try:
        text = (data_dir / LOG_NAME).read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])


def _wait_ready(owned: _Owned, timeout: float) -> None:
    proc = owned.proc
    assert proc is not None
    deadline = time.monotonic() + timeout
    while not _answers(owned.socket, timeout=0.5):
        if proc.poll() is not None:
            raise EmbeddedRedisUnavailable(
                f"the embedded redis-server exited at start (status {proc.returncode}); its log "
                f"{owned.data_dir / LOG_NAME} ends with:\n{_log_tail(owned.data_dir)}"
            )
        if time.monotonic() > deadline:
            _stop_server(owned)
            raise EmbeddedRedisUnavailable(
                f"the embedded redis-server did not answer on {owned.socket} within "
                f"{timeout:.0f} s; see its log {owned.data_dir / LOG_NAME}"
            )
        time.sleep(POLL_INTERVAL)


def _start(owned: _Owned, timeout: float) -> None:
    owned.proc = _spawn(owned.data_dir, owned.socket, owned.lock_fd)
    _wait_ready(owned, timeout)
    print(
        f"queueserver: started the embedded redis-server (pid {owned.proc.pid}) on "
        f"unix://{owned.socket}, data in {owned.data_dir}",
        file=sys.stderr,
        flush=True,
    )


def ensure(data_dir: Path, long_running: bool = False, timeout: float = START_TIMEOUT) -> str:
    """The `unix://` URL of the data folder's `redis-server`, started if none answers.

    If a server answers on the socket, it is used, whoever started it. Otherwise the process that
    takes the lock starts one on the folder's data and owns it: it stops at this process's exit.
    With `long_running`, `keep_alive` is started too, so that this process starts the server
    again if its owner goes away. Raises `EmbeddedRedisUnavailable` when no `redis-server` is
    installed, or it cannot be started or reached within `timeout` seconds.
    """
    if _exiting:
        raise EmbeddedRedisUnavailable("this process is exiting; it starts no embedded Redis")
    data_dir = private_folder(data_dir.resolve())
    sock = socket_path(data_dir)
    deadline = time.monotonic() + timeout
    with _guard:
        while True:
            mine = _owned.get(data_dir)
            if mine is not None and mine.proc is not None and mine.proc.poll() is None:
                # Ours and alive (a second ensure() in the same process).
                _wait_ready(mine, max(deadline - time.monotonic(), 0.5))
                break
            if _answers(sock):
                break
            if mine is None:
                lock_fd = _try_lock(data_dir)
                if lock_fd is not None:
                    mine = _Owned(data_dir, sock, lock_fd)
                    _owned[data_dir] = mine
            if mine is not None:
                # We hold the lock and no server of ours runs (first start, or it died).
                try:
                    _start(mine, timeout)
                except BaseException:
                    _release(mine)  # let another process try
                    raise
                _install_stop_handlers()
                break
            # Another process holds the lock: it is starting the server, or its server is
            # loading or stopping. Wait for either an answer or the lock.
            if _exiting:
                raise EmbeddedRedisUnavailable("this process is exiting; it waits no longer")
            if time.monotonic() > deadline:
                raise EmbeddedRedisUnavailable(
                    f"another process holds {data_dir / LOCK_NAME} but no redis-server answers "
                    f"on {sock} after {timeout:.0f} s; see {data_dir / LOG_NAME}"
                )
            time.sleep(POLL_INTERVAL)
    if long_running:
        keep_alive(data_dir)
    return f"unix://{sock}"


# --- keeping it alive --------------------------------------------------------------------------


def keep_alive(data_dir: Path, interval: float = 1.0) -> None:
    """Watch the data folder's server from a daemon thread and start it again (and own it from
    then on) whenever it stops answering, e.g. because the short-lived command or the other
    `serve` that owned it exited or was killed. Idempotent per data folder.

    The thread lives as long as the process; the server it starts is created by the spawner
    thread (see `_Spawner`), so it is tied to the life of this process, not of a thread.
    """
    data_dir = data_dir.resolve()
    with _guard:
        if data_dir in _keepers and _keepers[data_dir].is_alive():
            return
        thread = threading.Thread(
            target=_keep_alive_loop,
            args=(data_dir, interval),
            name="queueserver-redis-keepalive",
            daemon=True,
        )
        _keepers[data_dir] = thread
        thread.start()


def _keep_alive_loop(data_dir: Path, interval: float) -> None:
    sock = socket_path(data_dir)
    last_error = ""
    while True:
        time.sleep(interval)
        if _exiting:
            return
        if _answers(sock):
            continue
        try:
            ensure(data_dir)
            last_error = ""
        except Exception as e:  # keep trying; say so once per distinct failure
            if str(e) != last_error:
                print(
                    f"queueserver: the embedded Redis is down and could not be restarted: {e}",
                    file=sys.stderr,
                    flush=True,
                )
                last_error = str(e)


# --- stopping it -------------------------------------------------------------------------------


def _stop_server(owned: _Owned) -> None:
    proc = owned.proc
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()  # SIGTERM: redis fsyncs and closes the AOF and removes its socket
    try:
        proc.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def stop() -> None:
    """Stop every server this process owns and release the locks (run at exit and on SIGTERM).
    Other processes using them will start them again as they need."""
    if os.getpid() != _owner_pid:
        return  # a forked child inherits the state, not the servers
    with _guard:
        for owned in list(_owned.values()):
            _release(owned)


def _release(owned: _Owned) -> None:
    """Stop the server if it runs, then free the lock."""
    with _guard:
        _stop_server(owned)
        with contextlib.suppress(OSError):
            os.close(owned.lock_fd)
        if _owned.get(owned.data_dir) is owned:
            del _owned[owned.data_dir]


def _at_exit() -> None:
    global _exiting
    _exiting = True  # first, so that no keep-alive thread starts it again behind us
    stop()


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    _at_exit()
    # Then die of SIGTERM as if we had never caught it (status, and no further cleanup).
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _install_stop_handlers() -> None:
    """atexit always; SIGTERM only from the main thread and only over the default action (a
    server framework that installs its own handler exits normally, and atexit runs)."""
    global _sigterm_installed
    if _sigterm_installed:
        return
    _sigterm_installed = True
    atexit.register(_at_exit)
    if (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    ):
        signal.signal(signal.SIGTERM, _on_sigterm)


def _after_fork_in_child() -> None:
    """A forked child (an RQ work horse) owns nothing and has none of our threads.

    Its copies of the lock descriptors are left open: this hook also runs in the child of a
    `subprocess` with `preexec_fn` (our own spawn, which must pass the lock on), and they are
    close-on-exec anyway."""
    global _guard, _spawner, _owner_pid, _sigterm_installed
    _guard = threading.RLock()
    _owned.clear()
    _keepers.clear()
    _spawner = None
    _owner_pid = os.getpid()
    _sigterm_installed = False


os.register_at_fork(after_in_child=_after_fork_in_child)
