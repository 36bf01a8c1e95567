"""Where a command finds its Redis, its data folder and its secret."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import redis

from queueserver.platform.config import Config


class SetupError(Exception):
    """What a command needs is missing: it stops with this message (exit code 2)."""


def data_dir(config: Config) -> Path:
    """`QUEUESERVER_DATA`, else the config's `data_dir`, else `var/` in the current folder."""
    raw = os.environ.get("QUEUESERVER_DATA")
    path = Path(raw) if raw else (config.data_dir or Path("var"))
    from queueserver.platform import embedded

    # It holds the secret and the embedded Redis's append-only file: this user's only.
    return embedded.private_folder(path.resolve())


def uses_embedded() -> bool:
    return not os.environ.get("REDIS_URL")


def redis_url(config: Config, long_running: bool = False) -> str:
    """`REDIS_URL`, else the embedded default's unix socket (started if need be)."""
    url = os.environ.get("REDIS_URL")
    if url:
        return url
    from queueserver.platform import embedded

    return embedded.ensure(data_dir(config), long_running=long_running)


def connect(url: str) -> redis.Redis:
    """One Redis, or a cluster for a `redis+cluster://` URL (platform/connections.py)."""
    from queueserver.platform import connections

    return connections.connect(url)


def secret(config: Config) -> bytes:
    """The key of identity-number hashes: `QUEUESERVER_SECRET`, or, on the embedded default
    only, one generated once and kept in the data folder (so hashes match after a restart)."""
    raw = os.environ.get("QUEUESERVER_SECRET")
    if raw:
        return raw.encode()
    if not uses_embedded():
        raise SetupError("QUEUESERVER_SECRET is not set: it is required when REDIS_URL is set "
                         "(identity numbers are stored as keyed hashes under it).")
    path = data_dir(config) / "secret"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip().encode()
