"""Staff logins: a name and password (argon2id) bound to a role, and the browser sessions they
open, kept in Redis so that any web process knows them and a revoked login ends everywhere.

A session cookie holds a random id and its signature; Redis holds only the id's hash, with the
credential and the session's CSRF token, and expires with the cookie.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

import redis.asyncio
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.concurrency import run_in_threadpool

from queueserver.auth.credentials import Credential, Role, credential_record
from queueserver.store import keys

COOKIE = "qs_session"
# A long shift: a browser left signed in at a counter overnight is signed out by morning.
SESSION_TTL_S = 10 * 3600
# Long enough that guessing is hopeless at 10 tries in 15 minutes, short enough to type.
PASSWORD_MIN = 10
# CONTRACT §5: failed logins per name and per address, then 429.
MAX_FAILURES = 10
FAILURE_WINDOW_S = 15 * 60
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")

# argon2id with the library's defaults (64 MiB, 3 passes): RFC 9106's second recommendation.
_hasher = PasswordHasher()
_dummy_hash: str | None = None


class UserError(Exception):
    """A login that cannot be created as asked; the message says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Session:
    credential: Credential
    csrf: str
    key: str  # the Redis key whose existence keeps the session valid


def _now() -> str:
    # Bookkeeping only (when a login was made), not a rule: the service clock is not needed.
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _credential(fields: dict[str, Any]) -> Credential:
    return Credential(id=fields["id"], name=fields["name"], role=Role(fields["role"]),
                      centre=fields["centre"] or None,
                      counter=int(fields["counter"]) if fields["counter"] else None)


def check_new_login(name: str, password: str, role: Role, centre: str | None,
                    counter: int | None) -> None:
    """Passwords are taken without surrounding whitespace everywhere (a pasted newline)."""
    if not NAME.match(name):
        raise UserError("bad_request", "a login name is 1-64 lower-case letters, digits, "
                                       "'.', '_' or '-'")
    if len(password.strip()) < PASSWORD_MIN:
        raise UserError("password_too_short",
                        f"the password needs at least {PASSWORD_MIN} characters")
    # The same binding rules as API credentials (CONTRACT §4).
    if role is not Role.ADMIN and not centre:
        raise UserError("bad_request", f"role {role.value} needs a centre")
    if counter is not None and role is not Role.CLERK:
        raise UserError("bad_request", "a counter applies to the clerk role only")


def hash_password(password: str) -> str:
    """What `create_user` keeps of a password (argon2id: deliberately slow)."""
    return _hasher.hash(password.strip())


async def create_user(r: redis.asyncio.Redis, name: str, password: str, role: Role,
                      centre: str | None = None, counter: int | None = None,
                      password_hash: str | None = None) -> Credential:
    """`password_hash`, when given, must be `hash_password(password)`, made once for logins
    that share one password (the demo's): the slow hash is not made again for each."""
    password = password.strip()
    check_new_login(name, password, role, centre, counter)
    if password_hash is None:
        password_hash = await run_in_threadpool(_hasher.hash, password)
    cred = Credential("u_" + secrets.token_hex(6), name, role, centre, counter)
    if not await r.hsetnx(keys.user(name), "id", cred.id):
        raise UserError("already_exists", f"a login named {name!r} already exists")
    fields = {"name": name, "role": role.value, "centre": centre or "",
              "counter": "" if counter is None else str(counter),
              "password_hash": password_hash, "created_at": _now()}
    pipe = r.pipeline()
    pipe.hset(keys.user(name), mapping=fields)  # type: ignore[arg-type]
    pipe.sadd(keys.user_names(), name)
    pipe.hset(keys.credential_names(), cred.id, credential_record(cred.id, name, role, centre))
    await pipe.execute()
    return cred


async def revoke_user(r: redis.asyncio.Redis, name: str) -> bool:
    """Remove a login and end every session it opened (open sockets close within seconds).

    The login goes first, its sessions after: a sign-in that races with this either wrote its
    session before the list of sessions is read (and it is ended here), or checks afterwards
    that its login still exists and finds it gone (`start_session`)."""
    if not await r.delete(keys.user(name)):
        return False
    await r.srem(keys.user_names(), name)
    sessions = await r.smembers(keys.user_sessions(name))
    pipe = r.pipeline()
    for digest in sessions:
        pipe.delete(keys.session(str(digest)))
    pipe.delete(keys.user_sessions(name))
    await pipe.execute()
    return True


