"""Starlette's router, finding an HTTP request's route with one regular expression.

Starlette tries each route's pattern in turn until one matches the path and the method: the
app has some eighty routes, and the booking platform's come late in the list, so a request
could try forty patterns before its own (py-spy and docs/benchmarks.md: the router's share of
a request). Here every route of a method is one alternation, in the list's order, so the first
that matches is Starlette's own choice; anything it does not settle (a mount's path, a method
no route takes, a path no route matches: 404, 405, a redirect) goes to Starlette's router as
before.
"""

from __future__ import annotations

import functools
import inspect
import re
from typing import Any

from starlette._utils import get_route_path, is_async_callable
from starlette.convertors import Convertor
from starlette.requests import Request
from starlette.routing import BaseRoute, Mount, Route, Router, WebSocketRoute
from starlette.types import Receive, Scope, Send

# A route's parameter in its compiled pattern: renamed, so that the routes' groups stay apart.
_GROUP = re.compile(r"\(\?P<([a-zA-Z_][a-zA-Z0-9_]*)>")


Params = list[tuple[str, str, Convertor[Any]]]  # group, parameter, convertor


class _Choice:
    """The routes one method may take, as one pattern: by the index of each alternative's
    group, its route (None: a mount, left to Starlette) and its parameters."""

    def __init__(self, routes: list[BaseRoute], method: str) -> None:
        alternatives: list[str] = []
        taken: list[tuple[str, Route | None, Params]] = []
        for i, route in enumerate(routes):
            if isinstance(route, WebSocketRoute) or (
                    isinstance(route, Route) and route.methods is not None
                    and method not in route.methods):
                continue  # never this request's
            if not isinstance(route, Route | Mount):
                raise _Unknown(type(route).__name__)
            pattern = route.path_regex.pattern.removeprefix("^").removesuffix("$")
            params = [(f"g{i}_{name}", name, route.param_convertors[name])
                      for name in _GROUP.findall(pattern)]
            alternatives.append(f"(?P<r{i}>" + _GROUP.sub(rf"(?P<g{i}_\1>", pattern) + ")")
            taken.append((f"r{i}", route if isinstance(route, Route) else None, params))
        self.pattern = re.compile("^(?:" + "|".join(alternatives) + ")$")
        self.found = {self.pattern.groupindex[group]: (route, params)
                      for group, route, params in taken}

    def match(self, path: str) -> tuple[Route, dict[str, Any]] | None:
        m = self.pattern.match(path)
        if m is None or m.lastindex is None:
            return None
        route, params = self.found[m.lastindex]
        if route is None:
            return None
        return route, {name: convertor.convert(m.group(group))
                       for group, name, convertor in params}


class _Unknown(Exception):
    """A kind of route this router does not know: Starlette's decides every request."""


class OneMatch(Router):
    """See the module's text."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # By method: llhttp parses only the methods it knows (some thirty), so these stay few.
        self._choices: dict[str, _Choice | None] = {}
        self._routes_seen = len(self.routes)
        # By route (its id: routes live as long as the router), whether it is called directly.
        self._plain: dict[int, bool] = {}

    def _choice(self, method: str) -> _Choice | None:
        if self._routes_seen != len(self.routes):  # a route added since
            self._choices.clear()
            self._routes_seen = len(self.routes)
        if method not in self._choices:
            try:
                self._choices[method] = _Choice(self.routes, method)
            except _Unknown:
                self._choices[method] = None
        return self._choices[method]

    def find(self, scope: Scope) -> tuple[Route, dict[str, Any]] | None:
        """An HTTP request's route and path parameters, as Starlette's router would find them;
        None where it is left to that router."""
        choice = self._choice(scope["method"])
        return choice.match(get_route_path(scope)) if choice is not None else None

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            found = self.find(scope)
            if found is not None:
                route, params = found
                scope.setdefault("router", self)
                scope["route"] = route
                scope["endpoint"] = route.endpoint
                scope["path_params"] = {**scope.get("path_params", {}), **params}
                plain = self._plain.get(id(route))
                if plain is None:
                    plain = self._plain[id(route)] = _plain(route)
                if plain:
                    # What Starlette's `request_response` does, without its layer for exception
                    # handlers (the app has none: web/app.py) and its wrapper of `send`.
                    response = await route.endpoint(Request(scope, receive, send))
                    await response(scope, receive, send)
                else:
                    await route.handle(scope, receive, send)
                return
        await super().app(scope, receive, send)


def _plain(route: Route) -> bool:
    """A route whose endpoint is an async function or method taking a `Request`: Starlette's
    `Route` wraps exactly those in `request_response` (a class is an ASGI app of its own, a
    plain function runs in a thread)."""
    endpoint = route.endpoint
    while isinstance(endpoint, functools.partial):
        endpoint = endpoint.func
    return ((inspect.isfunction(endpoint) or inspect.ismethod(endpoint))
            and is_async_callable(route.endpoint))
