"""How every API route is declared and run: the body, the credential, the role and centre, then
the operation, in the contract's order (CONTRACT §5), with `Idempotency-Key` for every POST."""

from __future__ import annotations

import functools
import hmac
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Annotated, Any, Generic, TypeVar, get_args, get_type_hints

import msgspec
from msgspec import Meta
from starlette.datastructures import URL
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Scope

from queueserver.auth import ratelimit, users
from queueserver.auth.credentials import (
    Action,
    Credential,
    CredentialCache,
    hash_token,
    lookup_token_async,
)
from queueserver.platform.errors import ApiError
from queueserver.queue.tickets import Centres
from queueserver.store import generation, idempotency, keys
from queueserver.store.idempotency import Idem
from queueserver.store.lua import decode

MAX_BODY_BYTES = 64 * 1024
MAX_STRING = 256
# No route reads below the top-level object's values; a deeper body is an attack on a parser.
MAX_DEPTH = 8
# The largest integer every JSON reader (and Lua's doubles) holds exactly.
MAX_INT = 2**53 - 1
# Staff pages send their session's CSRF token in this header with every state-changing call.
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TOO_MANY = 429


def error_response(error: ApiError) -> Response:
    """A refusal in the contract's shape, encoded by msgspec as every answer is (`reply`)."""
    retry_after = getattr(error, "retry_after", None)
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    return Response(msgspec.json.encode(error.body()), status_code=error.status,
                    media_type="application/json", headers=headers)


# A request body's text: at most MAX_STRING characters, surrounding spaces dropped once read.
Text = Annotated[str, Meta(max_length=MAX_STRING)]
# A required text must hold more than spaces.
Given = Annotated[str, Meta(max_length=MAX_STRING, pattern=r"\S")]
Whole = Annotated[int, Meta(ge=-MAX_INT, le=MAX_INT)]


# msgspec rather than pydantic: a sixth of the cost on the check-in path (docs/benchmarks.md).
class Body(msgspec.Struct, frozen=True):
    """A request body: a JSON object whose fields are typed here (a missing or null optional
    field is its default); fields the route does not read are ignored."""


class Empty(Body, frozen=True):
    """No fields: the route reads nothing from the body."""


B = TypeVar("B", bound=Body)
A = TypeVar("A", bound=msgspec.Struct)

# msgspec says "<why> - at `$.field`"; a problem with the whole body has no "at".
_FINDING = re.compile(r"(?s)(.*?)(?: - at `\$\.?(\w*)`)?")


def _wrong(error: msgspec.ValidationError, model: type[Body]) -> ApiError:
    """msgspec's finding, said as the contract's `bad_request`."""
    found = _FINDING.fullmatch(str(error))
    assert found is not None  # the pattern matches any text
    why, name = found.groups()
    if missing := re.match(r"Object missing required field `(\w+)`", why):
        return ApiError("bad_request", message_en=f"Missing field {missing.group(1)!r}.")
    if not name:
        return ApiError("bad_request", message_en="The body must be a JSON object.")
    if why.endswith("got `null`"):
        message = f"Missing field {name!r}."
    elif "matching regex" in why:
        message = f"Field {name!r} is empty."
    elif "of length <=" in why:
        message = f"Field {name!r} is too long."
    elif "<=" in why or ">=" in why:
        message = f"Field {name!r} is out of range."
    elif why.startswith("Invalid enum value"):
        kind = get_type_hints(model).get(name)
        choices = [str(c) for c in get_args(kind) or ()] or [c.value for c in kind or ()]
        message = f"Field {name!r} must be one of {', '.join(choices)}."
    else:
        message = f"Field {name!r} has the wrong type."
    return ApiError("bad_request", message_en=message)


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


