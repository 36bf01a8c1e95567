"""Follow tokens: the one credential of a ticket's follow page (CONTRACT §9).

A token is never stored. It is an HMAC, under a key derived from the server's secret, of the
ticket's centre and day and a salt of 128 random bits that the ticket keeps; Redis holds only
the token's SHA-256 -> centre, day and number, expiring with the day. So a copy of Redis (or of
a log, where the token is masked anyway) gives nobody's token, and the desk, the worker and any
web process make the same token again from the ticket whenever they need its URL. The ticket
keeps its salt through requeue and transfer, so its token stays the same all day. The salt
alone tells one ticket from another: the number is not in the HMAC, so a check-in makes the
token before its script draws the number, and on one Redis the script registers it.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass

import redis
import redis.asyncio

from queueserver.store import keys
from queueserver.store.lua import AsyncScripts

# The ticket's own randomness: 128 bits, as the contract asks of the token.
SALT_BYTES = 16
# What the token keeps of the HMAC: 192 bits, 32 URL-safe characters (short enough for a QR
# code a phone reads at arm's length from an 80 mm slip).
TOKEN_BYTES = 24
TOKEN_FORM = re.compile(r"^[A-Za-z0-9_-]{32}$")
# Hashed in place of a malformed token, so that it costs what any other unknown token costs.
_MALFORMED = "-" * 32


@dataclass(frozen=True)
class Followed:
    """What a valid token names."""

    centre: str
    date: str
    number: str
    token_hash: str


def new_salt() -> str:
    return secrets.token_hex(SALT_BYTES)


@functools.cache
def _key(secret: bytes) -> bytes:
    return hmac.new(secret, b"queueserver follow token", hashlib.sha256).digest()


def make(secret: bytes, centre: str, date: str, salt: str) -> str:
    mac = hmac.new(_key(secret), f"{centre}\n{date}\n{salt}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:TOKEN_BYTES]).decode()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def url(base: str, token: str) -> str:
    return f"{base.rstrip('/')}/t/{token}"


def _record(centre: str, date: str, number: str) -> str:
    return json.dumps({"centre": centre, "date": date, "ticket": number})


async def register(scripts: AsyncScripts, token: str, centre: str, date: str, number: str,
                   ttl_s: int) -> None:
    """The token's hash names the ticket until the day ends. Written again with every desk
    answer that carries the URL: the same value, so a lost first write mends itself. (On the
    scripts' connection: a check-in's second command.)"""
    await scripts.execute("SET", keys.follow_token(token_hash(token)),
                          _record(centre, date, number), "EX", ttl_s)


async def find(r: redis.asyncio.Redis, token: str, today: str) -> Followed | None:
    """The ticket a token names today, or None: unknown, of another day and malformed alike,
    each with one hash and one read, so that the three cannot be told apart by their time."""
    well_formed = TOKEN_FORM.fullmatch(token) is not None
    digest = token_hash(token if well_formed else _MALFORMED)
    raw = await r.get(keys.follow_token(digest))
    if raw is None or not well_formed:
        return None
    record = json.loads(raw)
    if record.get("date") != today:
        return None
    return Followed(str(record["centre"]), str(record["date"]), str(record["ticket"]), digest)


def salt_of(r: redis.Redis, centre: str, date: str, number: str) -> str | None:
    """The ticket's salt (sync, for the worker); None for a ticket made before follow tokens."""
    salt = r.hget(keys.ticket(centre, date, number), "follow_salt")
    return str(salt) if salt else None


def url_of(r: redis.Redis, secret: bytes, base: str, centre: str, date: str,
           number: str) -> str | None:
    """The follow URL of a ticket, made again from its salt where the worker needs it (a text
    message, a printed slip): never stored, never in a job's arguments. None without a salt or
    a base (`public_url`, else the desk request's scheme and host)."""
    salt = salt_of(r, centre, date, number)
    if not salt or not base:
        return None
    return url(base, make(secret, centre, date, salt))
