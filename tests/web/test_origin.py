"""`origin` (web/api/base.py): a request's scheme and host as Starlette's `request.url` gives
them, for the follow URLs a check-in answers with, made without the whole URL."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.requests import Request

from queueserver.web.api.base import origin

HOSTS: list[bytes | None] = [
    b"queue.example.hk", b"queue.example.hk:8443", b"127.0.0.1:8000", b"[::1]:8000", b"[::1]",
    b"bad host", b"x:99999", b"x:notaport", b"", None]
SERVERS: list[tuple[str, int] | None] = [("127.0.0.1", 8000), ("10.0.0.1", 80),
                                         ("10.0.0.1", 443), ("::1", 8080), None]


@pytest.mark.parametrize("scheme", ["http", "https", "ws", "wss"])
@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("server", SERVERS)
def test_origin_is_starlettes(scheme: str, host: bytes | None,
                              server: tuple[str, int] | None) -> None:
    scope: dict[str, Any] = {
        "type": "http", "scheme": scheme, "server": server, "path": "/api/v1/centres/x/tickets",
        "query_string": b"a=1",
        "headers": [(b"accept", b"*/*"), *([(b"host", host)] if host is not None else [])]}
    url = Request(scope).url
    assert origin(scope) == f"{url.scheme}://{url.netloc}"
