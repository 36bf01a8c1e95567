"""What the staff screens read and the supervisor manages: logins and device tokens (created and
revoked from `/admin`), a centre's live overview, and the booking behind a called ticket.

A supervisor manages the logins and tokens of their own centre only; an admin's, and admin
logins, only an admin.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from queueserver.auth import users
from queueserver.auth.credentials import (
    Action,
    Credential,
    Role,
    TokenError,
    create_token_async,
    revoke_token_async,
)
from queueserver.platform.config import SURRENDER_TYPES
from queueserver.platform.errors import ApiError
from queueserver.rules import identity
from queueserver.store import keys
from queueserver.web.api.base import Call, Field, Post, authorize

ROLES = tuple(r.value for r in Role)


def _may_manage(cred: Credential, centre: str | None) -> bool:
    if cred.role is Role.ADMIN:
        return True
    return centre is not None and cred.allows(Action.MANAGE, centre)


def _target(call: Call) -> None:
    """The body names whom the new login or token is for: that centre must be the caller's."""
    body = call.body
    centre = body.get("centre") or None
    if centre is not None and call.centres.config.centre(centre) is None:
        raise ApiError("not_found", message_en=f"Unknown centre {centre!r}.")
    if body["role"] == Role.ADMIN.value and centre is not None:
        raise ApiError("bad_request", message_en="An admin is bound to no centre.")
    if not _may_manage(call.credential, None if body["role"] == Role.ADMIN.value else centre):
        raise ApiError("forbidden")
    counter = body.get("counter")
    if counter is not None and centre is not None:
        found = call.centres.config.centre(centre)
        if found is None or found.counter(counter) is None:
            raise ApiError("not_found", message_en=f"Unknown counter {counter}.")


async def create_user(call: Call) -> Any:
    b = call.body
    try:
        cred = await users.create_user(call.centres.r, b["name"], b["password"], Role(b["role"]),
                                       b.get("centre") or None, b.get("counter"))
    except users.UserError as e:
        raise ApiError(e.code, message_en=str(e) if e.code == "bad_request" else None) from None
    return {"user": {"name": cred.name, "role": cred.role.value, "centre": cred.centre,
                     "counter": cred.counter}}


async def revoke_user(call: Call) -> Any:
    r = call.centres.r
    name = call.params["name"]
    found = await users.user(r, name)
    if found is None:
        raise ApiError("not_found", message_en=f"No login named {name!r}.")
    if not _may_manage(call.credential, found.centre):
        raise ApiError("forbidden")
    await users.revoke_user(r, name)
    return {"revoked": name}


async def create_token(call: Call) -> Any:
    b = call.body
    try:
        token, cred = await create_token_async(call.centres.r, Role(b["role"]),
                                               b.get("centre") or None, b.get("counter"),
                                               b.get("name") or None)
    except TokenError as e:
        code = "already_exists" if "already exists" in str(e) else "bad_request"
        raise ApiError(code, message_en=None if code == "already_exists" else str(e)) from None
    return {"token": token, "credential": {"name": cred.name, "role": cred.role.value,
                                           "centre": cred.centre, "counter": cred.counter}}


def _token_withheld(answer: dict[str, Any]) -> dict[str, Any]:
    """What a repeat of the request gets, and what is kept for it: the credential without its
    token. A token is shown once; only its hash is ever stored (lost: revoke it, make another)."""
    return {**answer, "token": None}


async def _token(r: Any, name: str) -> dict[str, Any] | None:
    digest = await r.hget(keys.token_names(), name)
    if not digest:
        return None
    fields: dict[str, Any] = await r.hgetall(keys.token(str(digest)))
    return fields or None


async def revoke_token(call: Call) -> Any:
    r = call.centres.r
    name = call.params["name"]
    fields = await _token(r, name)
    if fields is None:
        raise ApiError("not_found", message_en=f"No credential named {name!r}.")
    if not _may_manage(call.credential, fields.get("centre") or None):
        raise ApiError("forbidden")
    await revoke_token_async(r, name)
    return {"revoked": name}


