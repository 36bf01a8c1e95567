"""Logging for every command: one JSON object a line on standard error (plain lines with
`QUEUESERVER_LOG_FORMAT=plain`), credentials and personal data never in them.

uvicorn logs each WebSocket's path with its query string, where a display's `?token=` rides:
the filter below masks it before any handler writes the line. Each line of a request carries its
request id (`X-Request-ID`, echoed back), so one request's lines can be found together.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import os
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


# The request being answered, for every line logged while it is.
REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id",
                                                                       default=None)
# LogRecord's own attributes: anything else on a record came through `extra=` and is logged.
# (uvicorn's `color_message` repeats the message with terminal colours.)
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "color_message"}


class JsonLines(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request id and any `extra=`
    fields (counts, codes, route templates: callers pass no personal data)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "msg": record.getMessage(),
            "pid": record.process,  # which of `serve --workers N`
        }
        # Stamped by the caller (`extra=`), else the request this line is written within.
        request_id = getattr(record, "request_id", None) or REQUEST_ID.get()
        if request_id:
            line["request_id"] = request_id
        for name, value in vars(record).items():
            if name not in _STANDARD and not name.startswith("_"):
                line[name] = value if isinstance(value, int | float | bool | None) else str(value)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def config(level: str = "INFO", path: str | None = None) -> dict[str, Any]:
    """A `logging.config.dictConfig` for uvicorn and our own loggers alike; with `path`, the
    lines go to that file instead of standard error (the demo keeps its console for people)."""
    handler: dict[str, Any] = {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"}
    if path is not None:
        handler = {"class": "logging.FileHandler", "filename": path, "encoding": "utf-8"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": RedactCredentials}},
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
                       "json": {"()": JsonLines}},
        "handlers": {"stderr": {**handler, "formatter": _format(), "filters": ["redact"]}},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.access": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
            "queueserver": {"handlers": ["stderr"], "level": level, "propagate": False},
            "rq": {"handlers": ["stderr"], "level": level, "propagate": False},
        },
    }


def _format() -> str:
    return "plain" if os.environ.get("QUEUESERVER_LOG_FORMAT") == "plain" else "json"


def setup(level: str = "INFO") -> None:
    import logging.config

    logging.config.dictConfig(config(level))
