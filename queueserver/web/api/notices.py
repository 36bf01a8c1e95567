"""Notices and closures (CONTRACT §10): the supervisor posts and removes the hall's notices and
closes and reopens issuing; whoever may see the board reads the notices."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from queueserver.auth.credentials import Action
from queueserver.notices import service
from queueserver.notices.service import MAX_TEXT
from queueserver.web.api.base import Call, Field, Post, authorize

C = "/api/v1/centres/{centre}"

TEXTS = {"text_en": Field(str, max_length=MAX_TEXT), "text_zh": Field(str, max_length=MAX_TEXT)}


async def post(call: Call) -> Any:
    b = call.body
    return await service.post(call.centres, call.centre, b["text_en"], b["text_zh"],
                              b.get("until"), bool(b.get("announce")), call.credential.id,
                              call.idem)


async def issuing(call: Call) -> Any:
    b = call.body
    return await service.set_issuing(call.centres, call.centre, b["open"], b.get("text_en"),
                                     b.get("text_zh"), bool(b.get("announce")),
                                     call.credential.id, call.idem)


POSTS = [
    Post(C + "/notices", Action.NOTICES, post, {
        **TEXTS, "until": Field(str, required=False), "announce": Field(bool, required=False),
    }, status=201, wrap="notice"),
    Post(C + "/issuing", Action.NOTICES, issuing, {
        "open": Field(bool),
        "text_en": Field(str, required=False, max_length=MAX_TEXT),
        "text_zh": Field(str, required=False, max_length=MAX_TEXT),
        "announce": Field(bool, required=False),
    }, wrap=None),
]


async def listed(request: Request) -> JSONResponse:
    centre = request.path_params["centre"]
    await authorize(request, Action.BOARD, centre)
    current = await service.current(request.state.centres, centre)
    return JSONResponse({"notices": current["notices"]})


async def remove(request: Request) -> Response:
    centre = request.path_params["centre"]
    credential = await authorize(request, Action.NOTICES, centre)
    await service.remove(request.state.centres, centre, request.path_params["id"],
                         credential.id)
    return Response(status_code=204)


routes: list[BaseRoute] = [
    *(p.route() for p in POSTS),
    Route(C + "/notices", listed, methods=["GET"]),
    Route(C + "/notices/{id}", remove, methods=["DELETE"]),
]
