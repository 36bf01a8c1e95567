"""Logging for every command: plain lines on standard error, credentials never in them.

uvicorn logs each WebSocket's path with its query string, where a display's `?token=` rides:
the filter below masks it before any handler writes the line.
"""

from __future__ import annotations

import logging
import re
from typing import Any

_SECRET_QUERY = re.compile(r"((?:token|after_token|password)=)[^&\s\"]+")


class RedactCredentials(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_SECRET_QUERY.sub(r"\1***", a) if isinstance(a, str) else a
                                for a in record.args)
        if isinstance(record.msg, str):
            record.msg = _SECRET_QUERY.sub(r"\1***", record.msg)
        return True


def config(level: str = "INFO") -> dict[str, Any]:
    """A `logging.config.dictConfig` for uvicorn and our own loggers alike."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": RedactCredentials}},
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain",
                                "filters": ["redact"], "stream": "ext://sys.stderr"}},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.access": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
            "queueserver": {"handlers": ["stderr"], "level": level, "propagate": False},
            "rq": {"handlers": ["stderr"], "level": level, "propagate": False},
        },
    }


def setup(level: str = "INFO") -> None:
    import logging.config

    logging.config.dictConfig(config(level))
