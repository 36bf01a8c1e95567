"""What the staff screens read and the supervisor manages: logins and device tokens (created and
revoked from `/admin`), a centre's live overview, and the booking behind a called ticket.

A supervisor manages the logins and tokens of their own centre only; an admin's, and admin
logins, only an admin.
"""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.requests import Request
from starlette.routing import BaseRoute

from queueserver.auth import users
from queueserver.auth.credentials import (
    Action,
    Credential,
    Role,
    TokenError,
    create_token_async,
    revoke_token_async,
)
from queueserver.platform.errors import Answer, ApiError
from queueserver.queue.models import Board
from queueserver.queue.tickets import typed
from queueserver.rules import identity
from queueserver.rules.vocab import SURRENDER_TYPES, ApplicationType, TicketStatus
from queueserver.store import keys
from queueserver.web.api.base import (
    Body,
    Call,
    Empty,
    Given,
    Post,
    Read,
    Text,
    Whole,
    authorize,
)


class NewLogin(Body, frozen=True, kw_only=True):
    name: Given
    password: Given
    role: Role
    # The centre (and counter) it is bound to; none for an admin.
    centre: Text | None = None
    counter: Whole | None = None


class NewToken(Body, frozen=True, kw_only=True):
    role: Role
    centre: Text | None = None
    counter: Whole | None = None
    # A name to revoke it by; default: one made up.
    name: Text | None = None


class Bound(Answer, frozen=True):
    """A login or token: its role, and the centre and counter it is bound to."""

    name: str
    role: Role
    centre: str | None
    counter: int | None


class Listed(Bound, frozen=True):
    created_at: str | None


class StaffList(Answer, frozen=True):
    """The logins and tokens the caller may manage (never a password hash or a token)."""

    users: list[Listed]
    tokens: list[Listed]


class UserCreated(Answer, frozen=True):
    user: Bound


class TokenCreated(Answer, frozen=True):
    """The new token, shown this once (null to a repeat of the request)."""

    token: str | None
    credential: Bound


class Revoked(Answer, frozen=True):
    revoked: str


class Serving(Answer, frozen=True):
    """A counter's current ticket and where it is in its service."""

    counter: int
    ticket: str
    called_at: str
    status: TicketStatus | None


class Oldest(Answer, frozen=True):
    ticket: str
    issued_at: str | None


class Overview(Answer, frozen=True):
    """The supervisor's view of a centre: the board, what each counter's ticket is at, and
    the oldest waiting ticket of each service (null when none waits)."""

    board: Board
    serving: list[Serving]
    oldest_waiting: dict[str, Oldest | None]
    now: str


class ClerkBooking(Answer, frozen=True):
    """The booking behind a called ticket, for the clerk: the identity number masked, the
    passport number all but its last four characters."""

    booking_ref: str | None
    surname: str | None
    given_names: str | None
    application_type: ApplicationType | None
    id_kind: str | None
    id_masked: str | None
    passport_masked: str
    nationality: str | None
    date: str | None
    slot_start: str | None
    slot_end: str | None
    fee_hkd: int | None
    surrender_old_permit: bool


class TicketBooking(Answer, frozen=True):
    booking: ClerkBooking


def _may_manage(cred: Credential, centre: str | None) -> bool:
    if cred.role is Role.ADMIN:
        return True
    return centre is not None and cred.allows(Action.MANAGE, centre)


def _target(call: Call[NewLogin] | Call[NewToken]) -> None:
    """The body names whom the new login or token is for: that centre must be the caller's."""
    body = call.body
    centre = body.centre or None
    if centre is not None and call.centres.config.centre(centre) is None:
        raise ApiError("not_found", message_en=f"Unknown centre {centre!r}.")
    if body.role is Role.ADMIN and centre is not None:
        raise ApiError("bad_request", message_en="An admin is bound to no centre.")
    if not _may_manage(call.credential, None if body.role is Role.ADMIN else centre):
        raise ApiError("forbidden")
    counter = body.counter
    if counter is not None and centre is not None:
        found = call.centres.config.centre(centre)
        if found is None or found.counter(counter) is None:
            raise ApiError("not_found", message_en=f"Unknown counter {counter}.")


def _bound(cred: Credential) -> Bound:
    return Bound(name=cred.name, role=cred.role, centre=cred.centre, counter=cred.counter)


async def create_user(call: Call[NewLogin]) -> UserCreated:
    b = call.body
    try:
        cred = await users.create_user(call.centres.r, b.name, b.password, b.role,
                                       b.centre or None, b.counter)
    except users.UserError as e:
        raise ApiError(e.code, message_en=str(e) if e.code == "bad_request" else None) from None
    return UserCreated(_bound(cred))


