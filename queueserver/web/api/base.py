"""How every API route is declared and run: the body, the credential, the role and centre, then
the operation, in the contract's order (CONTRACT §5), with `Idempotency-Key` for every POST."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from queueserver.auth import ratelimit, users
from queueserver.auth.credentials import Action, Credential, hash_token, lookup_token_async
from queueserver.platform.errors import ApiError
from queueserver.queue.tickets import Centres, Idem
from queueserver.store import keys
from queueserver.store.lua import decode

MAX_BODY_BYTES = 64 * 1024
# A claimed key whose request died before answering frees itself after this long.
IN_PROGRESS_TTL_S = 60
IDEMPOTENCY_TTL_S = 24 * 3600
MAX_STRING = 256
# No route reads below the top-level object's values; a deeper body is an attack on a parser.
MAX_DEPTH = 8
# The largest integer every JSON reader (and Lua's doubles) holds exactly.
MAX_INT = 2**53 - 1
# Staff pages send their session's CSRF token in this header with every state-changing call.
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def error_response(error: ApiError) -> JSONResponse:
    retry_after = getattr(error, "retry_after", None)
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    return JSONResponse(error.body(), status_code=error.status, headers=headers)


@dataclass(frozen=True)
class Field:
    kind: type | tuple[type, ...]
    required: bool = True
    choices: tuple[str, ...] = ()


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _depth(value: Any) -> int:
    """How deeply a parsed body nests, without recursion (a deep one must not overflow here)."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, level = todo.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level <= MAX_DEPTH:
                todo.extend((v, level + 1) for v in
                            (item.values() if isinstance(item, dict) else item))
    return deepest


def parse_body(raw: bytes, fields: dict[str, Field]) -> dict[str, Any]:
    if not raw.strip():
        body: Any = {}
    else:
        try:
            body = json.loads(raw, parse_constant=_no_constant)
        except (ValueError, RecursionError):
            raise ApiError("bad_request", message_en="The body is not valid JSON.") from None
        if _depth(body) > MAX_DEPTH:
            raise ApiError("bad_request", message_en="The body is nested too deeply.")
    if not isinstance(body, dict):
        raise ApiError("bad_request", message_en="The body must be a JSON object.")
    out: dict[str, Any] = {}
    for name, spec in fields.items():
        value = body.get(name)
        if value is None:
            if spec.required:
                raise ApiError("bad_request", message_en=f"Missing field {name!r}.")
            continue
        kinds = spec.kind if isinstance(spec.kind, tuple) else (spec.kind,)
        if isinstance(value, bool) and bool not in kinds:
            raise ApiError("bad_request", message_en=f"Field {name!r} has the wrong type.")
        if not isinstance(value, kinds):
            raise ApiError("bad_request", message_en=f"Field {name!r} has the wrong type.")
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
            raise ApiError("bad_request", message_en=f"Field {name!r} is out of range.")
        if isinstance(value, str):
            value = value.strip()
            if spec.required and not value:
                raise ApiError("bad_request", message_en=f"Field {name!r} is empty.")
            if len(value) > MAX_STRING:
                raise ApiError("bad_request", message_en=f"Field {name!r} is too long.")
        if spec.choices and value not in spec.choices:
            raise ApiError("bad_request", message_en=f"Field {name!r} must be one of "
                                                     f"{', '.join(spec.choices)}.")
        out[name] = value
    return out


