"""Staff logins in-process: passwords, the session cookie, CSRF on forms and API calls, logout,
revocation, the failed-login limit, and the security headers on every answer."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import redis.asyncio
from conftest import MORNING, bearer
from starlette.testclient import TestClient

from queueserver.auth import users
from queueserver.auth.credentials import Role
from queueserver.platform.clock import Clock
from queueserver.store import keys

C = "/api/v1/centres/wan-chai"
PASSWORD = "correct horse battery"


def make_user(redis_url: str, name: str, role: Role, centre: str | None = "wan-chai",
              counter: int | None = None, password: str = PASSWORD) -> None:
    async def go() -> None:
        r = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
        try:
            await users.create_user(r, name, password, role, centre, counter)
        finally:
            await r.aclose()
    asyncio.run(go())


def form_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def sign_in(client: TestClient, name: str, password: str = PASSWORD,
            next_path: str = "/") -> Any:
    page = client.get("/login")
    return client.post("/login", data={"username": name, "password": password,
                                       "csrf_token": form_token(page.text), "next": next_path},
                       follow_redirects=False)


@pytest.fixture
def clerk(r: redis.Redis, redis_url: str) -> Iterator[str]:
    make_user(redis_url, "amy", Role.CLERK, counter=1)
    yield "amy"


def test_passwords_are_stored_as_argon2id_hashes(client: TestClient, clerk: str,
                                                 r: redis.Redis) -> None:
    stored = r.hgetall(keys.user(clerk))
    assert stored["password_hash"].startswith("$argon2id$")
    assert PASSWORD not in str(stored)
    assert r.smembers(keys.user_names()) == {clerk}


def test_a_session_cookie_counts_like_a_token_and_posts_need_its_csrf_token(
        client: TestClient, clerk: str, r: redis.Redis) -> None:
    answer = sign_in(client, clerk, next_path="/counter/wan-chai/1")
    assert answer.status_code == 303 and answer.headers["location"] == "/counter/wan-chai/1"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert f"Max-Age={users.SESSION_TTL_S}" in cookie
    session_keys = list(r.scan_iter("qs:session:*"))
    assert len(session_keys) == 1 and 0 < r.ttl(session_keys[0]) <= users.SESSION_TTL_S
    assert client.get(C + "/board").status_code == 200
    # Without the session's CSRF token, a state change is refused and changes nothing.
    refused = client.post(C + "/counters/1/open")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"
    assert client.get(C + "/board").json()["counters"][0]["state"] == "closed"
    wrong = client.post(C + "/counters/1/open", headers={"X-CSRF-Token": "nope"})
    assert wrong.status_code == 403
    page = client.get("/counter/wan-chai/1")
    csrf = re.search(r'"csrf": "([^"]+)"', page.text.replace("&#34;", '"'))
    assert csrf, page.text[:500]
    opened = client.post(C + "/counters/1/open", headers={"X-CSRF-Token": csrf.group(1)})
    assert opened.status_code == 200, opened.text
    assert client.get(C + "/board").json()["counters"][0]["state"] == "open"
    # The session carries the login's role and counter: counter 2 is not this clerk's.
    other = client.post(C + "/counters/2/open", headers={"X-CSRF-Token": csrf.group(1)})
    assert other.status_code == 403 and other.json()["error"]["code"] == "forbidden"


def test_the_login_form_refuses_a_post_without_its_csrf_token(client: TestClient,
                                                              clerk: str) -> None:
    answer = client.post("/login", data={"username": clerk, "password": PASSWORD,
                                         "csrf_token": "forged"}, follow_redirects=False)
    assert answer.status_code == 403
    assert 'data-code="csrf_failed"' in answer.text
    assert "set-cookie" not in answer.headers or users.COOKIE not in answer.headers["set-cookie"]


def test_a_wrong_password_is_refused_in_both_languages(client: TestClient, clerk: str) -> None:
    answer = sign_in(client, clerk, "wrong password!")
    assert answer.status_code == 401
    assert "用戶名稱或密碼不正確" in answer.text and "The name or password is wrong" in answer.text
    assert sign_in(client, "nobody", PASSWORD).status_code == 401


def test_logout_ends_the_session_on_the_server(client: TestClient, clerk: str,
                                               r: redis.Redis) -> None:
    sign_in(client, clerk)
    cookie = client.cookies.get(users.COOKIE)
    home = client.get("/")
    assert home.status_code == 200
    refused = client.post("/logout", data={"csrf_token": "forged"}, follow_redirects=False)
    assert refused.status_code == 403
    answer = client.post("/logout", data={"csrf_token": form_token(home.text)},
                         follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    assert list(r.scan_iter("qs:session:*")) == []
    # The old cookie, replayed, is worth nothing.
    client.cookies.clear()
    client.cookies.set(users.COOKIE, cookie or "")
    assert client.get(C + "/board").status_code == 401
    assert client.get("/desk/wan-chai", follow_redirects=False).status_code == 303


def test_every_staff_screen_redirects_to_login(client: TestClient) -> None:
    for path in ("/", "/admin", "/desk/wan-chai", "/counter/wan-chai/1", "/photo/wan-chai",
                 "/display/wan-chai", "/kiosk/wan-chai"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/login?next=" + path), path


def test_a_forged_or_unsigned_cookie_is_no_session(client: TestClient, clerk: str) -> None:
    sign_in(client, clerk)
    cookie = client.cookies.get(users.COOKIE) or ""
    session_id = cookie.rsplit(".", 1)[0]
    client.cookies.clear()
    for forged in (session_id, session_id + ".0000", "x." + cookie.rsplit(".", 1)[1]):
        client.cookies.set(users.COOKIE, forged)
        assert client.get(C + "/board").status_code == 401
        client.cookies.clear()


def test_revoking_a_login_ends_its_sessions(client: TestClient, redis_url: str,
                                            tokens: dict[str, str], clerk: str) -> None:
    sign_in(client, clerk)
    assert client.get(C + "/board").status_code == 200
    sup = bearer(tokens["supervisor"])
    with TestClient(client.app) as other:
        assert other.post(f"/api/v1/users/{clerk}/revoke", headers=sup).status_code == 200
    assert client.get(C + "/board").status_code == 401


def test_failed_logins_are_limited_per_name(client: TestClient, clerk: str) -> None:
    for _ in range(users.MAX_FAILURES):
        assert sign_in(client, clerk, "wrong password!").status_code == 401
    limited = sign_in(client, clerk, PASSWORD)
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 0


def test_next_never_leaves_the_server(client: TestClient, clerk: str) -> None:
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        assert sign_in(client, clerk, next_path=target).headers["location"] == "/"


def test_security_headers_on_pages_and_api(client: TestClient, tokens: dict[str, str]) -> None:
    for path in ("/login", C + "/board", "/static/displays/display.js"):
        answer = client.get(path, headers=bearer(tokens["display"]))
        assert answer.status_code == 200, path
        csp = answer.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["x-content-type-options"] == "nosniff"
    assert client.get("/login").headers["cache-control"] == "no-store"
    assert client.get(C + "/board", headers=bearer(tokens["display"])).headers[
        "cache-control"] == "no-store"
    assert client.get("/sounds/chime.wav").headers["cache-control"].startswith("public")


def test_pages_carry_no_inline_script_or_style(client: TestClient, redis_url: str,
                                               tokens: dict[str, str]) -> None:
    # The device pages by their `?token=`, the staff pages signed in (CONTRACT §5).
    make_user(redis_url, "sue", Role.SUPERVISOR)
    pages = [f"/display/wan-chai?token={tokens['display']}",
             f"/kiosk/wan-chai?token={tokens['kiosk']}", "/login"]
    staff_pages = ["/photo/wan-chai", "/desk/wan-chai", "/counter/wan-chai/1", "/admin", "/"]
    assert sign_in(client, "sue").status_code == 303
    for path in pages + staff_pages:
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 200, path
        html = answer.text
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), path
        assert " style=" not in html and "<style" not in html, path
        assert not re.search(r"\son[a-z]+=", html), path
        assert not re.search(r'(src|href)="(https?:)?//', html), path


def test_a_session_opens_the_live_events_and_signing_out_closes_them(
        client: TestClient, clerk: str) -> None:
    from starlette.websockets import WebSocketDisconnect

    sign_in(client, clerk)
    cookie = client.cookies.get(users.COOKIE) or ""
    headers = {"cookie": f"{users.COOKIE}={cookie}"}
    with client.websocket_connect("/ws/centres/wan-chai/events", headers=headers) as ws:
        assert ws.receive_json()["type"] == "board"
        home = client.get("/")
        client.post("/logout", data={"csrf_token": form_token(home.text)})
        # The socket re-checks its session every few seconds: signed out, it is closed, and
        # soon (the test client's own receive would wait for ever on a socket left open).
        import anyio

        async def next_message() -> dict[str, object]:
            with anyio.fail_after(10):
                return dict(await ws._send_rx.receive())

        closed = ws.portal.call(next_message)
        assert (closed["type"], closed.get("code")) == ("websocket.close", 1008)
    with pytest.raises(WebSocketDisconnect), client.websocket_connect(
            "/ws/centres/wan-chai/events", headers=headers) as ws:
        ws.receive_json()


def test_non_ascii_tokens_are_refused_not_crashed_on(client: TestClient, clerk: str) -> None:
    """Found by schemathesis: hmac.compare_digest raises on non-ASCII str (it was a 500)."""
    client.get("/login")   # sets the form's nonce cookie
    answer = client.post("/login", data={"username": clerk, "password": PASSWORD,
                                         "csrf_token": "Æo¤"}, follow_redirects=False)
    assert answer.status_code == 403
    # A cookie is decoded as Latin-1, so its signature may hold any of those characters.
    assert users.session_key(b"secret", "abc.sig¤") is None


def test_a_form_with_too_many_fields_is_refused_not_crashed_on(client: TestClient) -> None:
    """Found by schemathesis: parse_qs's field limit raised ValueError (a 500)."""
    client.get("/login")
    body = "&".join(f"f{i}=x" for i in range(20))
    answer = client.post("/login", content=body, follow_redirects=False,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 403


def test_a_device_cookie_is_for_its_own_login_and_lapses(client: TestClient, clerk: str,
                                                          r: redis.Redis, redis_url: str,
                                                          clock: Clock) -> None:
    """The browser's device cookie lets it past its login's lockout (strangers' failures on the
    name) for DEVICE_TTL_S after its last sign-in, for that login only, and not once the login
    has been revoked and made anew under the same name."""
    make_user(redis_url, "bob", Role.CLERK, counter=2)
    assert sign_in(client, clerk).status_code == 303
    device = client.cookies.get(users.DEVICE_COOKIE, path="/login")
    assert device
    client.cookies.delete(users.COOKIE)

    def lock(name: str) -> None:   # as after ten strangers' failures on the name
        r.set(keys.login_failures_user(name), users.MAX_FAILURES, ex=users.FAILURE_WINDOW_S)

    lock(clerk)
    lock("bob")
    assert sign_in(client, clerk).status_code == 303
    client.cookies.delete(users.COOKIE)
    assert sign_in(client, "bob").status_code == 429   # amy's browser is not bob's
    device = client.cookies.get(users.DEVICE_COOKIE, path="/login")
    assert device and device.count("|") == 0   # one entry, renewed, not repeated
    # A month without signing in and the browser is a stranger again.
    clock.set(clock.now() + dt.timedelta(seconds=users.DEVICE_TTL_S + 60))
    assert sign_in(client, clerk).status_code == 429
    clock.set(MORNING)
    assert sign_in(client, clerk).status_code == 303
    client.cookies.delete(users.COOKIE)
    # A login revoked and made again under its name starts with no trusted browsers.
    asyncio.run(_revoke_and_remake(redis_url, clerk))
    lock(clerk)
    assert sign_in(client, clerk).status_code == 429


async def _revoke_and_remake(redis_url: str, name: str) -> None:
    r = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    try:
        assert await users.revoke_user(r, name)
        await users.create_user(r, name, PASSWORD, Role.CLERK, "wan-chai", 1)
    finally:
        await r.aclose()


def test_a_session_started_while_its_login_is_revoked_does_not_survive(
        client: TestClient, clerk: str, redis_url: str, r: redis.Redis) -> None:
    """The password is checked, then the login is revoked, then the session is written (two
    requests on two processes can fall that way): the session must not be left working."""
    async def race() -> Any:
        ar = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
        try:
            cred = await users.authenticate(ar, clerk, PASSWORD)
            assert cred is not None
            assert await users.revoke_user(ar, clerk)
            return await users.start_session(ar, b"test-secret", cred)
        finally:
            await ar.aclose()

    assert asyncio.run(race()) is None
    assert list(r.scan_iter("qs:session:*")) == [] and not r.exists(keys.user_sessions(clerk))
