"""`/login` and `/logout` (CONTRACT §7): a form posting `username`, `password` and a hidden
`csrf_token`; a signed, HttpOnly, SameSite=Strict, expiring session cookie; logout ends the
session on the server, not only in the browser.

Before a session exists the form's CSRF token is tied to a short-lived cookie of its own (the
token is that cookie's signature), so a form posted from another site is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from queueserver.auth import users
from queueserver.platform.errors import ApiError
from queueserver.web.api.pages import problem, render

LOGIN_CSRF_COOKIE = "qs_login"
# Time to type a name and password; a stale form is refused and simply shown again.
LOGIN_FORM_TTL_S = 30 * 60
MAX_FIELD = 256


def _login_token(secret: bytes, nonce: str) -> str:
    key = hmac.new(secret, b"queueserver login form", hashlib.sha256).digest()
    return hmac.new(key, nonce.encode(), hashlib.sha256).hexdigest()


def safe_next(raw: str | None) -> str:
    """Only a path on this server: never another host (`//evil`, `/\\evil`, `https:`)."""
    if not raw or not raw.startswith("/") or raw.startswith("//") or "\\" in raw:
        return "/"
    return raw


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


async def _form(request: Request) -> dict[str, str]:
    """An urlencoded form (the only kind the login page sends)."""
    raw = (await request.body()).decode("utf-8", errors="replace")
    try:
        fields = parse_qs(raw, keep_blank_values=True, max_num_fields=10)
    except ValueError:
        # More fields than the form has: no form of ours; its CSRF check then refuses it.
        return {}
    return {k: v[0][:MAX_FIELD] for k, v in fields.items() if v}


def _form_page(request: Request, status: int = 200, error: str | None = None,
               username: str = "", next_path: str = "/") -> Response:
    secret: bytes = request.state.centres.secret
    nonce = secrets.token_urlsafe(24)
    response = render(request, "login.html", status=status,
                      error=ApiError(error) if error else None, username=username,
                      next_path=next_path, csrf_token=_login_token(secret, nonce))
    response.set_cookie(LOGIN_CSRF_COOKIE, nonce, max_age=LOGIN_FORM_TTL_S, httponly=True,
                        samesite="strict", secure=_secure(request), path="/login")
    return response


async def login_form(request: Request) -> Response:
    return _form_page(request, next_path=safe_next(request.query_params.get("next")))


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def login(request: Request) -> Response:
    r = request.state.redis
    secret: bytes = request.state.centres.secret
    form = await _form(request)
    name = form.get("username", "").strip().lower()
    next_path = safe_next(form.get("next"))
    now = request.state.centres.clock.now()
    # A browser that signed in as this login before is not held up by strangers' failures on
    # the name, only by its own (and its address's).
    device = await users.trusted_device(r, secret, request.cookies.get(users.DEVICE_COOKIE),
                                        name, now)
    # CONTRACT §5: the failed-login limit is checked before anything else about the request.
    wait = await users.login_retry_after(r, name, _client(request), device)
    if wait:
        page = problem(request, 429, "rate_limited")
        page.headers["Retry-After"] = str(wait)
        return page
    nonce = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    sent = form.get("csrf_token", "")
    # Bytes, not str: compare_digest raises on non-ASCII text, which a form may well send.
    if not nonce or not hmac.compare_digest(sent.encode(errors="surrogatepass"),
                                            _login_token(secret, nonce).encode()):
        return _form_page(request, 403, "csrf_failed", name, next_path)
    cred = await users.authenticate(r, name, form.get("password", ""))
    session = await users.start_session(r, secret, cred) if cred else None
    if cred is None or session is None:
        await users.record_failure(r, name, _client(request), device)
        return _form_page(request, 401, "login_failed", name, next_path)
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(users.COOKIE, session[0], max_age=users.SESSION_TTL_S, httponly=True,
                        samesite="strict", secure=_secure(request), path="/")
    # Only the login form needs it, so only the login form is sent it.
    trusted = users.remember_device(secret, request.cookies.get(users.DEVICE_COOKIE), cred, now)
    response.set_cookie(users.DEVICE_COOKIE, trusted, max_age=users.DEVICE_TTL_S, httponly=True,
                        samesite="strict", secure=_secure(request), path="/login")
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


async def logout(request: Request) -> Response:
    r = request.state.redis
    secret: bytes = request.state.centres.secret
    cookie = request.cookies.get(users.COOKIE)
    session = await users.lookup_session(r, secret, cookie)
    if session is not None:
        form = await _form(request)
        if not hmac.compare_digest(form.get("csrf_token", "").encode(errors="surrogatepass"),
                                   session.csrf.encode()):
            return problem(request, 403, "csrf_failed")
        await users.end_session(r, secret, cookie)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(users.COOKIE, path="/", httponly=True, samesite="strict")
    return response


routes: list[BaseRoute] = [
    Route("/login", login_form, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
]
