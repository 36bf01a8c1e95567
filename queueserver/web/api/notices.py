"""Notices and closures (CONTRACT §10): the supervisor posts and removes the hall's notices and
closes and reopens issuing; whoever may see the board reads the notices."""

from __future__ import annotations

from typing import Annotated, Any

from msgspec import Meta
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from queueserver.auth.credentials import Action
from queueserver.notices import service
from queueserver.notices.models import Issuing, NoticeAnswer, NoticesAnswer
from queueserver.notices.service import MAX_TEXT
from queueserver.queue.models import Notice
from queueserver.web.api.base import MAX_STRING, Body, Call, Post, Read, Text, authorize

C = "/api/v1/centres/{centre}"

# CONTRACT §10: each text 1–280 characters (more than MAX_STRING, the other bodies' limit).
NoticeText = Annotated[str, Meta(max_length=MAX_TEXT, pattern=r"\S")]
OptionalText = Annotated[str, Meta(max_length=MAX_TEXT)]
assert MAX_TEXT > MAX_STRING


class NoticeBody(Body, frozen=True):
    text_en: NoticeText
    text_zh: NoticeText
    # ISO 8601, a time still to come (the centre's local time without a zone); null: no end.
    until: Text | None = None
    # Said aloud on the hall displays too.
    announce: bool | None = None


class IssuingBody(Body, frozen=True):
    open: bool
    # Closing needs both: the notice posted, and what check-in answers with.
    text_en: OptionalText | None = None
    text_zh: OptionalText | None = None
    announce: bool | None = None


async def post(call: Call[NoticeBody]) -> Notice:
    b = call.body
    return await service.post(call.centres, call.centre, b.text_en, b.text_zh, b.until or None,
                              bool(b.announce), call.credential.id, call.idem)


async def issuing(call: Call[IssuingBody]) -> Issuing:
    b = call.body
    return await service.set_issuing(call.centres, call.centre, b.open, b.text_en or None,
                                     b.text_zh or None, bool(b.announce), call.credential.id,
                                     call.idem)


POSTS: list[Post[Any]] = [
    Post(C + "/notices", Action.NOTICES, post, NoticeBody, NoticeAnswer, status=201,
         wrap="notice"),
    Post(C + "/issuing", Action.NOTICES, issuing, IssuingBody, Issuing, wrap=None),
]


async def listed(request: Request) -> NoticesAnswer:
    centre = request.path_params["centre"]
    await authorize(request, Action.BOARD, centre)
    return NoticesAnswer(await service.current(request.state.centres, centre))


async def remove(request: Request) -> Response:
    centre = request.path_params["centre"]
    credential = await authorize(request, Action.NOTICES, centre)
    await service.remove(request.state.centres, centre, request.path_params["id"],
                         credential.id)
    return Response(status_code=204)


routes: list[BaseRoute] = [
    *(p.route() for p in POSTS),
    Read(C + "/notices", listed, NoticesAnswer).route(),
    Route(C + "/notices/{id}", remove, methods=["DELETE"]),
]