def parse_body(raw: bytes, model: type[B]) -> B:
    """The body as its model, or 400 `bad_request` saying which field is wrong and how."""
    try:
        if raw.count(b"{") + raw.count(b"[") > MAX_DEPTH:
            # Deep enough to matter: the whole tree is needed to measure it.
            tree = msgspec.json.decode(raw)
            if _depth(tree) > MAX_DEPTH:
                raise ApiError("bad_request", message_en="The body is nested too deeply.")
            body = msgspec.convert(tree, model)
        else:
            body = msgspec.json.decode(raw if raw.strip() else b"{}", type=model)
    except msgspec.ValidationError as e:  # a kind of DecodeError: it comes first
        raise _wrong(e, model) from None
    except (msgspec.DecodeError, RecursionError):
        raise ApiError("bad_request", message_en="The body is not valid JSON.") from None
    stripped = {name: value.strip() for name in body.__struct_fields__
                if isinstance(value := getattr(body, name), str) and not isinstance(value, Enum)
                and value != value.strip()}
    return msgspec.structs.replace(body, **stripped) if stripped else body


def reply(model: type[msgspec.Struct], value: Any, status: int = 200,
          headers: Mapping[str, str] | None = None) -> Response:
    """An answer in its model's JSON. A plain value (a script's answer, a replayed one) is
    converted to the model first, so no answer leaves that is not its documented shape."""
    typed = (value if type(value) is model
             else msgspec.convert(value, model, from_attributes=True))
    return Response(msgspec.json.encode(typed), status_code=status,
                    media_type="application/json", headers=headers)


def bearer(conn: HTTPConnection, url_token: bool = False) -> str | None:
    """The token of `Authorization: Bearer`; else `?token=`, but only where CONTRACT §5 lets a
    device that cannot send headers put it in the URL: every WebSocket, and the pages that say
    so (`url_token`: the display and kiosk pages). Anywhere else a token in the URL is not
    looked at, so a link, a browser's history or a proxy's log cannot carry a staff credential
    that works on the API."""
    header = conn.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    if url_token or conn.scope["type"] == "websocket":
        return conn.query_params.get("token") or None
    return None


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


async def _token(conn: HTTPConnection, token: str, centre: str | None,
                 cached: bool) -> Credential | None:
    """A token's credential. `cached`: the request's work is one script of `centre`, which
    confirms the credential is still valid and takes the request from its rate-limit bucket
    (store/generation.py), so the process's kept one serves (CredentialCache); one read afresh
    is kept for the next request."""
    if not (cached and centre):
        return await lookup_token_async(conn.state.redis, token)
    kept: CredentialCache = conn.state.credentials
    found = kept.get(token, centre)
    if found is None:
        return await kept.read(conn.state.redis, token, centre)
    cred, seen = found
    # The script also takes the request from the credential's bucket (one round trip).
    generation.ACTING.set(generation.Acting(centre, seen, ratelimit.bucket(cred),
                                            ratelimit.RATE_PER_S, ratelimit.BURST))
    return cred


async def authorize(conn: HTTPConnection, action: Action, centre: str | None = None,
                    counter: int | None = None, url_token: bool = False,
                    cached: bool = False) -> Credential:
    """The one check of who may do what, for HTTP and WebSocket alike: a bearer token (or
    `?token=` where `bearer()` allows it), else a staff session cookie. `cached`: see _token."""
    generation.ACTING.set(None)
    token = bearer(conn, url_token)
    if token:
        cred = await _token(conn, token, centre, cached)
    else:
        cred = await _session(conn)
    if cred is None:
        raise ApiError("unauthenticated")
    if generation.ACTING.get() is None:
        await ratelimit.take(conn.state.centres.scripts, cred)
    if not cred.allows(action, centre, counter):
        raise ApiError("forbidden")
    return cred


