"""The credential a request acts with, when the web process took it from its memory
(auth/credentials.py, `CredentialCache`): the centre and the credential generation it was read
under. A centre's script given it (`_lib.lua`'s `context`) confirms, before any change, that the
generation is still that one; else it changes nothing and the request is run again with the
credential read afresh (`StaleCredential`). The same script takes the request from the
credential's rate-limit bucket: one round trip for the whole request.

A context variable, so that it follows the request through the operation to its script without
every operation passing it along.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


class StaleCredential(Exception):
    """A script found that a credential was revoked since the request's was read: nothing was
    changed, and the request must read its credential again."""

    def __init__(self, centre: str) -> None:
        super().__init__(centre)
        self.centre = centre


@dataclass(frozen=True)
class Acting:
    """A request acting on a kept credential: its centre and the generation it was read under;
    and the credential's rate-limit bucket (keys.rate_bucket, `rate` a second up to `burst`),
    which the script takes from in the same step, or None for a credential not limited."""

    centre: str
    generation: str
    bucket: str | None = None
    rate: int = 0
    burst: int = 0


ACTING: ContextVar[Acting | None] = ContextVar("acting_credential", default=None)

# The errors a script raises, before any change, when the generation differs and when the
# bucket is empty (followed by the milliseconds to wait) (`_lib.lua`).
STALE_ERROR = "STALE_CREDENTIAL"
LIMITED_ERROR = "RATE_LIMITED"
