"""Per-credential rate limits (CONTRACT §5): a token bucket in Redis, one round trip a request.

The contract's floor is 20 requests a second sustained with bursts of 300: the bucket is twice
that, so a burst followed by steady use, or a web process's clock a little apart, never meets
the floor. The admin credential is bound to no centre and drives imports, the benchmark and the
operator's scripts at thousands a second; a stolen one is a worse problem than its rate."""

from __future__ import annotations

from typing import Any

import redis.asyncio
from prometheus_client import Counter

from queueserver.auth.credentials import Credential, Role

# Re-exported: the rooms that limit raise `ratelimit.RateLimited`.
from queueserver.platform.errors import RateLimited as RateLimited
from queueserver.store import keys
from queueserver.store.lua import AsyncScripts

RATE_PER_S = 40
BURST = 600
# Booking look-ups that find nothing, per credential: a desk legitimately misses a few an hour
# (a mistyped reference, a number booked at another centre); dozens a minute is someone reading
# identity numbers off their masks, one guess a request. Then 429 until the window ends.
LOOKUP_MISSES = 10
LOOKUP_WINDOW_S = 15 * 60
# In /metrics (operations/metrics.py serves every process's registered figures).
LOOKUP_FAILURES = Counter(
    "queueserver_booking_lookup_failures_total",
    "Booking look-ups (by reference or identity number) that found nothing ('missed'), and "
    "those refused after too many misses ('refused')", ["centre", "outcome"])


def bucket(credential: Credential) -> str | None:
    """The credential's bucket, in its centre's slot, so that a script of that centre can take
    from it in the same step as its work; None for the admin, who is not limited."""
    if credential.role is Role.ADMIN:
        return None
    return keys.rate_bucket(credential.id, credential.centre)


async def take(scripts: AsyncScripts, credential: Credential) -> None:
    key = bucket(credential)
    if key is None:
        return
    wait_ms = int(await scripts("rate_limit", [key], [RATE_PER_S, BURST]))
    if wait_ms:
        raise RateLimited(wait_ms)


async def lookup_allowed(r: redis.asyncio.Redis, credential: Credential, centre: str) -> None:
    """Refuses (429, `Retry-After`) a credential that has missed LOOKUP_MISSES look-ups in the
    window; checked before the look-up, so an answer never comes after the limit."""
    key = keys.lookup_failures(credential.id)
    missed: Any = await r.get(key)
    if missed is not None and int(missed) >= LOOKUP_MISSES:
        LOOKUP_FAILURES.labels(centre, "refused").inc()
        raise RateLimited(max(1, int(await r.ttl(key))) * 1000)


async def lookup_missed(r: redis.asyncio.Redis, credential: Credential, centre: str) -> None:
    """Counts a look-up that found nothing (or named no identity number)."""
    LOOKUP_FAILURES.labels(centre, "missed").inc()
    pipe = r.pipeline()
    pipe.incr(keys.lookup_failures(credential.id))
    # The window starts at the first miss and is not stretched by later ones.
    pipe.expire(keys.lookup_failures(credential.id), LOOKUP_WINDOW_S, nx=True)
    await pipe.execute()
# --- capability tokens in the URL: the follow page's (CONTRACT §9) -------------------------------
# An unknown token counts against its address as a failed login does (§5, §11 "Limits"): 10 in
# 15 minutes, then 429 on every such route until they age out. Tokens of 128 random bits or more
# cannot be found that slowly.
MAX_TOKEN_FAILURES = 10
TOKEN_FAILURE_WINDOW_S = 15 * 60


async def token_retry_after(r: redis.asyncio.Redis, address: str) -> int:
    """Seconds until this address may try a token again; 0 when it may now."""
    key = keys.token_failures_address(address)
    count = await r.get(key)
    if count is None or int(count) < MAX_TOKEN_FAILURES:
        return 0
    return max(1, int(await r.ttl(key)))


async def token_failed(r: redis.asyncio.Redis, address: str) -> None:
    pipe = r.pipeline()
    key = keys.token_failures_address(address)
    pipe.incr(key)
    # The window starts at the first failure and is not stretched by later ones.
    pipe.expire(key, TOKEN_FAILURE_WINDOW_S, nx=True)
    await pipe.execute()


async def take_token(scripts: AsyncScripts, bucket: str) -> None:
    """A valid token is limited like a device credential (§5): the same bucket, its own key."""
    wait_ms = int(await scripts("rate_limit", [keys.rate_bucket(bucket)], [RATE_PER_S, BURST]))
    if wait_ms:
        raise RateLimited(wait_ms)