@dataclass
class Call(Generic[B]):
    """What an operation gets: the parsed body, the path's centre and counter, who acts.

    An operation that acts on a person's booking names it in `bookings` ((centre, reference)
    pairs): the record its `Idempotency-Key` keeps is then erased with the person's data."""

    centres: Centres
    centre: str
    counter: int | None
    body: B
    params: dict[str, str]
    credential: Credential
    idem: Idem | None
    bookings: list[tuple[str, str]] = field(default_factory=list)
    # The request's scheme and host, for absolute URLs where the config sets no `public_url`.
    base_url: str = ""


def origin(scope: Scope) -> str:
    """The request's scheme and host (`scheme://netloc`) exactly as Starlette's `request.url`
    gives them, without making the whole URL for each request (a check-in asks twice)."""
    host = next((value for key, value in scope["headers"] if key == b"host"), None)
    server = scope.get("server")
    return _origin(scope.get("scheme", "http"), host, tuple(server) if server else None)


@functools.lru_cache(maxsize=256)  # bounded: a host header is whatever the client sends
def _origin(scheme: str, host: bytes | None, server: tuple[str, int] | None) -> str:
    url = URL(scope={"scheme": scheme, "server": server, "path": "/",
                     "headers": [(b"host", host)] if host is not None else []})
    return f"{url.scheme}://{url.netloc}"


# The form of an answer kept for a repeat, when the answer itself holds a secret.
Safe = Callable[[Any], Any]
# What an answer shows besides what is kept of it: the desk's TICKET gets its `follow_url`
# (CONTRACT §9), made again from the ticket for every answer that carries it — fresh, repeated
# for an Idempotency-Key, or in a refusal's `ticket` — and never kept with the answer.
Finish = Callable[[Request, Any], Awaitable[Any]]


