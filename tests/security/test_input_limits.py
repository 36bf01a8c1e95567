"""Hostile bodies: nesting, non-JSON numbers, out-of-range and mistyped values get 400
`bad_request` and change nothing; no error answer tells anything about the server's insides;
and a request head past its bound gets 431 from a real `serve`, which goes on serving."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import redis
from conftest import bearer, server_env, start_server
from starlette.testclient import TestClient

from queueserver.queue.tickets import Centres
from queueserver.web.api import base
from queueserver.web.server import MAX_HEAD_BYTES

C = "/api/v1/centres/wan-chai"
CHECK_IN = {"booking_ref": "MEP1", "id_number": "A123456(3)", "photo_barcode": "PH1"}
# What a leak of internals looks like in an answer.
INTERNALS = ("Traceback", "File \"", ".py", "redis", "Redis", "lua", "Exception", "Error:",
             "/work", "site-packages", "qs:")


def nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth - 1):
        value = {"a": value}
    return value


BODIES: list[tuple[str, str, bytes]] = [
    ("nested deeper than the limit", "/tickets",
     json.dumps({**CHECK_IN, "extra": nested(base.MAX_DEPTH + 1)}).encode()),
    ("nested past Python's recursion", "/tickets",
     b'{"booking_ref": ' + b"[" * 30_000 + b"]" * 30_000 + b"}"),
    ("NaN for a number", "/tickets/A001/payment", b'{"method": "cash", "amount_hkd": NaN}'),
    ("Infinity for a number", "/tickets/A001/payment",
     b'{"method": "cash", "amount_hkd": Infinity}'),
    ("a number beyond 2^53", "/tickets/A001/payment",
     b'{"method": "cash", "amount_hkd": ' + str(2**60).encode() + b"}"),
    ("a fraction for a whole number", "/tickets/A001/payment",
     b'{"method": "cash", "amount_hkd": 320.5}'),
    ("true for a number", "/tickets/A001/payment", b'{"method": "cash", "amount_hkd": true}'),
    ("a number for a flag", "/tickets", json.dumps({**CHECK_IN, "priority": 1}).encode()),
    ("an object for a string", "/photo-receipts", b'{"barcode": {"$gt": ""}}'),
    ("not UTF-8", "/photo-receipts", b'{"barcode": "\xff\xfe"}'),
]


@pytest.mark.parametrize(("path", "raw"), [(p, b) for _, p, b in BODIES],
                         ids=[why for why, _, _ in BODIES])
def test_hostile_bodies_are_refused_and_change_nothing(
        client: TestClient, tokens: dict[str, str], seed: Callable[..., Any],
        r: redis.Redis, path: str, raw: bytes) -> None:
    seed("MEP1")
    before = {k: r.dump(k) for k in r.scan_iter("qs:*") if not k.startswith("qs:rate:")}
    answer = client.post(C + path, content=raw, headers={
        **bearer(tokens["supervisor"]), "Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "bad_request"
    after = {k: r.dump(k) for k in r.scan_iter("qs:*") if not k.startswith("qs:rate:")}
    assert after == before


def test_the_depth_limit_leaves_ordinary_bodies_alone(client: TestClient,
                                                      tokens: dict[str, str]) -> None:
    answer = client.post(C + "/photo-receipts", json={"barcode": "PH9", "note": nested(3)},
                         headers=bearer(tokens["photo"]))
    assert answer.status_code == 201, answer.text


def test_error_answers_hold_nothing_about_internals(
        client: TestClient, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("redis at /work/main/queueserver/queue/tickets.py said qs:secret")

    answers = [
        client.post(C + "/tickets", content=b"{oops", headers=bearer(tokens["desk"])),
        client.post(C + "/tickets", json=CHECK_IN, headers=bearer("qs_forged")),
        client.get("/api/v1/centres/atlantis/board", headers=bearer(tokens["admin"])),
        client.delete(C + "/board", headers=bearer(tokens["admin"])),
        client.get("/no/such/page"),
    ]
    monkeypatch.setattr(Centres, "board", broken)
    with TestClient(client.app, raise_server_exceptions=False) as quiet:
        failed = quiet.get(C + "/board", headers=bearer(tokens["admin"]))
    assert failed.status_code == 500
    for answer in [*answers, failed]:
        assert answer.status_code >= 400
        text = answer.text
        assert answer.json()["error"]["message_en"], text
        for leak in INTERNALS:
            assert leak not in text, (leak, text)


def _exchange(url: str, head: bytes, pieces: int = 1) -> bytes:
    """Sends a request head over a raw socket (in `pieces` parts) and reads the answer until
    the server closes the connection (every request here says `Connection: close`)."""
    host, port = url.removeprefix("http://").split(":")
    answer = b""
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        step = -(-len(head) // pieces)
        try:
            for i in range(0, len(head), step):
                sock.sendall(head[i:i + step])
        except (BrokenPipeError, ConnectionResetError):
            pass   # refused before it was all sent: the answer is already on its way
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            answer += chunk
    return answer


def _head(header_bytes: int) -> bytes:
    return (b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nX-Padding: "
            + b"a" * header_bytes + b"\r\n\r\n")


@pytest.mark.e2e
@pytest.mark.parametrize("workers", [1, 2])
def test_an_oversized_request_head_gets_431_and_the_server_stays_up(
        r: redis.Redis, redis_url: str, workers: int) -> None:
    """`serve` bounds a request's head (request line and headers) at MAX_HEAD_BYTES, whether it
    comes at once or a little at a time, answers 431 in the contract's shape, and goes on
    serving; a head just under the bound is served as before."""
    server = start_server(server_env(redis_url), "--workers", str(workers))
    try:
        under = _exchange(server.url, _head(MAX_HEAD_BYTES - 1024))
        assert under.startswith(b"HTTP/1.1 200 "), under[:200]
        for head, pieces in ((_head(2 * MAX_HEAD_BYTES), 1), (_head(2 * MAX_HEAD_BYTES), 64),
                             (_head(16 * 1024 * 1024), 1)):
            over = _exchange(server.url, head, pieces)
            assert over.startswith(b"HTTP/1.1 431 "), over[:200]
            error = json.loads(over.split(b"\r\n\r\n", 1)[1])["error"]
            assert error["code"] == "headers_too_large" and error["message_zh"]
            assert httpx.get(server.url + "/healthz", timeout=10).status_code == 200
        # A long URL is part of the head as well.
        long_url = b"GET /healthz?" + b"q" * (2 * MAX_HEAD_BYTES) + b" HTTP/1.1\r\n\r\n"
        assert _exchange(server.url, long_url).startswith(b"HTTP/1.1 431 ")
        assert server.proc.poll() is None
    finally:
        server.stop()
