"""`GET /openapi.json` (CONTRACT §5): an OpenAPI 3 document of every route, built from the routes
themselves so it cannot fall behind them — a `Post`'s body fields give its request schema."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute

from queueserver.auth import users
from queueserver.web.api.base import MAX_STRING, Field, Post
from queueserver.web.api.bookings import LOOKUP_FIELDS

ERROR = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["code", "message_en", "message_zh"],
    "properties": {"code": {"type": "string"}, "message_en": {"type": "string"},
                   "message_zh": {"type": "string"}}}}}
# Routes whose body is read without a `Post`: their fields, declared where they are parsed.
BODIES: dict[str, dict[str, Field]] = {"/api/v1/centres/{centre}/bookings/lookup": LOOKUP_FIELDS}
LOGIN_FORM = {"type": "object", "required": ["username", "password", "csrf_token"],
              "properties": {n: {"type": "string"}
                             for n in ("username", "password", "csrf_token", "next")}}
PARAM = re.compile(r"{(\w+)(?::(\w+))?}")


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


def _schema(spec: Field) -> dict[str, Any]:
    kinds = spec.kind if isinstance(spec.kind, tuple) else (spec.kind,)
    names = {str: "string", int: "integer", bool: "boolean", float: "number"}
    types = [names[k] for k in kinds if k in names]
    out: dict[str, Any] = {"type": types[0]} if len(types) == 1 else {
        "anyOf": [{"type": t} for t in types]}
    if str in kinds:
        out["maxLength"] = spec.max_length or MAX_STRING
    if spec.choices:
        out["enum"] = list(spec.choices)
    return out


def _body(fields: dict[str, Field]) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": {
        name: _schema(spec) for name, spec in fields.items()}}
    required = [name for name, spec in fields.items() if spec.required]
    if required:
        schema["required"] = required
    return {"required": bool(required),
            "content": {"application/json": {"schema": schema}}}


def _operation(path: str, method: str, endpoint: Any) -> dict[str, Any]:
    params = [{"name": name, "in": "path", "required": True,
               "schema": {"type": "integer"} if kind == "int" else {"type": "string"}}
              for name, kind in PARAM.findall(path)]
    post = getattr(endpoint, "__self__", None)
    status = str(post.status) if isinstance(post, Post) else "200"
    media = _media(path)
    ok: dict[str, Any] = {"description": "done"}
    if method == "delete":
        status = "204"  # done, with no body
    else:
        ok["content"] = {media: {"schema": {"type": "object"} if media == "application/json"
                                 else {"type": "string"}}}
    op: dict[str, Any] = {"parameters": params, "responses": {
        status: ok, "default": {"description": "an error in the contract's shape",
                                "content": {"application/json": {"schema": ERROR}}}}}
    if method == "post":
        if isinstance(post, Post):
            op["requestBody"] = _body(post.fields)
        elif path in BODIES:
            op["requestBody"] = _body(BODIES[path])
        elif path == "/login":
            op["requestBody"] = {"required": True, "content": {
                "application/x-www-form-urlencoded": {"schema": LOGIN_FORM}}}
    return op


def document(routes: list[BaseRoute]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    sockets = []
    for route in routes:
        if isinstance(route, WebSocketRoute):
            sockets.append(route.path)
        elif isinstance(route, Mount):
            path = route.path + "/{file}"
            paths.setdefault(path, {})["get"] = _operation(path, "get", None)
        elif isinstance(route, Route):
            path = PARAM.sub(lambda m: "{" + m.group(1) + "}", route.path)
            for method in sorted(route.methods or ()):
                if method != "HEAD":
                    op = _operation(route.path, method.lower(), route.endpoint)
                    paths.setdefault(path, {})[method.lower()] = op
    return {
        "openapi": "3.0.3",
        "info": {"title": "queueserver", "version": "1"},
        "components": {"securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "token": {"type": "apiKey", "in": "query", "name": "token"},
            "session": {"type": "apiKey", "in": "cookie", "name": users.COOKIE}}},
        "security": [{"bearer": []}, {"token": []}, {"session": []}],
        "paths": paths,
        "x-websockets": sockets,
    }


async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(document(list(request.app.routes)))


routes: list[BaseRoute] = [Route("/openapi.json", openapi, methods=["GET"])]