def bearer(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return conn.query_params.get("token") or None


def credential_key(conn: HTTPConnection) -> str | None:
    """The Redis key whose existence keeps this request's credential valid (a token, else the
    session of the cookie): open sockets re-check it so a revoked one closes within seconds."""
    token = bearer(conn)
    if token:
        return keys.token(hash_token(token))
    return users.session_key(conn.state.centres.secret, conn.cookies.get(users.COOKIE))


async def _session(conn: HTTPConnection) -> Credential | None:
    """A staff browser's session cookie, which counts like a token; a state-changing HTTP
    request must also carry the session's CSRF token."""
    session = await users.lookup_session(conn.state.redis, conn.state.centres.secret,
                                         conn.cookies.get(users.COOKIE))
    if session is None:
        return None
    if conn.scope["type"] == "http" and conn.scope["method"] not in SAFE_METHODS:
        sent = conn.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
            raise ApiError("csrf_failed")
    return session.credential


async def authorize(conn: HTTPConnection, action: Action, centre: str | None = None,
                    counter: int | None = None) -> Credential:
    """The one check of who may do what, for HTTP and WebSocket alike: a bearer token (or
    `?token=`), else a staff session cookie."""
    token = bearer(conn)
    if token:
        cred = await lookup_token_async(conn.state.redis, token)
    else:
        cred = await _session(conn)
    if cred is None:
        raise ApiError("unauthenticated")
    await ratelimit.take(conn.state.centres.scripts, cred)
    if not cred.allows(action, centre, counter):
        raise ApiError("forbidden")
    return cred


@dataclass
class Call:
    """What an operation gets: the parsed body, the path's centre and counter, who acts."""

    centres: Centres
    centre: str
    counter: int | None
    body: dict[str, Any]
    params: dict[str, str]
    credential: Credential
    idem: Idem | None


Run = Callable[[Call], Awaitable[Any]]
Check = Callable[[Call], None]


@dataclass(frozen=True)
class Post:
    """A state-changing route: body, credential, role and centre, then the operation, whose
    answer is `{wrap: result}` (or the result itself) with `status`."""

    path: str
    action: Action
    run: Run
    fields: dict[str, Field] = field(default_factory=dict)
    status: int = 200
    wrap: str | None = "ticket"
    check: Check | None = None  # extra permission checks that need the body

    def render(self, result: Any) -> JSONResponse:
        body = {self.wrap: result} if self.wrap else result
        return JSONResponse(body, status_code=self.status)

    def route(self) -> Route:
        return Route(self.path, self.handle, methods=["POST"])

    async def handle(self, request: Request) -> Response:
        raw = await request.body()
        body = parse_body(raw, self.fields)
        centre = request.path_params.get("centre", "")
        counter = request.path_params.get("n")
        cred = await authorize(request, self.action, centre or None, counter)
        call = Call(request.state.centres, centre, counter, body,
                    dict(request.path_params), cred, None)
        if self.check:
            self.check(call)
        key = request.headers.get("idempotency-key")
        if not key:
            return self.render(await self.run(call))
        return await self._idempotent(request, call, key, raw)

    async def _idempotent(self, request: Request, call: Call, key: str, raw: bytes) -> Response:
        r = request.state.redis
        digest = hashlib.sha256(
            f"{call.credential.id}\n{request.method}\n{request.url.path}\n{key}".encode()
        ).hexdigest()
        idem_key = (keys.idempotency(call.centre, digest) if call.centre
                    else keys.idempotency_global(digest))
        fp = hashlib.sha256(raw).hexdigest()
        claim = json.dumps({"state": "in_progress", "fp": fp})
        if not await r.set(idem_key, claim, nx=True, ex=IN_PROGRESS_TTL_S):
            stored = json.loads(await r.get(idem_key) or "null")
            if stored is None:
                raise ApiError("in_progress")
            if stored["fp"] != fp:
                raise ApiError("idempotency_mismatch")
            if stored["state"] == "in_progress":
                raise ApiError("in_progress")
            if "response" in stored:
                return JSONResponse(stored["response"]["body"],
                                    status_code=stored["response"]["status"])
            return self.render(decode(stored["result"]))
        call.idem = Idem(idem_key, fp, call.centre or None)

        async def keep(status: int, body: Any) -> None:
            # A script keeps its own answer with its change; what no script kept is kept here.
            current = json.loads(await r.get(idem_key) or "null")
            if current is None or current.get("state") == "in_progress":
                done = {"state": "done", "fp": fp, "response": {"status": status, "body": body}}
                await r.set(idem_key, json.dumps(done), ex=IDEMPOTENCY_TTL_S)

        try:
            response = self.render(await self.run(call))
        except ApiError as e:
            if e.status < 500:
                await keep(e.status, e.body())
            else:
                await r.delete(idem_key)
            raise
        except BaseException:
            await r.delete(idem_key)
            raise
        await keep(response.status_code, json.loads(bytes(response.body)))
        return response
