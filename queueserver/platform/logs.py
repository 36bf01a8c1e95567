"""Logging for every command: one JSON object a line on standard error (plain lines with
`QUEUESERVER_LOG_FORMAT=plain`), credentials and personal data never in them.

uvicorn logs each WebSocket's path with its raw query string, where a display's `?token=` rides
(and an HTTP access line would too), and a phone's follow token is in the path itself (`/t/…`,
`/ws/follow/…`, `/api/v1/follow/…`): the filter below masks every secret parameter and that
path segment before any handler writes the line. It reads a query as the server does, by each
parameter's decoded name, so `?%74oken=`, which Starlette takes as `token`, is masked as well.
Each line of a request carries its request id (`X-Request-ID`, echoed back), so one request's
lines can be found together.
"""

from __future__ import annotations

import contextvars
import logging
import math
import os
import re
import time
from typing import Any
from urllib.parse import unquote_plus

import msgspec

# Query parameters whose value is a secret, by decoded name (compared in lower case).
SECRET_PARAMS = frozenset({"token", "after_token", "password"})
# A query string inside a line: from "?" to the first space, quote or end. uvicorn writes the
# raw query (a quote in it arrives as %22), so nothing of it is left out.
_QUERY = re.compile(r"\?([^\s\"'<>]+)")
# The same names written out in plain text anywhere else in a line.
_SECRET_TEXT = re.compile(r"((?:token|after_token|password)=)[^&;\s\"]+")
MASK = "***"
# A follow token rides in the path of the follow page, its API and its socket (CONTRACT §9).
_SECRET_PATH = re.compile(r"(/(?:t|ws/follow|api/v1/follow)/)[^/?&\s\"'<>]+")


def redact_query(query: str) -> str:
    """A raw query string with the value of every secret parameter masked. Parameters are split
    on `&` and `;` and their names percent- and plus-decoded, as a server reads them, so no
    spelling of `token` that the server would accept escapes."""
    parts = re.split(r"([&;])", query)
    for i in range(0, len(parts), 2):
        name, eq, _value = parts[i].partition("=")
        if eq and unquote_plus(name).strip().lower() in SECRET_PARAMS:
            parts[i] = f"{name}={MASK}"
    return "".join(parts)


def redact(text: str) -> str:
    """A log text with every secret in a query string (and any plain `token=…`) masked, and
    the follow token in a follow path."""
    # Each pattern only where it can match (a line per request passes here several times):
    # a query needs "?", a follow path "/t/" or "/follow/", a plain secret "=".
    if "?" in text:
        text = _QUERY.sub(lambda m: "?" + redact_query(m.group(1)), text)
    if "/t/" in text or "/follow/" in text:
        text = _SECRET_PATH.sub(r"\1" + MASK, text)
    if "=" in text:
        text = _SECRET_TEXT.sub(r"\1" + MASK, text)
    return text


class RedactCredentials(logging.Filter):
    """Masks secrets in whatever becomes the line: the message, its arguments (uvicorn passes
    the path as one), `extra=` fields and an exception's text."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v
                           for k, v in record.args.items()}
        for name in vars(record).keys() - _STANDARD:
            value = getattr(record, name)
            if isinstance(value, str):
                setattr(record, name, redact(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


# The request being answered, for every line logged while it is.
REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id",
                                                                       default=None)
# LogRecord's own attributes: anything else on a record came through `extra=` and is logged.
# (uvicorn's `color_message` repeats the message with terminal colours.)
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "color_message"}


# msgspec, not json: a line a request, and its encoding was a sixth of the line's cost.
_LINE = msgspec.json.Encoder()
# The second last stamped, and its text: lines come many to a second.
_second: tuple[int, str] = (-1, "")


def stamp(created: float) -> str:
    """`created` (Unix seconds) as UTC ISO 8601 to the millisecond, as
    `datetime.isoformat(timespec="milliseconds")` writes it."""
    global _second
    fraction, whole = math.modf(created)  # as datetime.fromtimestamp rounds
    second, micro = divmod(int(whole) * 1_000_000 + round(fraction * 1_000_000), 1_000_000)
    known = _second  # one read: another thread may stamp another second meanwhile
    if second != known[0]:
        known = _second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    return f"{known[1]}.{micro // 1000:03d}+00:00"


class JsonLines(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request id and any `extra=`
    fields (counts, codes, route templates: callers pass no personal data)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": stamp(record.created),
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
            # The filter's masked text when it ran (it always does on our handlers).
            line["exc"] = record.exc_text or self.formatException(record.exc_info)
        return _LINE.encode(line).decode()


def config(level: str = "INFO", path: str | None = None) -> dict[str, Any]:
    """A `logging.config.dictConfig` for uvicorn and our own loggers alike; with `path`, the
    lines go to that file instead of standard error (the demo keeps its console for people).
    No line shows where in the source it was logged, nor the thread: the logging module is
    told not to find them for each record (the Logging HOWTO's "Optimization"), a third of a
    line's cost."""
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False
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
