"""Announcement audio under /sounds/: no credential, since a clip holds no personal data.

URL scheme: `/sounds/chime.wav` is the one clip named by what it is; every spoken clip lives at
`/sounds/clips/<name>.wav`, where the name lists the content names of the segments it is joined
from (sounds/segments.py), so its name changes whenever its content would and both can be cached
as immutable. Any web process answers any clip from Redis (sounds/announcer.py). Everything else
under /sounds/ is a 404 in the contract's shape.
"""

from __future__ import annotations

import hashlib

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from queueserver.platform.errors import ApiError
from queueserver.sounds.chime import chime_wav
from queueserver.sounds.clips import CHIME_PATH, CLIPS_PREFIX, PREFIX

AUDIO_TYPE = "audio/wav"
# Displays fetch each clip once and replay it from cache all day. A clip's bytes never change under
# its name; the chime changes only with a release, and then needs a new name to reach caches.
IMMUTABLE = "public, max-age=31536000, immutable"


def etag_of(body: bytes) -> str:
    """A strong validator: the clip's own content hash, stable across processes and machines."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _matches(if_none_match: str | None, etag: str) -> bool:
    # If-None-Match compares weakly (RFC 9110 §13.1.2), so a proxy's W/ prefix still counts.
    if if_none_match is None:
        return False
    tags = [t.strip() for t in if_none_match.split(",")]
    return "*" in tags or any(t.removeprefix("W/") == etag for t in tags)


def audio_response(request: Request, body: bytes) -> Response:
    """A clip with long cache headers, or 304 when the display already holds these bytes."""
    etag = etag_of(body)
    headers = {"ETag": etag, "Cache-Control": IMMUTABLE}
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=AUDIO_TYPE, headers=headers)


async def chime(request: Request) -> Response:
    return audio_response(request, chime_wav())


async def clip(request: Request) -> Response:
    centres = getattr(request.state, "centres", None)
    announcer = getattr(centres, "announcer", None)
    body = await announcer.clip(request.path_params["name"]) if announcer else None
    if body is None:
        return await unknown_sound(request)
    return audio_response(request, body)


async def unknown_sound(request: Request) -> Response:
    # Without this catch-all, Starlette's own plain-text 404 would answer, not the contract's.
    error = ApiError("not_found")
    return JSONResponse(error.body(), status_code=error.status)


# Order matters: the catch-all stays last, so routes added for clips must go before it.
routes: list[BaseRoute] = [
    Route(CHIME_PATH, chime, methods=["GET"]),
    Route(CLIPS_PREFIX + "{name}.wav", clip, methods=["GET"]),
    Route(PREFIX + "/{name:path}", unknown_sound, methods=["GET"]),
]
