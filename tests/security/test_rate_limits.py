"""Rate limits (CONTRACT §5): a credential is never refused below 20 requests a second with
bursts of 300, is refused with 429 `rate_limited` and `Retry-After` well beyond that, and failed
logins are limited per address as well as per name, by the forwarded address behind a proxy,
and a browser that signed in as a login before is not locked out by strangers' failures on its
name."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import httpx
import pytest
import redis
import redis.asyncio
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


def test_beyond_the_bucket_is_429_with_retry_after(client: TestClient, tokens: dict[str, str],
                                                  r: redis.Redis,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # A flood beyond the real bucket (600, refilled at 40 a second) is 1,200 requests in 15 s:
    # a loaded machine may not send them that fast, and then, rightly, nothing is refused. So
    # the flood runs against a small bucket (the same script, its size and rate being the
    # script's arguments): 120 requests empty a bucket of 60 refilled at 2 a second unless
    # they take half a minute.
    monkeypatch.setattr(ratelimit, "BURST", 60)
    monkeypatch.setattr(ratelimit, "RATE_PER_S", 2)
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
    # The limit is the credential's: another one of the same centre is served.
    assert board(client, tokens["clerk"]).status_code == 200
    monkeypatch.undo()
    # The real bucket refills at no less than the floor's rate, and a second does not refill
    # it whole: emptied, its last refill a second back on Redis's own clock, one request
    # leaves it holding a second's tokens less the one it took (what the next requests may
    # spend), however long the request itself took to arrive.
    display = auth.lookup_token(r, tokens["display"])
    assert display is not None
    bucket = keys.rate_bucket(display.id, display.centre)
    seconds, micros = r.time()
    now_us = seconds * 1_000_000 + micros
    r.hset(bucket, mapping={"tokens": "0", "at_us": now_us - 1_000_000})
    assert board(client, tokens["display"]).status_code == 200
    held, at_us = r.hmget(bucket, "tokens", "at_us")
    left = float(held or 0)
    refill_s = (int(float(at_us or 0)) - now_us) / 1_000_000 + 1
    assert left >= FLOOR_RATE_PER_S - 1
    # What a second and the request's own time refilled, less the one request: no more (the
    # script keeps its times with Lua's 14 significant digits: 0.05 tokens are 1.25 ms).
    assert left <= ratelimit.RATE_PER_S * refill_s - 1 + 0.05
    assert left < ratelimit.BURST - 1


def test_a_limited_credential_is_refused_everywhere_and_on_its_socket(
        client: TestClient, r: redis.Redis) -> None:
    token, cred = auth.create_token(r, auth.Role.DISPLAY, "wan-chai", name="flooding-tv")
    assert board(client, token).status_code == 200
    # As after a long flood: the bucket owes seconds' worth of requests.
    r.hset(keys.rate_bucket(cred.id, cred.centre), "tokens", -10 * ratelimit.RATE_PER_S)
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


PASSWORD = "correct horse battery"


def _make_login(redis_url: str, name: str) -> None:
    async def go() -> None:
        r = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
        try:
            await users.create_user(r, name, PASSWORD, auth.Role.CLERK, "wan-chai", 1)
        finally:
            await r.aclose()
    asyncio.run(go())


def _try(http: httpx.Client, name: str, password: str, address: str) -> httpx.Response:
    """One sign-in through the form, from `address` (as nginx forwards it)."""
    headers = {"X-Forwarded-For": address}
    page = http.get("/login", headers=headers)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text
    return http.post("/login", headers=headers, follow_redirects=False, data={
        "username": name, "password": password, "csrf_token": found.group(1)})


def test_strangers_who_lock_a_name_do_not_lock_out_its_own_browser(server: Server,
                                                                   redis_url: str) -> None:
    """OWASP's device cookie: ten failures on a name from anywhere lock the name, but a browser
    that has signed in as that login before still gets in; a browser without the cookie (or
    with a forged one) gets 429. The trusted browser's own failures, and its address's, still
    count."""
    _make_login(redis_url, "amy")
    with httpx.Client(base_url=server.url, timeout=10) as amy:
        first = _try(amy, "amy", PASSWORD, "198.51.100.7")
        assert first.status_code == 303, first.text
        set_cookie = [v for k, v in first.headers.multi_items()
                      if k == "set-cookie" and v.startswith(users.DEVICE_COOKIE + "=")]
        assert len(set_cookie) == 1
        for attribute in ("HttpOnly", "Path=/login", f"Max-Age={users.DEVICE_TTL_S}"):
            assert attribute in set_cookie[0], set_cookie
        device = amy.cookies.get(users.DEVICE_COOKIE, path="/login")
        assert device and "amy:" in device
        amy.cookies.delete(users.COOKIE)

        for i in range(users.MAX_FAILURES):   # strangers, each from an address of its own
            with httpx.Client(base_url=server.url, timeout=10) as stranger:
                assert _try(stranger, "amy", f"guess {i} guess", f"203.0.113.{i + 1}"
                            ).status_code == 401
        with httpx.Client(base_url=server.url, timeout=10) as other:
            locked = _try(other, "amy", PASSWORD, "192.0.2.50")
            assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
            # A device cookie with its signature changed is no device cookie.
            forged = device[:-1] + ("0" if device[-1] != "0" else "1")
            other.cookies.set(users.DEVICE_COOKIE, forged, path="/login")
            assert _try(other, "amy", PASSWORD, "192.0.2.50").status_code == 429

        again = _try(amy, "amy", PASSWORD, "198.51.100.7")
        assert again.status_code == 303, again.text
        assert amy.get("/", headers={"X-Forwarded-For": "198.51.100.7"}).status_code == 200

        # The cookie is not a licence to guess: its own failures lock it (from any address).
        amy.cookies.delete(users.COOKIE)
        for i in range(users.MAX_FAILURES):
            assert _try(amy, "amy", "not my password", f"198.51.100.{20 + i}").status_code == 401
        assert _try(amy, "amy", PASSWORD, "198.51.100.7").status_code == 429


def test_a_trusted_browser_is_still_held_by_its_address(server: Server, redis_url: str) -> None:
    _make_login(redis_url, "bea")
    with httpx.Client(base_url=server.url, timeout=10) as bea:
        assert _try(bea, "bea", PASSWORD, "198.51.100.8").status_code == 303
        bea.cookies.delete(users.COOKIE)
        with httpx.Client(base_url=server.url, timeout=10) as guesser:
            for i in range(users.MAX_FAILURES):
                assert _try(guesser, f"guess-{i}", "wrong password!", "198.51.100.8"
                            ).status_code == 401
        assert _try(bea, "bea", PASSWORD, "198.51.100.8").status_code == 429
        assert _try(bea, "bea", PASSWORD, "198.51.100.9").status_code == 303