async def user(r: redis.asyncio.Redis, name: str) -> Credential | None:
    fields: dict[str, Any] = await r.hgetall(keys.user(name))  # type: ignore[assignment]
    return _credential(fields) if fields.get("id") and fields.get("role") else None


async def list_users(r: redis.asyncio.Redis) -> list[dict[str, Any]]:
    """Every login without its password hash, by name."""
    out = []
    for name in sorted(await r.smembers(keys.user_names())):
        fields: dict[str, Any] = await r.hgetall(keys.user(str(name)))  # type: ignore[assignment]
        if fields.get("id"):
            out.append({"name": fields["name"], "role": fields["role"],
                        "centre": fields["centre"] or None,
                        "counter": int(fields["counter"]) if fields["counter"] else None,
                        "created_at": fields.get("created_at")})
    return out


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def authenticate(r: redis.asyncio.Redis, name: str, password: str) -> Credential | None:
    """The login's credential when the password is right. An unknown name costs the same
    hashing as a known one, so timing does not tell which names exist."""
    global _dummy_hash
    password = password.strip()
    fields: dict[str, Any] = await r.hgetall(keys.user(name))  # type: ignore[assignment]
    if not fields.get("password_hash"):
        if _dummy_hash is None:
            _dummy_hash = await run_in_threadpool(_hasher.hash, secrets.token_hex(16))
        await run_in_threadpool(_verify, _dummy_hash, password)
        return None
    if not await run_in_threadpool(_verify, fields["password_hash"], password):
        return None
    return _credential(fields)


# --- sessions ---------------------------------------------------------------------------------

def _signing_key(secret: bytes) -> bytes:
    # Its own key, so a cookie's signature reveals nothing about the identity-number hashes.
    return hmac.new(secret, b"queueserver session cookie", hashlib.sha256).digest()


def _sign(secret: bytes, session_id: str) -> str:
    return hmac.new(_signing_key(secret), session_id.encode(), hashlib.sha256).hexdigest()[:32]


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def session_key(secret: bytes, cookie: str | None) -> str | None:
    """The Redis key of a cookie's session when its signature holds (no Redis read)."""
    if not cookie or "." not in cookie:
        return None
    session_id, signature = cookie.rsplit(".", 1)
    # compare_digest refuses non-ASCII str (a TypeError, a 500): compare the bytes.
    if not hmac.compare_digest(_sign(secret, session_id).encode(),
                               signature.encode(errors="surrogatepass")):
        return None
    return keys.session(_digest(session_id))


async def start_session(r: redis.asyncio.Redis, secret: bytes,
                        cred: Credential) -> tuple[str, str] | None:
    """A new session for a login: (the cookie's value, its CSRF token); None when the login was
    revoked (or made anew under its name) since its password was checked."""
    session_id = secrets.token_urlsafe(32)
    digest = _digest(session_id)
    csrf = secrets.token_urlsafe(32)
    fields = {"id": cred.id, "name": cred.name, "role": cred.role.value,
              "centre": cred.centre or "",
              "counter": "" if cred.counter is None else str(cred.counter),
              "csrf": csrf, "created_at": _now()}
    pipe = r.pipeline()
    pipe.hset(keys.session(digest), mapping=fields)  # type: ignore[arg-type]
    pipe.expire(keys.session(digest), SESSION_TTL_S)
    pipe.sadd(keys.user_sessions(cred.name), digest)
    pipe.expire(keys.user_sessions(cred.name), SESSION_TTL_S)
    await pipe.execute()
    # Checked after the session is written, never before: see revoke_user.
    if await r.hget(keys.user(cred.name), "id") != cred.id:
        pipe = r.pipeline()
        pipe.delete(keys.session(digest))
        pipe.srem(keys.user_sessions(cred.name), digest)
        await pipe.execute()
        return None
    return f"{session_id}.{_sign(secret, session_id)}", csrf


async def lookup_session(r: redis.asyncio.Redis, secret: bytes,
                         cookie: str | None) -> Session | None:
    key = session_key(secret, cookie)
    if key is None:
        return None
    fields: dict[str, Any] = await r.hgetall(key)  # type: ignore[assignment]
    if not fields.get("id"):
        return None
    return Session(_credential(fields), fields["csrf"], key)


async def end_session(r: redis.asyncio.Redis, secret: bytes, cookie: str | None) -> None:
    key = session_key(secret, cookie)
    if key is None:
        return
    name = await r.hget(key, "name")
    pipe = r.pipeline()
    pipe.delete(key)
    if name:
        pipe.srem(keys.user_sessions(str(name)), key.rsplit(":", 1)[1])
    await pipe.execute()


