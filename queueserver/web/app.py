"""The web application, declared as data: routes, middleware and a lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
from collections.abc import AsyncIterator
from typing import Any, Literal, TypedDict

import redis.asyncio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketClose

from queueserver.appointments.service import Appointments
from queueserver.auth.credentials import CredentialCache
from queueserver.follow.fanout import Phones
from queueserver.follow.service import Follow
from queueserver.live.events import Hub
from queueserver.notices import expiry
from queueserver.operations import metrics
from queueserver.platform import config as config_mod
from queueserver.platform import connections, runtime
from queueserver.platform.clock import Clock, from_environment
from queueserver.platform.errors import Answer
from queueserver.queue.tickets import Centres
from queueserver.sounds.announcer import Announcer
from queueserver.store.multiplexed import Multiplexed
from queueserver.web.api import (
    appointments,
    audit,
    collection,
    events,
    follow,
    login,
    notices,
    openapi,
    operations,
    pages,
    printing,
    privacy,
    queue,
    service,
    sounds,
    staff,
)
from queueserver.web.api import bookings as booking_routes
from queueserver.web.api.base import Read, reply
from queueserver.web.middleware import Edge
from queueserver.web.routing import OneMatch

# Requests beyond this many at once wait for a connection instead of failing: Redis answers
# each script in well under a millisecond, so a short queue beats a thousand sockets.
REDIS_POOL_SIZE = 64
REDIS_POOL_WAIT_S = 10.0


class State(TypedDict):
    redis: redis.asyncio.Redis
    centres: Centres
    hub: Hub
    follow: Follow
    phones: Phones
    appointments: Appointments
    credentials: CredentialCache


class Health(Answer, frozen=True):
    """`ok`, or `unavailable` (with 503) when Redis cannot be reached."""

    status: Literal["ok", "unavailable"]


async def healthz(request: Request) -> Health | Response:
    try:
        await connections.check(request.state.redis)
    except connections.UNAVAILABLE:
        return reply(Health, Health("unavailable"), status=503)
    return Health("ok")


class App(Starlette):
    """The application. A WebSocket goes from the metrics straight to its route: the other
    layers act on HTTP only, and each would stay on the socket's stack for as long as it is
    open (a display's is open all day, and a hall has a thousand)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # The same routes, found with one pattern (web/routing.py).
        self.router = OneMatch(self.router.routes, lifespan=self.router.lifespan_context)
        self._sockets = metrics.Observe(self._socket)

    def build_middleware_stack(self) -> ASGIApp:
        """Our layers around the router, without Starlette's two error layers: `Edge` answers
        every error in the contract's shape itself (an `HTTPException` of the router's, a 404 or
        405, included), so theirs would only add a wrapper of `send` and a `Request` to every
        request (py-spy, docs/benchmarks.md)."""
        app: ASGIApp = self.router
        for cls, args, kwargs in reversed(self.user_middleware):
            app = cls(app, *args, **kwargs)
        return app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self
        await self._sockets(scope, receive, send)

    async def _socket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The socket's route, called with no layer of the router's around it."""
        for route in self.router.routes:
            if isinstance(route, WebSocketRoute):
                match, child = route.matches(scope)
                if match is Match.FULL:
                    scope.update(child)
                    await route.endpoint(WebSocket(scope, receive, send))
                    return
        await WebSocketClose()(scope, receive, send)


def create_app(config: config_mod.Config, redis_url: str, secret: bytes,
               clock: Clock | None = None) -> Starlette:
    the_clock = clock or from_environment(config.tz)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        # One Redis or a cluster, as the URL says (queueserver/platform/connections.py).
        r = connections.connect_async(redis_url, pool_size=REDIS_POOL_SIZE,
                                      pool_wait_s=REDIS_POOL_WAIT_S)
        hub = Hub(redis_url)
        announcer = Announcer(config, redis_url)
        await announcer.start()
        # The scripts of every request over one connection, where Redis is one server.
        shared = Multiplexed.of(r)
        centres = Centres(config, r, the_clock, secret, announcer, shared)
        appointments = Appointments(config, r, the_clock, secret, shared)
        phones = Phones(centres, hub)
        # Notices end by their `until` whoever runs: each web process sweeps, as workers do.
        sweeper = asyncio.create_task(expiry.run(centres), name="notice-expiry")
        credentials = CredentialCache([c.id for c in config.centres])
        with contextlib.suppress(*connections.UNAVAILABLE):
            await credentials.register(r)  # else before the first credential is kept
        # What start-up made lives as long as the process: the collector need not walk it
        # again each time it runs (with thousands of sockets, those walks were the tail's
        # pauses).
        gc.collect()
        gc.freeze()
        try:
            yield {"redis": r, "centres": centres, "hub": hub,
                   "appointments": appointments,
                   "follow": Follow(centres), "phones": phones,
                   "credentials": credentials}
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            await announcer.close()
            await phones.close()
            await hub.close()
            if shared is not None:
                await shared.aclose()
            await r.aclose()

    routes: list[Any] = [
        Read("/healthz", healthz, Health, statuses=(200, 503)).route(),
        *queue.routes,
        *booking_routes.routes,
        *appointments.routes,
        *sounds.routes,
        *events.routes,
        *follow.routes,
        *operations.routes,
        Route("/metrics", metrics.endpoint, methods=["GET"]),
        *service.routes,
        *notices.routes,
        *printing.routes,
        *collection.routes,
        *staff.routes,
        *audit.routes,
        *privacy.routes,
        *openapi.routes,
        *login.routes,
        *pages.routes,
    ]
    return App(
        routes=routes,
        # One layer: it times, counts and logs every answer, errors included (Edge).
        middleware=[Middleware(Edge)],
        lifespan=lifespan,
    )


def from_environment_app() -> Starlette:
    """For uvicorn's workers: everything from the environment the parent set up."""
    cfg = config_mod.load_default(os.environ.get("QUEUESERVER_CONFIG"))
    return create_app(cfg, runtime.redis_url(cfg), runtime.secret(cfg))
