"""Credentials and roles: API tokens (stored hashed) and the one table of who may do what."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import redis
import redis.asyncio

from queueserver.store import keys


class Role(StrEnum):
    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    DESK = "desk"
    CLERK = "clerk"
    DISPLAY = "display"
    KIOSK = "kiosk"
    PHOTO = "photo"


class Action(StrEnum):
    """What a route does, in the words of CONTRACT §4's table."""

    PHOTO = "register photo receipts"
    CHECK_IN = "check in, requeue"
    LOOK_UP = "look up tickets and today's bookings"
    OVERRIDE_WINDOW = "check in outside the arrival window"
    COUNTER = "counter actions, acceptance, decline, payment, receipt"
    VOID_PAYMENT = "void a payment"
    BOARD = "board and live events"
    COLLECTION = "collection eligibility, collect, eligible feed"
    KIOSK_KEY = "the centre's kiosk key (kiosk credentials only)"
    MANAGE = "statistics, audit, users and tokens of the centre"
    NOTICES = "post and remove notices, close and reopen issuing"
    PRINT = "print ticket and receipt slips"
    APPOINTMENTS = "see, block and cancel appointment slots"


# CONTRACT §4, the only place roles are decided. Every role but admin is bound to one centre.
PERMISSIONS: dict[Action, frozenset[Role]] = {
    Action.PHOTO: frozenset({Role.ADMIN, Role.SUPERVISOR, Role.PHOTO}),
    Action.CHECK_IN: frozenset({Role.ADMIN, Role.SUPERVISOR, Role.DESK}),
    Action.LOOK_UP: frozenset({Role.ADMIN, Role.SUPERVISOR, Role.DESK, Role.CLERK}),
    Action.OVERRIDE_WINDOW: frozenset({Role.ADMIN, Role.SUPERVISOR}),
    Action.COUNTER: frozenset({Role.ADMIN, Role.SUPERVISOR, Role.CLERK}),
    Action.VOID_PAYMENT: frozenset({Role.ADMIN, Role.SUPERVISOR}),
    Action.BOARD: frozenset({Role.ADMIN, Role.SUPERVISOR, Role.DESK, Role.CLERK, Role.DISPLAY}),
    Action.COLLECTION: frozenset({Role.ADMIN, Role.SUPERVISOR, Role.KIOSK}),
    Action.KIOSK_KEY: frozenset({Role.KIOSK}),
    Action.MANAGE: frozenset({Role.ADMIN, Role.SUPERVISOR}),
    Action.NOTICES: frozenset({Role.ADMIN, Role.SUPERVISOR}),
    Action.PRINT: frozenset({Role.ADMIN, Role.SUPERVISOR, Role.DESK}),
    Action.APPOINTMENTS: frozenset({Role.ADMIN, Role.SUPERVISOR}),
}

# Device credentials never see who did what.
DEVICE_ROLES = frozenset({Role.DISPLAY, Role.KIOSK})


@dataclass(frozen=True)
class Credential:
    id: str
    name: str
    role: Role
    centre: str | None = None
    counter: int | None = None

    def allows(self, action: Action, centre: str | None = None, counter: int | None = None) -> bool:
        if self.role not in PERMISSIONS[action]:
            return False
        if self.role is Role.ADMIN:
            return True
        if centre is not None and centre != self.centre:
            return False
        return counter is None or self.counter is None or counter == self.counter


def credential_record(cred_id: str, name: str, role: Role, centre: str | None) -> str:
    """What the audit keeps of a credential, for as long as its actions are kept."""
    return json.dumps({"id": cred_id, "name": name, "role": role.value, "centre": centre})


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenError(Exception):
    pass


@dataclass(frozen=True)
class NewToken:
    """A credential about to be stored: the token (shown once), its hash and its fields."""

    token: str
    digest: str
    credential: Credential
    fields: dict[Any, Any]


def new_token(role: Role, centre: str | None, counter: int | None,
              name: str | None) -> NewToken:
    """The rules of a credential, checked before anything is stored."""
    if role is not Role.ADMIN and not centre:
        raise TokenError(f"role {role.value} needs a centre (--centre)")
    if counter is not None and role is not Role.CLERK:
        raise TokenError("a counter (--counter) applies to the clerk role only")
    cred_id = "t_" + secrets.token_hex(6)
    name = name or f"{role.value}-{cred_id[2:]}"
    token = "qs_" + secrets.token_urlsafe(32)
    fields = {"id": cred_id, "name": name, "role": role.value, "centre": centre or "",
              "counter": "" if counter is None else str(counter),
              "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    return NewToken(token, hash_token(token), Credential(cred_id, name, role, centre, counter),
                    fields)


def create_token(r: redis.Redis, role: Role, centre: str | None = None,
                 counter: int | None = None, name: str | None = None) -> tuple[str, Credential]:
    new = new_token(role, centre, counter, name)
    cred = new.credential
    if not r.hsetnx(keys.token_names(), cred.name, new.digest):
        raise TokenError(f"a credential named {cred.name!r} already exists")
    r.hset(keys.token(new.digest), mapping=new.fields)
    r.hset(keys.credential_names(), cred.id, credential_record(cred.id, cred.name, role, centre))
    return new.token, cred


