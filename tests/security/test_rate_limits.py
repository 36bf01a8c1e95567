"""Rate limits (CONTRACT §5): a credential is never refused below 20 requests a second with
bursts of 300, is refused with 429 `rate_limited` and `Retry-After` well beyond that, and failed
logins are limited per address as well as per name, by the forwarded address behind a proxy."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import redis
from conftest import Server, bearer
from starlette.testclient import TestClient

from queueserver.auth import credentials as auth
from queueserver.auth import ratelimit, users
from queueserver.store import keys

C = "/api/v1/centres/wan-chai"
FLOOR_BURST = 300
FLOOR_RATE_PER_S = 20


def board(client: TestClient, token: str) -> Any:
    return client.get(C + "/board", headers=bearer(token))


def test_the_floor_is_never_refused(client: TestClient, tokens: dict[str, str]) -> None:
    for _ in range(FLOOR_BURST):
        assert board(client, tokens["display"]).status_code == 200
    # Then steady use at the floor's rate for two seconds.
    start = time.monotonic()
    for i in range(2 * FLOOR_RATE_PER_S):
        time.sleep(max(0.0, start + i / FLOOR_RATE_PER_S - time.monotonic()))
        assert board(client, tokens["display"]).status_code == 200


def test_beyond_the_bucket_is_429_with_retry_after(client: TestClient,
                                                  tokens: dict[str, str]) -> None:
    refused = None
    for _ in range(ratelimit.BURST * 2):
        answer = board(client, tokens["display"])
        if answer.status_code == 429:
            refused = answer
            break
        assert answer.status_code == 200
    assert refused is not None, "a flood of requests was never limited"
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["retry-after"]) >= 1
    # The limit is the credential's: another one of the same centre is served...
    assert board(client, tokens["clerk"]).status_code == 200
    # ...and the bucket refills at no less than the floor's rate.
    time.sleep(1.0)
    served = 0
    while board(client, tokens["display"]).status_code == 200:
        served += 1
    assert served >= FLOOR_RATE_PER_S


def test_a_limited_credential_is_refused_everywhere_and_on_its_socket(
        client: TestClient, r: redis.Redis) -> None:
    token, cred = auth.create_token(r, auth.Role.DISPLAY, "wan-chai", name="flooding-tv")
    assert board(client, token).status_code == 200
    # As after a long flood: the bucket owes seconds' worth of requests.
    r.hset(keys.rate_bucket(cred.id), "tokens", -10 * ratelimit.RATE_PER_S)
    assert board(client, token).status_code == 429
    assert client.get("/display/wan-chai", params={"token": token}).status_code == 429
    from starlette.websockets import WebSocketDisconnect
    try:
        with client.websocket_connect(f"/ws/centres/wan-chai/events?token={token}"):
            raise AssertionError("a limited credential opened live events")
    except WebSocketDisconnect as e:
        assert e.reason == "rate_limited"


def _sign_in(http: httpx.Client, name: str, address: str) -> httpx.Response:
    page = http.get("/login", headers={"X-Forwarded-For": address})
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text
    return http.post("/login", headers={"X-Forwarded-For": address}, data={
        "username": name, "password": "not the password", "csrf_token": found.group(1)},
        follow_redirects=False)


def test_failed_logins_are_limited_per_forwarded_address(server: Server) -> None:
    """Behind nginx every request comes from the proxy: the limit must count the address it
    forwards (uvicorn's proxy headers, trusted from loopback by default; docs/deploy.md)."""
    with httpx.Client(base_url=server.url, timeout=10) as http:
        for i in range(users.MAX_FAILURES):
            assert _sign_in(http, f"guess-{i}", "203.0.113.5").status_code == 401
        limited = _sign_in(http, "someone-new", "203.0.113.5")
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) > 0
        # The same name from another address is not held up by that address's failures.
        assert _sign_in(http, "someone-new", "203.0.113.6").status_code == 401