async def staff_list(request: Request) -> JSONResponse:
    """The logins and tokens the caller may manage (never a password hash or a token)."""
    cred = await authorize(request, Action.MANAGE)
    r = request.state.redis
    tokens = []
    for name in sorted(await r.hkeys(keys.token_names())):
        fields = await _token(r, str(name))
        if fields and _may_manage(cred, fields.get("centre") or None):
            tokens.append({"name": fields["name"], "role": fields["role"],
                           "centre": fields["centre"] or None,
                           "counter": int(fields["counter"]) if fields["counter"] else None,
                           "created_at": fields.get("created_at")})
    logins = [u for u in await users.list_users(r) if _may_manage(cred, u["centre"])]
    return JSONResponse({"users": logins, "tokens": tokens})


async def overview(request: Request) -> JSONResponse:
    """The supervisor's view of a centre: the board, what each counter's ticket is at, and the
    oldest waiting ticket of each service (its wait is what people feel)."""
    centre_id = request.path_params["centre"]
    await authorize(request, Action.MANAGE, centre_id)
    centres = request.state.centres
    centre = centres.centre(centre_id)
    board = await centres.board(centre_id)
    r = request.state.redis
    now = centres.clock.now()
    date = now.date().isoformat()
    oldest: dict[str, Any] = {}
    for service in centre.services:
        first = await r.zrange(keys.queue(centre_id, date, service.code), 0, 0)
        issued = (await r.hget(keys.ticket(centre_id, date, first[0]), "issued_at")
                  if first else None)
        oldest[service.code] = {"ticket": first[0], "issued_at": issued} if first else None
    serving = []
    for entry in board["now_serving"]:
        status = await r.hget(keys.ticket(centre_id, date, entry["ticket"]), "status")
        serving.append({**entry, "status": status})
    return JSONResponse({"board": board, "serving": serving, "oldest_waiting": oldest,
                         "now": now.isoformat(timespec="seconds")})


async def ticket_booking(request: Request) -> JSONResponse:
    """The booking behind one of today's tickets, for the clerk who serves it: the identity
    and passport numbers masked, as everywhere (`identity.mask`)."""
    centre_id = request.path_params["centre"]
    await authorize(request, Action.LOOK_UP, centre_id)
    centres = request.state.centres
    centres.centre(centre_id)
    r = request.state.redis
    date = centres.clock.today()
    ref = await r.hget(keys.ticket(centre_id, date, request.path_params["number"]),
                       "booking_ref")
    booking: dict[str, Any] = await r.hgetall(keys.booking(centre_id, ref)) if ref else {}
    if not booking:
        raise ApiError("not_found", message_en="No booking for this ticket today.")
    kind = booking.get("application_type", "")
    return JSONResponse({"booking": {
        "booking_ref": booking.get("ref"), "surname": booking.get("surname"),
        "given_names": booking.get("given_names"), "application_type": kind,
        "id_kind": booking.get("id_kind"), "id_masked": booking.get("id_masked"),
        "passport_masked": identity.mask(booking.get("passport_no", "")),
        "nationality": booking.get("nationality"), "date": booking.get("date"),
        "slot_start": booking.get("slot_start"), "slot_end": booking.get("slot_end"),
        "fee_hkd": centres.config.fees.get(kind), "surrender_old_permit": kind in SURRENDER_TYPES,
    }})


ROLE_FIELD = Field(str, choices=ROLES)
POSTS = [
    Post("/api/v1/users", Action.MANAGE, create_user, {
        "name": Field(str), "password": Field(str), "role": ROLE_FIELD,
        "centre": Field(str, required=False), "counter": Field(int, required=False),
    }, status=201, wrap=None, check=_target),
    Post("/api/v1/users/{name}/revoke", Action.MANAGE, revoke_user, wrap=None),
    Post("/api/v1/tokens", Action.MANAGE, create_token, {
        "role": ROLE_FIELD, "centre": Field(str, required=False),
        "counter": Field(int, required=False), "name": Field(str, required=False),
    }, status=201, wrap=None, check=_target, safe=_token_withheld),
    Post("/api/v1/tokens/{name}/revoke", Action.MANAGE, revoke_token, wrap=None),
]

routes: list[BaseRoute] = [
    *(p.route() for p in POSTS),
    Route("/api/v1/staff", staff_list, methods=["GET"]),
    Route("/api/v1/centres/{centre}/overview", overview, methods=["GET"]),
    Route("/api/v1/centres/{centre}/tickets/{number}/booking", ticket_booking, methods=["GET"]),
]
