"""The credential a request acts with, when the web process took it from its memory
(auth/credentials.py, `CredentialCache`): the centre and the credential generation it was read
under. A centre's script given it (`_lib.lua`'s `context`) confirms, before any change, that the
generation is still that one; else it changes nothing and the request is run again with the
credential read afresh (`StaleCredential`).

A context variable, so that it follows the request through the operation to its script without
every operation passing it along.
"""

from __future__ import annotations

from contextvars import ContextVar


class StaleCredential(Exception):
    """A script found that a credential was revoked since the request's was read: nothing was
    changed, and the request must read its credential again."""

    def __init__(self, centre: str) -> None:
        super().__init__(centre)
        self.centre = centre


# (centre, generation) for a request acting on a kept credential; None otherwise.
ACTING: ContextVar[tuple[str, str] | None] = ContextVar("acting_credential", default=None)

# The error a script raises when the generation differs (`_lib.lua`).
STALE_ERROR = "STALE_CREDENTIAL"
