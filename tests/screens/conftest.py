"""Screens in real headless Chromium (Debian's, driven by Playwright) against `queueserver serve`
run as a process. Every page opened here is watched: a request to any host but the server, or a
Content-Security-Policy violation, fails the test that caused it."""

from __future__ import annotations

import asyncio
import concurrent.futures
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio
from conftest import Server
from screens.helpers import PASSWORD, Api, Screens

from queueserver.auth import credentials as auth
from queueserver.auth import users

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 # As a hall display is started (docs/screens.md): sound without a tap.
                 "--autoplay-policy=no-user-gesture-required"]


# Per module, not per session: while Playwright's sync API is open, its event loop runs in this
# thread, and later tests elsewhere that call asyncio.run() would fail.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert shutil.which(CHROMIUM) or Path(CHROMIUM).exists(), \
        "Debian's chromium is required (apt-get install chromium)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def screens(browser: Any, server: Server) -> Iterator[Screens]:
    s = Screens(browser, server)
    yield s
    violations, foreign, csp, errors = s.violations(), s.foreign, s.console_csp, s.page_errors
    s.close()
    assert foreign == [], f"requests to another host: {foreign}"
    assert violations == [] and csp == [], f"CSP violations: {violations} {csp}"
    assert errors == [], f"script errors: {errors}"


@pytest.fixture
def make_login(redis_url: str) -> Callable[..., str]:
    def make(name: str, role: str, centre: str | None = "wan-chai",
             counter: int | None = None) -> str:
        async def go() -> None:
            r = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
            try:
                await users.create_user(r, name, PASSWORD, auth.Role(role), centre, counter)
            finally:
                await r.aclose()
        # Playwright's sync API keeps an event loop running in this thread: use another.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, go()).result()
        return name
    return make


@pytest.fixture
def device(r: redis.Redis) -> Callable[[str], str]:
    def make(role: str) -> str:
        token, _ = auth.create_token(r, auth.Role(role), "wan-chai")
        return token
    return make


@pytest.fixture
def api(server: Server, r: redis.Redis) -> Api:
    token, _ = auth.create_token(r, auth.Role.SUPERVISOR, "wan-chai")
    return Api(server, token)
