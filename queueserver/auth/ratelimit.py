"""Per-credential rate limits (CONTRACT §5): a token bucket in Redis, one round trip a request.

The contract's floor is 20 requests a second sustained with bursts of 300: the bucket is twice
that, so a burst followed by steady use, or a web process's clock a little apart, never meets
the floor. The admin credential is bound to no centre and drives imports, the benchmark and the
operator's scripts at thousands a second; a stolen one is a worse problem than its rate."""

from __future__ import annotations

import math

import redis.asyncio

from queueserver.auth.credentials import Credential, Role
from queueserver.platform.errors import ApiError
from queueserver.store import keys
from queueserver.store.lua import AsyncScripts

RATE_PER_S = 40
BURST = 600


class RateLimited(ApiError):
    """429 `rate_limited`, with the whole seconds to wait for `Retry-After`."""

    def __init__(self, wait_ms: int) -> None:
        super().__init__("rate_limited")
        self.retry_after = max(1, math.ceil(wait_ms / 1000))


async def take(scripts: AsyncScripts, credential: Credential) -> None:
    if credential.role is Role.ADMIN:
        return
    wait_ms = int(await scripts("rate_limit", [keys.rate_bucket(credential.id)],
                                [RATE_PER_S, BURST]))
    if wait_ms:
        raise RateLimited(wait_ms)


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
