"""`queueserver serve`: uvicorn running the app, on `REDIS_URL` or the embedded default."""

from __future__ import annotations

import os

import uvicorn

from queueserver import logs, runtime
from queueserver.config import Config


def serve(config: Config, host: str, port: int, workers: int = 1) -> int:
    embedded = runtime.uses_embedded()
    url = runtime.redis_url(config, long_running=True)
    secret = runtime.secret(config)
    if embedded:
        from queueserver import embedded as embedded_mod

        embedded_mod.keep_alive(runtime.data_dir(config))
    # Access logs would carry query strings (display tokens); the app logs what it needs.
    options = {"host": host, "port": port, "access_log": False, "ws_ping_interval": 20.0,
               "ws_ping_timeout": 20.0, "proxy_headers": True, "log_config": logs.config()}
    if workers <= 1:
        from queueserver.app import create_app

        uvicorn.run(create_app(config, url, secret), **options)  # type: ignore[arg-type]
        return 0
    # Workers are separate processes: they take what the parent decided from the environment.
    os.environ["REDIS_URL"] = url
    os.environ["QUEUESERVER_SECRET"] = secret.decode()
    if config.path:
        os.environ["QUEUESERVER_CONFIG"] = str(config.path)
    uvicorn.run("queueserver.app:from_environment_app", factory=True, workers=workers,
                **options)  # type: ignore[arg-type]
    return 0
