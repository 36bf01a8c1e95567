"""Per-credential rate limits (CONTRACT §5): a token bucket in Redis, one round trip a request.

The contract's floor is 20 requests a second sustained with bursts of 300: the bucket is twice
that, so a burst followed by steady use, or a web process's clock a little apart, never meets
the floor. The admin credential is bound to no centre and drives imports, the benchmark and the
operator's scripts at thousands a second; a stolen one is a worse problem than its rate."""

from __future__ import annotations

import math

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
