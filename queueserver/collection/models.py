"""Collection's answers as typed models (CONTRACT §5, "Collection kiosk")."""

from __future__ import annotations

from typing import Literal

from msgspec import UNSET, UnsetType

from queueserver.platform.errors import Answer
from queueserver.rules.vocab import Eligibility


class EligibilityAnswer(Answer, frozen=True):
    """Whether the permit of a receipt can be collected now, and if not, the first reason why.
    `centre` names the receipt's centre once it is known."""

    eligible: bool
    reason: Eligibility
    centre: str | None
    collection_date: str | None
    surrender_old_permit: bool


class Collected(Answer, frozen=True):
    """The one collection of a receipt (an offline kiosk's report of it is `offline`)."""

    receipt_no: str
    centre: str
    collected_at: str
    collection_date: str
    surrender_old_permit: bool
    old_permit_surrendered: bool
    offline: bool


class EligibleReceipt(Answer, frozen=True):
    """A receipt a kiosk caches for the day; `id_verifier` checks an identity number offline
    without revealing it (CONTRACT §5)."""

    receipt_no: str
    collection_date: str
    surrender_old_permit: bool
    id_verifier: str


class EligibleReceipts(Answer, frozen=True):
    centre: str
    date: str
    receipts: list[EligibleReceipt]


class KioskKey(Answer, frozen=True):
    """The centre's kiosk key, hex-encoded."""

    key: str


class Collection(Answer, frozen=True):
    collected_at: str
    by: str
    offline: bool


class Flag(Answer, frozen=True, kw_only=True):
    """An offline kiosk's report a supervisor must look into, and why: the receipt was
    collected already (`collected_twice`, with the `first` collection), or the whole identity
    number, checked only now, is wrong (`id_mismatch`) or was lost (`id_not_reported`)."""

    receipt_no: str
    reported_at: str
    reason: Literal["collected_twice", "id_mismatch", "id_not_reported"]
    first: Collection | UnsetType = UNSET
    again: Collection


class Flags(Answer, frozen=True):
    flags: list[Flag]
