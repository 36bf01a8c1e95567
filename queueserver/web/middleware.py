"""The one layer around every HTTP request, plain ASGI: its request id, time, count and log line
(operations/metrics.py), the security headers (web/headers.py), the body limit, and errors in
the contract's shape (the router's 404 and 405 too: Starlette's error layers are not used,
web/app.py).

One layer, not four: each layer was another call and another wrapper of `send` that every
answer's two messages passed through (py-spy, docs/benchmarks.md). The order is theirs as
separate layers: the count and the log line see every answer, errors included; the headers go
on every answer, refusals included.
"""

from __future__ import annotations

import logging
import time

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from queueserver.operations import metrics
from queueserver.platform import connections
from queueserver.platform.errors import ApiError
from queueserver.platform.logs import REQUEST_ID
from queueserver.web.api.base import MAX_BODY_BYTES, error_response
from queueserver.web.headers import with_security

log = logging.getLogger("queueserver")


# What the router's own refusals are called in the contract's shape.
HTTP_ERRORS = {404: "not_found", 405: "method_not_allowed"}


class BodyTooLarge(Exception):
    pass


class Edge:
    """Every HTTP request's way in and out (see the module's text). Anything else (the
    lifespan) passes through; WebSockets do not come here (web/app.py)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = metrics.request_id(scope)
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status = 0  # no answer begun
        path: str = scope["path"]

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": with_security(
                    message.get("headers", []), path, request_id)}
            await send(message)

        async def refuse(error: ApiError) -> None:
            if not status:  # else the answer has begun: nothing more can be said
                await error_response(error)(scope, receive, answer)

        try:
            length = dict(scope["headers"]).get(b"content-length")
            if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
                await refuse(ApiError("too_large"))
            else:
                await self.app(scope, _limited(receive), answer)
        except BodyTooLarge:
            await refuse(ApiError("too_large"))
        except ApiError as e:
            await refuse(e)
        except HTTPException as e:  # the router's: no route there, or not with that method
            await refuse(ApiError(HTTP_ERRORS.get(e.status_code, "bad_request"),
                                  status=e.status_code))
        except connections.UNAVAILABLE as e:
            log.warning("redis unreachable: %s", type(e).__name__)
            await refuse(ApiError("unavailable"))
        except Exception:
            # The route's name, never the raw path: a path may hold a receipt number.
            endpoint = scope.get("endpoint")
            log.exception("unhandled error on %s %s", scope.get("method"),
                          getattr(endpoint, "__qualname__", "an unmatched route"))
            await refuse(ApiError("internal", status=500, message_en="Internal error."))
        finally:
            # Cancelled before any answer (the client went away): counted as a 500.
            metrics.observe_http(scope, status or 500, time.perf_counter() - started,
                                 request_id)
            REQUEST_ID.reset(token)


def _limited(receive: Receive) -> Receive:
    """413 for a body that streams in past 64 KiB without a Content-Length saying so."""
    seen = 0

    async def limited() -> Message:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > MAX_BODY_BYTES:
            raise BodyTooLarge
        return message

    return limited
