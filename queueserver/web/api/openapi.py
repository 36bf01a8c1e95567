"""`GET /openapi.json` (CONTRACT §5): an OpenAPI 3.1 document of every route, built from the
routes themselves so it cannot fall behind them. A `Post` names its body's model and its
answer's, a `Read` its answer's (and its body's, for a look-up by POST): their JSON Schemas,
generated from the models by msgspec, are the document's components. The live events'
messages are components too, named for the socket under `x-websockets`.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from msgspec import Struct
from starlette.requests import Request
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute

from queueserver.auth import users
from queueserver.follow.models import FollowMessage
from queueserver.live.models import MESSAGES
from queueserver.platform.errors import Answer
from queueserver.web.api.base import Post, Read
from queueserver.web.api.follow import FOLLOW_SOCKET

ERROR = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["code", "message_en", "message_zh"],
    "properties": {"code": {"type": "string"}, "message_en": {"type": "string"},
                   "message_zh": {"type": "string"}}}}}
LOGIN_FORM = {"type": "object", "required": ["username", "password", "csrf_token"],
              "properties": {n: {"type": "string"}
                             for n in ("username", "password", "csrf_token", "next")}}
PARAM = re.compile(r"{(\w+)(?::(\w+))?}")
REF = "#/components/schemas/{name}"
NO_CONTENT = 204


class Document(Answer, frozen=True):
    """This document: an OpenAPI 3.1 description of every route."""

    openapi: str
    info: dict[str, str]
    components: dict[str, Any]
    security: list[dict[str, list[str]]]
    paths: dict[str, Any]
    websockets: list[str] = msgspec.field(name="x-websockets")
    # The messages each socket sends, one of them told apart by its `type`.
    websocket_messages: dict[str, Any] = msgspec.field(name="x-websocket-messages")


def _media(path: str) -> str:
    if path.endswith(".wav"):
        return "audio/wav"
    if path.endswith(".svg"):
        return "image/svg+xml"
    if path.endswith(".csv"):
        return "text/csv"
    if path == "/metrics":
        return "text/plain"
    if path.startswith(("/api/", "/healthz", "/openapi")) and not path.endswith("/slip"):
        return "application/json"
    return "text/html"


def _declared(endpoint: Any) -> Post[Any] | Read[Any] | None:
    owner = getattr(endpoint, "__self__", None)
    return owner if isinstance(owner, Post | Read) else None


def _models(routes: list[BaseRoute]) -> list[type[Struct]]:
    """Every model a route names, and the sockets' messages."""
    found: dict[type[Struct], None] = {}
    for route in routes:
        declared = _declared(getattr(route, "endpoint", None))
        if isinstance(declared, Post):
            found.update({declared.body: None, declared.answer: None})
        elif isinstance(declared, Read):
            found.update({declared.answer: None, **({declared.body: None}
                                                    if declared.body else {})})
    return [*found, *MESSAGES, FollowMessage]


def _loosened(schema: Any) -> Any:
    """Answers may gain fields (CONTRACT: "extend them freely"), so no schema forbids more,
    though the server reads a script's answer strictly into its model."""
    if isinstance(schema, dict):
        return {k: _loosened(v) for k, v in schema.items()
                if not (k == "additionalProperties" and v is False)}
    if isinstance(schema, list):
        return [_loosened(v) for v in schema]
    return schema


def _required(model: type[Struct]) -> bool:
    return any(f.required for f in msgspec.structs.fields(model))


def _operation(path: str, endpoint: Any, refs: dict[type[Struct], Any]) -> dict[str, Any]:
    params = [{"name": name, "in": "path", "required": True,
               "schema": {"type": "integer"} if kind == "int" else {"type": "string"}}
              for name, kind in PARAM.findall(path)]
    declared = _declared(endpoint)
    media = _media(path)
    answers: dict[str, Any] = {}
    if declared is None:
        answers["200"] = {"description": "done", "content": {media: {"schema": {
            "type": "object"} if media == "application/json" else {"type": "string"}}}}
    else:
        statuses = (declared.status,) if isinstance(declared, Post) else declared.statuses
        for status in statuses:
            if status == NO_CONTENT:
                answers[str(status)] = {"description": "done, nothing to answer"}
                continue
            answers[str(status)] = {"description": declared.answer.__doc__ or "done",
                                    "content": {media: {"schema": refs[declared.answer]}}}
    answers["default"] = {"description": "an error in the contract's shape",
                          "content": {"application/json": {"schema": ERROR}}}
    op: dict[str, Any] = {"parameters": params, "responses": answers}
    body = declared.body if declared is not None else None
    if body is not None:
        op["requestBody"] = {"required": _required(body),
                             "content": {"application/json": {"schema": refs[body]}}}
    elif path == "/login":
        op["requestBody"] = {"required": True, "content": {
            "application/x-www-form-urlencoded": {"schema": LOGIN_FORM}}}
    return op


def document(routes: list[BaseRoute]) -> Document:
    models = _models(routes)
    schemas, components = msgspec.json.schema_components(models, ref_template=REF)
    refs = dict(zip(models, schemas, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    sockets = []
    for route in routes:
        if isinstance(route, WebSocketRoute):
            sockets.append(route.path)
        elif isinstance(route, Mount):
            path = route.path + "/{file}"
            paths.setdefault(path, {})["get"] = _operation(path, None, refs)
        elif isinstance(route, Route):
            path = PARAM.sub(lambda m: "{" + m.group(1) + "}", route.path)
            for method in sorted(route.methods or ()):
                if method != "HEAD":
                    op = _operation(route.path, route.endpoint, refs)
                    if method == "DELETE":  # done, with nothing to say (a notice's removal)
                        op["responses"].pop("200", None)
                        op["responses"] = {"204": {"description": "done"}, **op["responses"]}
                    paths.setdefault(path, {})[method.lower()] = op
    messages = {"oneOf": [refs[m] for m in MESSAGES],
                "discriminator": {"propertyName": "type"}}
    # A phone's follow socket sends one message of its own (CONTRACT §9), not the events.
    by_socket = {path: refs[FollowMessage] if path == FOLLOW_SOCKET else messages
                 for path in sockets}
    return Document(
        openapi="3.1.0",
        info={"title": "queueserver", "version": "1"},
        components={"schemas": _loosened(components), "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "token": {"type": "apiKey", "in": "query", "name": "token"},
            "session": {"type": "apiKey", "in": "cookie", "name": users.COOKIE}}},
        security=[{"bearer": []}, {"token": []}, {"session": []}],
        paths=paths,
        websockets=sockets,
        websocket_messages=by_socket,
    )


async def openapi(request: Request) -> Document:
    return document(list(request.app.routes))


routes: list[BaseRoute] = [Read("/openapi.json", openapi, Document).route()]