async def revoke_user(call: Call[Empty]) -> Revoked:
    r = call.centres.r
    name = call.params["name"]
    found = await users.user(r, name)
    if found is None:
        raise ApiError("not_found", message_en=f"No login named {name!r}.")
    if not _may_manage(call.credential, found.centre):
        raise ApiError("forbidden")
    await users.revoke_user(r, name)
    return Revoked(name)


async def create_token(call: Call[NewToken]) -> TokenCreated:
    b = call.body
    try:
        token, cred = await create_token_async(call.centres.r, b.role, b.centre or None,
                                               b.counter, b.name or None)
    except TokenError as e:
        code = "already_exists" if "already exists" in str(e) else "bad_request"
        raise ApiError(code, message_en=None if code == "already_exists" else str(e)) from None
    return TokenCreated(token, _bound(cred))


def _token_withheld(answer: TokenCreated) -> TokenCreated:
    """What a repeat of the request gets, and what is kept for it: the credential without its
    token. A token is shown once; only its hash is ever stored (lost: revoke it, make another)."""
    return msgspec.structs.replace(answer, token=None)


async def _token(r: Any, name: str) -> dict[str, Any] | None:
    digest = await r.hget(keys.token_names(), name)
    if not digest:
        return None
    fields: dict[str, Any] = await r.hgetall(keys.token(str(digest)))
    return fields or None


async def revoke_token(call: Call[Empty]) -> Revoked:
    r = call.centres.r
    name = call.params["name"]
    fields = await _token(r, name)
    if fields is None:
        raise ApiError("not_found", message_en=f"No credential named {name!r}.")
    if not _may_manage(call.credential, fields.get("centre") or None):
        raise ApiError("forbidden")
    await revoke_token_async(r, name)
    return Revoked(name)


async def staff_list(request: Request) -> StaffList:
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
    return typed({"users": logins, "tokens": tokens}, StaffList)


async def overview(request: Request) -> Overview:
    """The supervisor's view of a centre: the board, what each counter's ticket is at, and the
    oldest waiting ticket of each service (its wait is what people feel)."""
    centre_id = request.path_params["centre"]
    await authorize(request, Action.MANAGE, centre_id)
    centres = request.state.centres
    centre = centres.centre(centre_id)
    board: Board = await centres.board(centre_id)
    r = request.state.redis
    now = centres.clock.now()
    date = now.date().isoformat()
    oldest: dict[str, Oldest | None] = {}
    for service in centre.services:
        first = await r.zrange(keys.queue(centre_id, date, service.code), 0, 0)
        issued = (await r.hget(keys.ticket(centre_id, date, first[0]), "issued_at")
                  if first else None)
        oldest[service.code] = Oldest(first[0], issued) if first else None
    serving = []
    for entry in board.now_serving:
        status = await r.hget(keys.ticket(centre_id, date, entry.ticket), "status")
        serving.append(Serving(counter=entry.counter, ticket=entry.ticket,
                               called_at=entry.called_at,
                               status=TicketStatus(status) if status else None))
    return Overview(board=board, serving=serving, oldest_waiting=oldest,
                    now=now.isoformat(timespec="seconds"))


async def ticket_booking(request: Request) -> TicketBooking:
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
    return typed({"booking": {
        "booking_ref": booking.get("ref"), "surname": booking.get("surname"),
        "given_names": booking.get("given_names"), "application_type": kind or None,
        "id_kind": booking.get("id_kind"), "id_masked": booking.get("id_masked"),
        "passport_masked": identity.mask(booking.get("passport_no", "")),
        "nationality": booking.get("nationality"), "date": booking.get("date"),
        "slot_start": booking.get("slot_start"), "slot_end": booking.get("slot_end"),
        "fee_hkd": centres.config.fees.get(kind), "surrender_old_permit": kind in SURRENDER_TYPES,
    }}, TicketBooking)


POSTS: list[Post[Any]] = [
    Post("/api/v1/users", Action.MANAGE, create_user, NewLogin, UserCreated, status=201,
         wrap=None, check=_target),
    Post("/api/v1/users/{name}/revoke", Action.MANAGE, revoke_user, Empty, Revoked, wrap=None),
    Post("/api/v1/tokens", Action.MANAGE, create_token, NewToken, TokenCreated, status=201,
         wrap=None, check=_target, safe=_token_withheld),
    Post("/api/v1/tokens/{name}/revoke", Action.MANAGE, revoke_token, Empty, Revoked,
         wrap=None),
]

routes: list[BaseRoute] = [
    *(p.route() for p in POSTS),
    Read("/api/v1/staff", staff_list, StaffList).route(),
    Read("/api/v1/centres/{centre}/overview", overview, Overview).route(),
    Read("/api/v1/centres/{centre}/tickets/{number}/booking", ticket_booking,
         TicketBooking).route(),
]
