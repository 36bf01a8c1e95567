"""The app's router finds each request's route with one pattern (web/routing.py): for every
route of the app, and paths no route takes, in every method, it finds what Starlette's own
router finds by trying the routes in turn, or leaves the request to it."""

from __future__ import annotations

import re
from typing import Any

from conftest import SAMPLE_CONFIG, SECRET
from starlette._utils import is_async_callable
from starlette.routing import Match, Mount, Route, Router

from queueserver.platform import config
from queueserver.web.app import create_app
from queueserver.web.routing import OneMatch, _plain

METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH")
SAMPLES = {"int": ["7", "012"], "path": ["a/b.js"], None: ["wan-chai", "A001", "x_y-1"]}


def paths_of(path: str) -> list[str]:
    """The route's template filled in each way its parameters can be."""
    filled = [path]
    for name, kind in re.findall(r"{(\w+)(?::(\w+))?}", path):
        spot = "{" + name + (":" + kind if kind else "") + "}"
        filled = [p.replace(spot, value, 1) for p in filled for value in SAMPLES[kind or None]]
    return filled


def starlette_s(routes: list[Any], scope: dict[str, Any]) -> tuple[Any, dict[str, Any]] | None:
    for route in Router(routes).routes:
        match, child = route.matches(scope)
        if match is Match.FULL:
            return route, child.get("path_params", {})
    return None


def test_one_pattern_finds_the_route_starlette_would() -> None:
    app = create_app(config.load(SAMPLE_CONFIG), "redis://127.0.0.1:1", SECRET)
    router = app.router
    assert isinstance(router, OneMatch)
    paths = {"/", "/nope", "/api/v1/nope", "/api/v1/centres/wan-chai/tickets/",
             "/static/shared/", "/healthz/extra"}
    for route in router.routes:
        if isinstance(route, Route | Mount):
            paths.update(paths_of(route.path))
            paths.update(p + "/" for p in paths_of(route.path))
    found = 0
    for method in METHODS:
        for path in sorted(paths):
            scope = {"type": "http", "method": method, "path": path, "root_path": "",
                     "headers": [], "query_string": b""}
            theirs = starlette_s(router.routes, scope)
            ours = router.find(scope)
            if theirs is not None and isinstance(theirs[0], Route):
                assert ours == theirs, (method, path)
                found += 1
            else:
                assert ours is None, (method, path)  # left to Starlette's router
    # Every route was found by its own paths, in its own methods.
    assert found >= sum(len(r.methods or ()) for r in router.routes if isinstance(r, Route))


def test_routes_called_directly_are_those_starlette_wraps_in_request_response() -> None:
    """The router calls an endpoint itself (without Starlette's layer for exception handlers,
    which the app has none of) exactly where Starlette would have wrapped it in
    `request_response` and awaited it: an async function or method. Anything else (an ASGI app
    of its own, a function run in a thread) goes through the route as before."""
    app = create_app(config.load(SAMPLE_CONFIG), "redis://127.0.0.1:1", SECRET)
    plain = [route for route in app.routes if isinstance(route, Route)]
    assert len(plain) > 50
    for route in plain:
        wrapped = route.app is not route.endpoint
        assert _plain(route) == (wrapped and is_async_callable(route.endpoint)), route.path
    assert sum(_plain(route) for route in plain) == len(plain)  # every one of the app's
    assert not _plain(Route("/asgi", Router(routes=[])))
    assert not _plain(Route("/sync", lambda request: None))
