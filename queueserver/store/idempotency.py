"""The one record an `Idempotency-Key` keeps (CONTRACT §5), and every way it is written.

A POST with a key first claims its record (`claim`), which frees itself after `CLAIM_S` if the
request dies. Then the answer is kept for `KEPT_S`: by the operation's Lua script in the same
step as its change where the record lies in the script's slot (`_lib.lua`'s `finish`, which
reads `KEPT_S` from the context), else by `keep_result`/`keep_response` after it. A record
never holds the body, only its keyed fingerprint; the records of requests that named a booking
are indexed under it, so a person's erasure deletes them (`forget_bookings`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

import redis.asyncio

from queueserver.store import keys

# A claimed key whose request died before answering frees itself after this long.
CLAIM_S = 60
# A repeat within this long gets the first answer (CONTRACT §5: 24 hours).
KEPT_S = 24 * 3600


@dataclass(frozen=True)
class Idem:
    """Where an operation keeps its answer: the record's key and the body's fingerprint. The
    record of a route with a centre (`centre`) lies in the centre's slot, where its script can
    write it."""

    key: str
    fp: str
    centre: str | None = None


def record_key(centre: str | None, credential_id: str, method: str, path: str, key: str) -> str:
    """The record's key: scoped to the credential, method and path (CONTRACT §5)."""
    digest = hashlib.sha256(f"{credential_id}\n{method}\n{path}\n{key}".encode()).hexdigest()
    return keys.idempotency(centre, digest) if centre else keys.idempotency_global(digest)


def fingerprint(secret: bytes, raw: bytes) -> str:
    """What a record keeps of the body: keyed, because a body may hold an identity number or a
    password, which a plain hash of a short text would give away."""
    return hmac.new(secret, b"idempotency-body:" + raw, hashlib.sha256).hexdigest()


async def claim(r: redis.asyncio.Redis, key: str, fp: str) -> dict[str, Any] | None:
    """Claim the record for a request now running; None when claimed, else what is there
    (`{"state": "in_progress"}` also when it vanished between the two reads)."""
    if await r.set(key, json.dumps({"state": "in_progress", "fp": fp}), nx=True, ex=CLAIM_S):
        return None
    stored: dict[str, Any] | None = json.loads(await r.get(key) or "null")
    return stored or {"state": "in_progress", "fp": fp}


async def keep_result(r: redis.asyncio.Redis, idem: Idem, result: str) -> None:
    """Keep an operation's encoded `{"ok": ...}` result, as a script's `finish` does."""
    await r.set(idem.key, json.dumps({"state": "done", "fp": idem.fp, "result": result}),
                ex=KEPT_S)


async def keep_response(r: redis.asyncio.Redis, key: str, fp: str,
                        response: dict[str, Any] | None) -> None:
    """Keep the HTTP answer (`{"status", "body"}`), unless an operation kept its own already;
    None keeps only the key's use (an answer that may not be kept)."""
    current = json.loads(await r.get(key) or "null")
    if current is None or current.get("state") == "in_progress":
        done: dict[str, Any] = {"state": "done", "fp": fp}
        if response is not None:
            done["response"] = response
        await r.set(key, json.dumps(done), ex=KEPT_S)


async def release(r: redis.asyncio.Redis, key: str) -> None:
    """Forget a claim whose request failed, so that a repeat really runs."""
    await r.delete(key)


async def index_booking(r: redis.asyncio.Redis, centre: str, ref: str, key: str) -> None:
    """Note that the record `key` belongs to a request that named this booking."""
    if not await r.exists(keys.booking(centre, ref)):
        return  # a mistyped reference names nobody: no key is named after it
    index = keys.booking_requests(centre, ref)
    await r.sadd(index, key)
    await r.expire(index, KEPT_S)


async def forget_bookings(r: redis.asyncio.Redis, centre: str, refs: list[str]) -> int:
    """Delete the records of requests that named these bookings (a person's erasure); returns
    how many there were."""
    gone = 0
    for ref in refs:
        index = keys.booking_requests(centre, ref)
        records: Any = await r.smembers(index)
        # One key at a time: a record of a route without a centre lives in another slot.
        for record in records:
            gone += int(await r.delete(str(record)))
        await r.delete(index)
    return gone