@dataclass(frozen=True)
class Post(Generic[B]):
    """A state-changing route: body, credential, role and centre, then the operation, whose
    answer is `{wrap: result}` (or the result itself) as `answer`, with `status`.

    A repeat of its `Idempotency-Key` within 24 hours returns the first answer, which is kept
    for that: so a kept answer must hold no personal data and no secret. A route whose answer
    holds a secret gives `safe`, the form kept and returned to a repeat instead; a route whose
    answer is personal data sets `replay=False`: only the key's use is kept, and a repeat runs
    again on what is stored then (after an erasure, nothing)."""

    path: str
    action: Action
    run: Callable[[Call[B]], Awaitable[Any]]
    body: type[B]
    answer: type[msgspec.Struct]
    status: int = 200
    wrap: str | None = "ticket"
    check: Callable[[Call[B]], None] | None = None  # extra permission checks that need the body
    safe: Safe | None = None
    replay: bool = True
    finish: Finish | None = None
    # Its work is one script of the path's centre before anything else reads or changes a
    # thing: the process's kept credential serves (see _token).
    cached: bool = False

    def render(self, result: Any) -> Response:
        return reply(self.answer, {self.wrap: result} if self.wrap else result, self.status)

    async def _shown(self, request: Request, result: Any) -> Response:
        return self.render(await self.finish(request, result) if self.finish else result)

    def route(self) -> Route:
        return Route(self.path, self.handle, methods=["POST"])

    async def handle(self, request: Request) -> Response:
        if self.finish is None:
            return await self._fresh(request)
        try:
            return await self._fresh(request)
        except ApiError as e:
            if isinstance(e.extra.get("ticket"), dict):
                e.extra["ticket"] = msgspec.to_builtins(
                    await self.finish(request, e.extra["ticket"]))
            raise

    async def _fresh(self, request: Request) -> Response:
        """The request, run again from the start with its credential read afresh when its
        script found that a credential was revoked since the kept one was read (it changed
        nothing, and released the Idempotency-Key it claimed)."""
        if not self.cached:
            return await self._handle(request, False)
        try:
            return await self._handle(request, True)
        except generation.StaleCredential as e:
            request.state.credentials.stale(e.centre)
            generation.ACTING.set(None)
            return await self._handle(request, False)

    async def _handle(self, request: Request, cached: bool) -> Response:
        raw = await request.body()
        body = parse_body(raw, self.body)
        centre = request.path_params.get("centre", "")
        counter = request.path_params.get("n")
        cred = await authorize(request, self.action, centre or None, counter, cached=cached)
        call = Call(request.state.centres, centre, counter, body,
                    dict(request.path_params), cred, None,
                    base_url=origin(request.scope))
        if self.check:
            self.check(call)
        key = request.headers.get("idempotency-key")
        if not key:
            return await self._shown(request, await self.run(call))
        return await self._idempotent(request, call, key, raw)

    async def _idempotent(self, request: Request, call: Call[B], key: str,
                          raw: bytes) -> Response:
        r = request.state.redis
        record = idempotency.record_key(call.centre or None, call.credential.id, request.method,
                                        request.url.path, key)
        fp = idempotency.fingerprint(call.centres.secret, raw)
        stored = await idempotency.claim(r, record, fp)
        acting = generation.ACTING.get()
        if stored is not None and acting is not None:
            # A repeat is answered without its script: the kept credential is checked here.
            now = await r.get(keys.credential_generation(acting.centre))
            if str(now or "0") != acting.generation:
                raise generation.StaleCredential(acting.centre)
            await ratelimit.take(call.centres.scripts, call.credential)
        if stored is not None:
            if stored["fp"] != fp:
                raise ApiError("idempotency_mismatch")
            if stored["state"] == "in_progress":
                raise ApiError("in_progress")
            if "response" in stored:
                body = stored["response"]["body"]
                if self.finish and isinstance(body, dict) and isinstance(body.get("ticket"),
                                                                         dict):
                    body["ticket"] = msgspec.to_builtins(
                        await self.finish(request, body["ticket"]))
                return JSONResponse(body, status_code=stored["response"]["status"])
            if "result" in stored:
                return await self._shown(request, decode(stored["result"]))
            # Only the key's use was kept (replay=False): answer from what is stored now.
            return await self._shown(request, await self.run(call))
        call.idem = None if not self.replay else Idem(record, fp, call.centre or None)

        async def keep(status: int, body: Any) -> None:
            kept = {"status": status, "body": body} if self.replay else None
            await idempotency.keep_response(r, record, fp, kept)
            for centre, ref in call.bookings:
                await idempotency.index_booking(r, centre, ref, record)

        try:
            result = await self.run(call)
        except ApiError as e:
            # A 429 is about the moment, not the request: a repeat later must really run.
            if e.status < 500 and e.status != TOO_MANY:
                await keep(e.status, e.body())
            else:
                await idempotency.release(r, record)
            raise
        except BaseException:
            await idempotency.release(r, record)
            raise
        response = await self._shown(request, result)
        # What `finish` adds is made again for each answer, never kept.
        kept = (self.render(self.safe(result)) if self.safe
                else self.render(result) if self.finish else response)
        await keep(kept.status_code, json.loads(bytes(kept.body)))
        return response


@dataclass(frozen=True)
class Read(Generic[A]):
    """A route that reads: `read` answers an `answer` (or a whole `Response`, for an answer of
    another kind), sent as JSON with `headers`; `statuses` are those its answer may come with.
    It is a GET, or a POST of `body` when what it asks for must stay out of URLs and logs (an
    identity number); such a `read` parses the body with `parse_body(raw, body)` itself."""

    path: str
    read: Callable[[Request], Awaitable[A | Response]]
    answer: type[A]
    headers: Mapping[str, str] | None = None
    statuses: tuple[int, ...] = (200,)
    body: type[Body] | None = None
    # Another method than the above (a DELETE answered 204, with no body either way).
    method: str | None = None

    def route(self) -> Route:
        return Route(self.path, self.handle,
                     methods=[self.method or ("POST" if self.body else "GET")])

    async def handle(self, request: Request) -> Response:
        value = await self.read(request)
        if isinstance(value, Response):
            return value
        return reply(self.answer, value, headers=self.headers)
