"""`queueserver serve`: uvicorn running the app, on `REDIS_URL` or the embedded default."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import uvicorn
from uvicorn.supervisors import Multiprocess

from queueserver.platform import logs, runtime
from queueserver.platform.config import Config

# On SIGTERM, requests in flight get this long to finish (a Redis pool wait is 10 s) before
# they are cancelled; WebSockets are closed with 1012 at once (uvicorn does that).
GRACEFUL_SHUTDOWN_S = 30


def serve(config: Config, host: str, port: int, workers: int = 1) -> int:
    embedded = runtime.uses_embedded()
    url = runtime.redis_url(config, long_running=True)
    secret = runtime.secret(config)
    if embedded:
        from queueserver.platform import embedded as embedded_mod

        embedded_mod.keep_alive(runtime.data_dir(config))
    # Access logs would carry query strings (display tokens); the app logs what it needs.
    options = {"host": host, "port": port, "access_log": False, "ws_ping_interval": 20.0,
               "ws_ping_timeout": 20.0, "proxy_headers": True, "log_config": logs.config(),
               "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_S}
    if workers <= 1:
        from queueserver.web.app import create_app

        uvicorn.run(create_app(config, url, secret), **options)  # type: ignore[arg-type]
        return 0
    # Workers are separate processes: they take what the parent decided from the environment.
    os.environ["REDIS_URL"] = url
    os.environ["QUEUESERVER_SECRET"] = secret.decode()
    if config.path:
        os.environ["QUEUESERVER_CONFIG"] = str(config.path)
    own_metrics = _metrics_folder()
    config_ = uvicorn.Config("queueserver.web.app:from_environment_app", factory=True,
                             workers=workers, **options)  # type: ignore[arg-type]
    try:
        _Supervisor(config_, sockets=[config_.bind_socket()]).run()
    finally:
        if own_metrics:
            shutil.rmtree(own_metrics, ignore_errors=True)
    return 0


def _metrics_folder() -> str | None:
    """Workers write their metrics to files in PROMETHEUS_MULTIPROC_DIR and /metrics adds them
    up (prometheus-client's multiprocess mode). A folder given is emptied of an earlier run's
    files; else one is made for this run (returned, to be removed at the end)."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        for old in Path(given).glob("*.db"):
            old.unlink()
        return None
    made = tempfile.mkdtemp(prefix="queueserver-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = made
    return made


class _Supervisor(Multiprocess):
    """uvicorn's supervisor of `--workers`, which would keep the listening socket open until
    every worker has finished: a balancer would still hand it new connections that nobody
    accepts. Closing it first makes SIGTERM refuse new connections at once, like one process."""

    def terminate_all(self) -> None:
        for sock in self.sockets:
            sock.close()
        super().terminate_all()
