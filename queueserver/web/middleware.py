"""Plain ASGI middleware: the body limit, and errors in the contract's shape."""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from queueserver.platform import connections
from queueserver.platform.errors import ApiError
from queueserver.web.api.base import MAX_BODY_BYTES, error_response

log = logging.getLogger("queueserver")


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    """413 for a body over 64 KiB, by its Content-Length or as it streams in."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            await error_response(ApiError("too_large"))(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > MAX_BODY_BYTES:
                raise BodyTooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except BodyTooLarge:
            await error_response(ApiError("too_large"))(scope, receive, send)


class Errors:
    """ApiError -> its answer; Redis down -> 503; anything else -> 500 without internals."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except ApiError as e:
            if not started:
                await error_response(e)(scope, receive, send)
        except connections.UNAVAILABLE as e:
            log.warning("redis unreachable: %s", type(e).__name__)
            if not started:
                await error_response(ApiError("unavailable"))(scope, receive, send)
        except Exception:
            # The route's name, never the raw path: a path may hold a receipt number.
            endpoint = scope.get("endpoint")
            log.exception("unhandled error on %s %s", scope.get("method"),
                          getattr(endpoint, "__qualname__", "an unmatched route"))
            if not started:
                await error_response(ApiError("internal", status=500,
                                              message_en="Internal error."))(
                    scope, receive, send)
