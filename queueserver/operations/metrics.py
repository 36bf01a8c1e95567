"""`/metrics` in the Prometheus text format, and the middleware that measures every request.

Counted in each process: requests by route and status with latency histograms, screens connected
by role, events fanned out and the fan-out lag, Redis errors. With `serve --workers N` each
process writes its figures to `PROMETHEUS_MULTIPROC_DIR` (set by `serve`) and any one of them
answers for all. Read from Redis at each scrape, so every process answers the same: tickets
waiting per service, and events appended to each centre's stream.
"""

from __future__ import annotations

import logging
import os
import random
import re
import time
from collections.abc import Iterable
from typing import Any

import prometheus_client
import redis
import redis.asyncio
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from queueserver.auth.credentials import hash_token
from queueserver.platform.logs import REQUEST_ID
from queueserver.store import keys

log = logging.getLogger("queueserver.requests")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Latency buckets (seconds): a Lua-backed call answers in a few ms; a page or a CSV in tens.
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# Fan-out lag buckets (seconds): a screen's call should show within a fraction of a second.
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)

REQUESTS = Counter("queueserver_http_requests_total", "HTTP requests answered",
                   ["route", "method", "status"])
LATENCY = Histogram("queueserver_http_request_duration_seconds",
                    "Time to answer an HTTP request", ["route", "method"],
                    buckets=LATENCY_BUCKETS)
SCREENS = Gauge("queueserver_screens_connected", "WebSockets open, by the credential's role",
                ["role"], multiprocess_mode="livesum")
FANNED_OUT = Counter("queueserver_events_fanned_out_total",
                     "Events handed to sockets' queues (one per event and socket)")
FANOUT_LAG = Histogram("queueserver_event_fanout_lag_seconds",
                       "From an event's append to its hand-over to this process's sockets",
                       buckets=LAG_BUCKETS)
PHONE_LAG = Histogram("queueserver_phone_update_lag_seconds",
                      "From an event's append to the follow message it changed leaving for a phone",
                      buckets=LAG_BUCKETS)
# A caller's own request id is kept when it looks like one; otherwise a new one is made.
REQUEST_ID_FORMAT = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
FOLLOW_SOCKETS = "/ws/follow/"
# Probes are asked every few seconds: their lines would drown the rest.
QUIET_ROUTES = frozenset({"/healthz", "/metrics"})
UNAVAILABLE = 503
REDIS_ERRORS = Counter("queueserver_redis_errors_total", "Redis could not be reached",
                       ["where"])


def observe_fanout(event_id: str, sockets: int) -> None:
    """One event handed to `sockets` queues; its id carries the append time (Redis's ms)."""
    FANNED_OUT.inc(sockets)
    appended_ms = int(event_id.split("-", 1)[0])
    FANOUT_LAG.observe(max(0.0, time.time() - appended_ms / 1000))


def request_id(scope: Scope) -> str:
    """The caller's `X-Request-ID` when it looks like one, else a new one."""
    sent = dict(scope.get("headers", [])).get(b"x-request-id", b"").decode("latin-1")
    # Not a secret, only unlikely to repeat: no system call for randomness a request (random
    # is seeded again in each forked worker).
    return sent if REQUEST_ID_FORMAT.match(sent) else f"{random.getrandbits(64):016x}"


# Each route, method and status's counter and histogram, found once (`labels` takes a lock and
# builds its key on every call); routes are templates, so there are a few hundred at most.
_COUNTED: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def observe_http(scope: Scope, status: int, elapsed: float, request_id: str) -> None:
    """An HTTP answer counted, timed and logged by its route's template (never the raw path,
    which holds ticket and receipt numbers), under its request id (web/middleware.py, which
    echoes it in `X-Request-ID`)."""
    if status == UNAVAILABLE:
        # The only 503s: the answer to an unreachable Redis, and /healthz's.
        REDIS_ERRORS.labels("http").inc()
    route = getattr(scope.get("route"), "path", None) or "unmatched"
    method = scope.get("method", "")
    counted = _COUNTED.get((route, method, status))
    if counted is None:
        counted = _COUNTED[route, method, status] = (
            REQUESTS.labels(route, method, str(status)), LATENCY.labels(route, method))
    counted[0].inc()
    counted[1].observe(elapsed)
    log.log(logging.DEBUG if route in QUIET_ROUTES else logging.INFO, "request",
            extra={"method": method, "route": route, "status": status,
                   "duration_ms": round(elapsed * 1000, 1), "request_id": request_id})


