"""`serve --workers 2`: /metrics adds up every process; the log is JSON, without personal data."""

from __future__ import annotations

import json

import httpx
import pytest
import redis
from conftest import HKIDS, make_booking, server_env, start_server, store
from prometheus_client.parser import text_string_to_metric_families

from queueserver.auth import credentials as auth

pytestmark = pytest.mark.e2e
C = "/api/v1/centres/wan-chai"
BOARD = "/api/v1/centres/{centre}/board"
MAX_TRIES = 300


def answered_by(log: str) -> set[int]:
    """The processes that logged an answer to the board."""
    return {line["pid"] for line in map(json.loads, filter(None, (
        raw if raw.startswith("{") else "" for raw in log.splitlines())))
        if line.get("route") == BOARD}


def board_requests(url: str) -> float:
    text = httpx.get(url + "/metrics", timeout=10).text
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == "queueserver_http_requests_total" and s.labels["route"] == BOARD)


def test_two_workers_answer_for_both_and_log_json(r: redis.Redis, redis_url: str) -> None:
    server = start_server(server_env(redis_url), "--workers", "2")
    try:
        token, _ = auth.create_token(r, auth.Role.SUPERVISOR, "wan-chai")
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=10) as http:
            store(r, [make_booking("MEP777", id_number=HKIDS[1])])
            assert http.post(C + "/photo-receipts", json={"barcode": "PH777"}).status_code == 201
            checked = http.post(C + "/tickets", json={
                "booking_ref": "MEP777", "id_number": HKIDS[1], "photo_barcode": "PH777"})
            assert checked.status_code == 201
        made = 0
        while made < MAX_TRIES and len(answered_by(server.output())) < 2:
            # A new connection each time, so that both workers get some.
            assert httpx.get(server.url + C + "/board", headers=headers).status_code == 200
            made += 1
        assert len(answered_by(server.output())) == 2
        # Whichever process answers the scrape, it counts the other's requests too.
        assert {board_requests(server.url) for _ in range(6)} == {float(made)}
    finally:
        server.stop()
    lines = [json.loads(line) for line in server.output().splitlines()
             if line.startswith("{")]
    requests = [line for line in lines if line.get("msg") == "request"]
    assert len({line["request_id"] for line in requests}) == len(requests) >= made + 2
    log = server.output()
    for personal in ("MEP777", HKIDS[1], HKIDS[1].replace("(", "").replace(")", ""), "SMITH"):
        assert personal not in log
