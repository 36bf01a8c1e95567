"""`/metrics` read back with Prometheus's own text parser; request ids and JSON log lines."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
import redis
from conftest import SECRET, bearer, free_port
from operations.scripted_day import C, Day
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from queueserver.platform import logs
from queueserver.platform.clock import Clock
from queueserver.platform.config import Config
from queueserver.store import keys

BOARD = "/api/v1/centres/{centre}/board"


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str,
          **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_requests_screens_events_and_queues_are_counted(
        client: TestClient, tokens: dict[str, str], seed: Callable[..., Any], clock: Clock,
        r: redis.Redis) -> None:
    before = scrape(client)
    day = Day(client, tokens, seed, clock)
    day.at("09:20")
    headers = bearer(tokens["display"])
    for _ in range(3):
        assert client.get(f"{C}/board", headers=headers).status_code == 200
    assert client.get(f"{C}/tickets/A999", headers=bearer(tokens["desk"])).status_code == 404
    with client.websocket_connect(f"/ws/centres/wan-chai/events?token={tokens['display']}") as ws:
        assert ws.receive_json()["type"] == "board"
        during = scrape(client)
        day.issue()
        day.issue(priority=True)
        day.issue()
        assert ws.receive_json()["type"] == "ticket.issued"
        for _ in range(2):
            ws.receive_json()
        after = scrape(client)
    closed = scrape(client)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("queueserver_http_requests_total", route=BOARD, method="GET", status="200") == 3
    assert grew("queueserver_http_requests_total", route="/api/v1/centres/{centre}/tickets/"
                "{number}", method="GET", status="404") == 1
    assert grew("queueserver_http_request_duration_seconds_count", route=BOARD,
                method="GET") == 3
    assert value(after, "queueserver_http_request_duration_seconds_bucket", route=BOARD,
                 method="GET", le="+Inf") >= 3
    # The socket counts while open, by its credential's role.
    assert value(during, "queueserver_screens_connected", role="display") == (
        value(before, "queueserver_screens_connected", role="display") + 1)
    assert value(closed, "queueserver_screens_connected", role="display") == (
        value(before, "queueserver_screens_connected", role="display"))
    # Three tickets issued: three events, each handed to the one socket, with a measured lag.
    assert grew("queueserver_events_fanned_out_total") >= 3
    assert grew("queueserver_event_fanout_lag_seconds_count") >= 3
    info = r.xinfo_stream(keys.events("wan-chai"))
    assert value(after, "queueserver_events_appended_total", centre="wan-chai") == (
        info["entries-added"])
    assert value(after, "queueserver_tickets_waiting", centre="wan-chai", service="A") == 2
    assert value(after, "queueserver_tickets_waiting", centre="wan-chai", service="P") == 1
    # Raw paths never become labels: a ticket number would make a series per ticket.
    assert not any("A999" in str(labels) for _, labels in after)


def test_redis_errors_are_counted_and_metrics_still_answer(cfg: Config, r: redis.Redis,
                                                           tokens: dict[str, str]) -> None:
    from queueserver.web.app import create_app

    dead = f"redis://127.0.0.1:{free_port()}/0"
    with TestClient(create_app(cfg, dead, SECRET)) as client:
        before = scrape(client)
        answer = client.get(f"{C}/board", headers=bearer(tokens["display"]))
        assert answer.status_code == 503
        after = scrape(client)
    assert value(after, "queueserver_redis_errors_total", where="http") == (
        value(before, "queueserver_redis_errors_total", where="http") + 1)
    assert value(after, "queueserver_redis_errors_total", where="metrics") >= 1


def test_every_answer_carries_a_request_id(client: TestClient) -> None:
    first = client.get("/healthz").headers["x-request-id"]
    second = client.get("/healthz").headers["x-request-id"]
    assert first and second and first != second
    mine = client.get("/healthz", headers={"X-Request-ID": "lb-7f3a-01"})
    assert mine.headers["x-request-id"] == "lb-7f3a-01"
    odd = client.get("/healthz", headers={"X-Request-ID": "two words"})
    assert odd.headers["x-request-id"] != "two words"


def test_log_lines_are_json_with_the_request_id(client: TestClient, tokens: dict[str, str],
                                                caplog: pytest.LogCaptureFixture) -> None:
    formatter = logs.JsonLines()
    with caplog.at_level(logging.INFO, logger="queueserver.requests"):
        answer = client.get(f"{C}/tickets/A042", headers={**bearer(tokens["desk"]),
                                                            "X-Request-ID": "req-42"})
    records = [rec for rec in caplog.records if rec.name == "queueserver.requests"]
    assert records
    line = json.loads(formatter.format(records[-1]))
    assert answer.headers["x-request-id"] == "req-42"
    assert (line["msg"], line["route"], line["status"], line["method"]) == (
        "request", "/api/v1/centres/{centre}/tickets/{number}", 404, "GET")
    assert line["request_id"] == "req-42" and line["level"] == "INFO"
    assert "A042" not in json.dumps(line)
