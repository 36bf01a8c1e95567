"""A log line's time and shape (platform/logs.py): its stamp is what datetime would write, and
the line is one JSON object whatever its fields hold."""

from __future__ import annotations

import datetime as dt
import json
import logging
import random

from queueserver.platform import logs


def test_the_stamp_is_what_datetime_writes() -> None:
    rng = random.Random(20)
    moments = [0.0, 0.0005, 0.9995, 1.0, 1_796_618_347.9999996, 1_870_524_748.9919994,
               *(rng.uniform(0, 4e9) for _ in range(20_000)),
               *(round(rng.uniform(0, 4e9), 3) for _ in range(20_000)),
               *(float(rng.randrange(4_000_000_000)) for _ in range(2_000))]
    for created in moments:
        expected = dt.datetime.fromtimestamp(created, dt.UTC).isoformat(timespec="milliseconds")
        assert logs.stamp(created) == expected, created


def test_a_line_is_one_json_object_with_its_extra_fields() -> None:
    record = logging.LogRecord("queueserver.requests", logging.INFO, "", 0, "request", None,
                               None)
    record.created = 1_796_618_347.25
    record.route = "/api/v1/centres/{centre}"
    record.status = 201
    record.odd = object()
    record.text = 'quote " and 中文\n'
    line = logs.JsonLines().format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["ts"] == "2026-12-07T04:39:07.250+00:00"
    assert (parsed["level"], parsed["logger"], parsed["msg"]) == (
        "INFO", "queueserver.requests", "request")
    assert (parsed["route"], parsed["status"], parsed["text"]) == (
        "/api/v1/centres/{centre}", 201, 'quote " and 中文\n')
    assert parsed["odd"].startswith("<object object")