# --- device cookies ---------------------------------------------------------------------------
#
# Ten failures on a login's name lock it for everyone, and a name is easy to guess: anyone could
# keep a clerk out all day. A browser that has signed in as a login before carries a signed
# cookie saying so (OWASP's "device cookie"), and its failures are counted against that cookie,
# not the name: strangers locking the name leave it alone. The limit per address still holds.

DEVICE_COOKIE = "qs_device"
# A login used at least monthly keeps its browsers trusted; a copied cookie lapses in a month.
DEVICE_TTL_S = 30 * 24 * 3600
# How many logins one browser is trusted for (a counter's PC is shared by a few clerks).
DEVICE_LOGINS = 8
_DEVICE_ENTRY = re.compile(r"^([a-z0-9][a-z0-9._-]{0,63}):([A-Za-z0-9_-]{16,64}):([0-9]{1,12}):"
                           r"([0-9a-f]{32})$")


def _device_signature(secret: bytes, name: str, user_id: str, nonce: str, expires: int) -> str:
    # Its own key; the login's id is signed too, so a login made anew under an old name starts
    # with no trusted browsers.
    key = hmac.new(secret, b"queueserver device cookie", hashlib.sha256).digest()
    signed = f"{name}:{user_id}:{nonce}:{expires}".encode()
    return hmac.new(key, signed, hashlib.sha256).hexdigest()[:32]


def _device_entries(cookie: str | None) -> list[tuple[str, str, int, str]]:
    """The well-formed entries of a device cookie (name, nonce, expiry, signature)."""
    out = []
    for entry in (cookie or "").split("|")[:DEVICE_LOGINS]:
        found = _DEVICE_ENTRY.match(entry)
        if found:
            out.append((found[1], found[2], int(found[3]), found[4]))
    return out


async def trusted_device(r: redis.asyncio.Redis, secret: bytes, cookie: str | None, name: str,
                         now: dt.datetime) -> str | None:
    """The id this browser's failures are counted under when its device cookie is valid for
    the login `name`; None when it is not."""
    for entry_name, nonce, expires, signature in _device_entries(cookie):
        if entry_name != name or expires <= now.timestamp():
            continue
        user_id = await r.hget(keys.user(name), "id")
        if not user_id:
            return None
        good = _device_signature(secret, name, str(user_id), nonce, expires)
        if hmac.compare_digest(good.encode(), signature.encode()):
            return hashlib.sha256(nonce.encode()).hexdigest()
        return None
    return None


def remember_device(secret: bytes, cookie: str | None, cred: Credential,
                    now: dt.datetime) -> str:
    """The device cookie after a successful sign-in: a fresh entry for this login, the others
    it held kept (the most recent few)."""
    expires = int(now.timestamp()) + DEVICE_TTL_S
    nonce = secrets.token_urlsafe(16)
    mine = f"{cred.name}:{nonce}:{expires}:" + _device_signature(secret, cred.name, cred.id,
                                                                  nonce, expires)
    others = ["{}:{}:{}:{}".format(*e) for e in _device_entries(cookie) if e[0] != cred.name]
    return "|".join([*others, mine][-DEVICE_LOGINS:])


# --- failed logins ----------------------------------------------------------------------------

def _failure_keys(name: str, address: str, device: str | None) -> tuple[str, str]:
    """The address always; then the browser's device cookie when it has one for this login,
    else the login's name."""
    counted = keys.login_failures_device(device) if device else keys.login_failures_user(name)
    return counted, keys.login_failures_address(address)


async def login_retry_after(r: redis.asyncio.Redis, name: str, address: str,
                            device: str | None = None) -> int:
    """Seconds until this name (or trusted browser) and address may try again; 0 when they
    may now."""
    wait = 0
    for key in _failure_keys(name, address, device):
        count = await r.get(key)
        if count is not None and int(count) >= MAX_FAILURES:
            wait = max(wait, int(await r.ttl(key)), 1)
    return wait


async def record_failure(r: redis.asyncio.Redis, name: str, address: str,
                         device: str | None = None) -> None:
    pipe = r.pipeline()
    for key in _failure_keys(name, address, device):
        pipe.incr(key)
        # The window starts at the first failure and is not stretched by later ones.
        pipe.expire(key, FAILURE_WINDOW_S, nx=True)
    await pipe.execute()