def revoke_token(r: redis.Redis, name: str) -> bool:
    digest = r.hget(keys.token_names(), name)
    if not digest:
        return False
    pipe = r.pipeline()
    pipe.delete(keys.token(str(digest)))
    pipe.hdel(keys.token_names(), name)
    pipe.execute()
    # After the token is gone, never before: see CredentialCache.
    for centre in r.smembers(keys.credential_centres()):
        r.set(keys.credential_generation(str(centre)), secrets.token_hex(8))
    return True


def _credential(fields: dict[str, str]) -> Credential | None:
    if not fields:
        return None
    return Credential(
        id=fields["id"], name=fields["name"], role=Role(fields["role"]),
        centre=fields["centre"] or None,
        counter=int(fields["counter"]) if fields["counter"] else None,
    )


def lookup_token(r: redis.Redis, token: str) -> Credential | None:
    found: dict[str, str] = r.hgetall(keys.token(hash_token(token)))  # type: ignore[assignment]
    return _credential(found)


async def lookup_token_async(r: redis.asyncio.Redis, token: str) -> Credential | None:
    found: dict[str, str] = await r.hgetall(keys.token(hash_token(token)))  # type: ignore[assignment]
    return _credential(found)


async def create_token_async(r: redis.asyncio.Redis, role: Role, centre: str | None = None,
                             counter: int | None = None,
                             name: str | None = None) -> tuple[str, Credential]:
    """`create_token` for the supervisor's screen, with the same rules and fields."""
    new = new_token(role, centre, counter, name)
    cred = new.credential
    if not await r.hsetnx(keys.token_names(), cred.name, new.digest):
        raise TokenError(f"a credential named {cred.name!r} already exists")
    await r.hset(keys.token(new.digest), mapping=new.fields)
    await r.hset(keys.credential_names(), cred.id,
                 credential_record(cred.id, cred.name, role, centre))
    return new.token, cred


async def revoke_token_async(r: redis.asyncio.Redis, name: str) -> bool:
    digest = await r.hget(keys.token_names(), name)
    if not digest:
        return False
    await r.delete(keys.token(str(digest)))
    await r.hdel(keys.token_names(), name)
    await new_generations(r)
    return True


async def new_generations(r: redis.asyncio.Redis) -> None:
    """Every centre's credential generation set anew, after a credential was removed: each web
    process's kept credentials are read again before they act (CredentialCache)."""
    centres: Any = await r.smembers(keys.credential_centres())
    for centre in centres:
        await r.set(keys.credential_generation(str(centre)), secrets.token_hex(8))


class CredentialCache:
    """A web process's tokens, each read from Redis once per centre it acts at, for the routes
    whose work is one script of that centre (web/api/base.py, `Post.cached`).

    Kept with each is the centre's credential generation, read before the token; the script
    confirms in the same step as its change that the generation is still that one
    (store/generation.py), and a revocation sets every centre's anew after removing the token
    (`new_generations`). So a revoked token is refused by the next script it would run, in every
    process, at no extra round trip for the others; it is then read again (and found gone)."""

    # Tokens are few (a centre's devices and staff); a flood of made-up ones is never kept.
    LIMIT = 10_000

    def __init__(self, centres: list[str]) -> None:
        # The config's centres: only theirs are kept (a made-up centre in a path never is).
        self.centres = frozenset(centres)
        self._registered = False
        self._kept: dict[tuple[str, str], tuple[Credential, str]] = {}

    async def register(self, r: redis.asyncio.Redis) -> None:
        """Note the centres among those whose generation a revocation sets anew: at start-up,
        and before anything is kept if that failed."""
        if self.centres:
            await r.sadd(keys.credential_centres(), *sorted(self.centres))
        self._registered = True

    def get(self, token: str, centre: str) -> tuple[Credential, str] | None:
        """The kept credential and the generation it was read under, if any."""
        return self._kept.get((hash_token(token), centre))

    async def read(self, r: redis.asyncio.Redis, token: str, centre: str) -> Credential | None:
        """The token's credential read from Redis, and kept for `centre`. The centre is noted
        first and its generation read before the token: a revocation that removes the token
        after this read sets that generation anew, so the kept one goes stale."""
        if centre not in self.centres:
            return await lookup_token_async(r, token)
        if not self._registered:
            await self.register(r)
        generation = str(await r.get(keys.credential_generation(centre)) or "0")
        cred = await lookup_token_async(r, token)
        digest = hash_token(token)
        if cred is None:
            self._kept.pop((digest, centre), None)
            return None
        if len(self._kept) >= self.LIMIT:
            self._kept.clear()
        self._kept[(digest, centre)] = (cred, generation)
        return cred

    def stale(self, centre: str) -> None:
        """A script found the centre's generation changed: forget what was kept for it."""
        for kept in [k for k in self._kept if k[1] == centre]:
            del self._kept[kept]
