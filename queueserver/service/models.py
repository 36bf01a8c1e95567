"""Counter service's answers as typed models (CONTRACT §5, "Counters"): acceptance, payment and
its void, the receipt, the day's takings."""

from __future__ import annotations

from msgspec import UNSET, UnsetType

from queueserver.platform.errors import Answer
from queueserver.queue.models import Ticket
from queueserver.rules.vocab import PaymentMethod


class Acceptance(Answer, frozen=True):
    """受理: the ticket, now `accepted`, and its acceptance number."""

    ticket: Ticket
    acceptance_no: str


class Payment(Answer, frozen=True):
    """One fee taken, as the day's record keeps it; a voided one says who voided it, when and
    why."""

    id: str
    ticket: str
    counter: int
    method: PaymentMethod
    amount_hkd: int
    reference: str | None
    paid_at: str
    by: str
    voided: bool
    voided_at: str | UnsetType = UNSET
    voided_by: str | UnsetType = UNSET
    void_reason: str | UnsetType = UNSET


class PaymentAnswer(Answer, frozen=True):
    """The ticket (`paid`, or `accepted` again after a void) and its payment."""

    ticket: Ticket
    payment: Payment


class Receipt(Answer, frozen=True):
    """The receipt of a paid application: the ticket is `done`."""

    receipt_no: str
    collection_date: str
    centre: str
    surrender_old_permit: bool
    ticket: Ticket


class Void(Answer, frozen=True):
    id: str
    ticket: str
    counter: int
    method: PaymentMethod
    amount_hkd: int
    paid_at: str
    voided_at: str | None
    voided_by: str | None
    void_reason: str | None


class Takings(Answer, frozen=True):
    """A day's payments: sums and `payments` count what was not voided; voids are listed apart."""

    centre: str
    date: str
    total_hkd: int
    by_counter: dict[str, int]
    by_method: dict[PaymentMethod, int]
    payments: int
    voided: int
    voids: list[Void]