class Observe:
    """Plain ASGI for WebSockets: each socket counted while open by its credential's role, its
    opening and closing logged under a request id (HTTP requests: observe_http)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        token = REQUEST_ID.set(request_id(scope))
        try:
            await self._socket(scope, receive, send)
        finally:
            REQUEST_ID.reset(token)

    async def _socket(self, scope: Scope, receive: Receive, send: Send) -> None:
        role: str | None = None
        started = time.perf_counter()

        async def tracking(message: Message) -> None:
            nonlocal role
            if message["type"] == "websocket.accept" and role is None:
                role = await _role(scope)
                SCREENS.labels(role).inc()
                log.info("socket opened", extra={"role": role})
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        finally:
            if role is not None:
                SCREENS.labels(role).dec()
                log.info("socket closed", extra={
                    "role": role, "duration_s": round(time.perf_counter() - started, 1)})


async def _role(scope: Scope) -> str:
    """The accepted socket's role, from its token (sessions are staff: counted as `staff`); a
    follow page's socket is a `phone` (its token is in the path, and never read here)."""
    if str(scope.get("path", "")).startswith(FOLLOW_SOCKETS):
        return "phone"
    conn = Request({**scope, "type": "http"})
    header = conn.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else None
    token = token or conn.query_params.get("token")
    r: redis.asyncio.Redis | None = scope.get("state", {}).get("redis")
    if not token or r is None:
        return "staff"
    role = await r.hget(keys.token(hash_token(token)), "role")
    return str(role or "unknown")


class _FromRedis(Collector):
    """Figures read from Redis just before the scrape (Redis is the same for every process)."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


async def _redis_families(request: Request) -> list[Metric]:
    config = request.state.centres.config
    today = request.state.centres.clock.today()
    waiting = GaugeMetricFamily("queueserver_tickets_waiting", "Tickets waiting now",
                                labels=["centre", "service"])
    appended = CounterMetricFamily("queueserver_events_appended",
                                   "Events appended to the centre's stream since it began",
                                   labels=["centre"])
    # The booking platform's emails, counted by the worker that sent or gave up on each.
    emails = CounterMetricFamily("queueserver_emails", "Emails of the booking platform sent, "
                                 "and given up after an hour of retries ('failed')",
                                 labels=["kind", "outcome"])
    messages = CounterMetricFamily(
        "queueserver_text_messages", "Text messages to phones (CONTRACT §9), by outcome: sent, "
        "given_up (10 minutes of failures), dropped (the day ended first)", labels=["outcome"])
    pending = GaugeMetricFamily("queueserver_text_messages_pending",
                                "Text messages made and not yet sent or given up",
                                labels=["centre"])
    r: redis.asyncio.Redis = request.state.redis
    try:
        texts: dict[str, str] = await r.hgetall(keys.notify_counts())  # type: ignore[assignment]
        for outcome in ("sent", "given_up", "dropped"):
            messages.add_metric([outcome], int(texts.get(outcome, 0)))
        counts: Any = await r.hgetall(keys.mail_counts())
        for name, value in sorted(counts.items()):
            outcome, _, kind = name.partition(":")
            emails.add_metric([kind, outcome], int(value))
        for centre in config.centres:
            pending.add_metric([centre.id], await r.zcard(keys.notify_pending(centre.id)))
            for service in centre.services:
                count = await r.zcard(keys.queue(centre.id, today, service.code))
                waiting.add_metric([centre.id, service.code], count)
            try:
                info: dict[str, Any] = await r.xinfo_stream(keys.events(centre.id))
                appended.add_metric([centre.id], int(info.get("entries-added", 0)))
            except redis.ResponseError:  # no stream yet
                appended.add_metric([centre.id], 0)
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        REDIS_ERRORS.labels("metrics").inc()
        return []
    return [waiting, appended, emails, messages, pending]


async def endpoint(request: Request) -> Response:
    """No credential, as /healthz: it holds counts only, never personal data."""
    families = await _redis_families(request)
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        body = prometheus_client.generate_latest(registry)
    else:
        body = prometheus_client.generate_latest(prometheus_client.REGISTRY)
    extra = CollectorRegistry()
    extra.register(_FromRedis(families))
    body += prometheus_client.generate_latest(extra)
    return Response(body, media_type=prometheus_client.CONTENT_TYPE_LATEST)
