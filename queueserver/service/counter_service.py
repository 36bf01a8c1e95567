"""Counter service after the call: acceptance or decline, the fee, the receipt, the takings.

Each step is one Lua script on the ticket, refused unless the ticket is at the step before and
is served at the acting counter (CONTRACT §5). Python draws the random numbers and works out the
collection date, which Lua cannot.
"""

from __future__ import annotations

import datetime as dt
from functools import cache

import msgspec

from queueserver.platform.config import Centre
from queueserver.platform.errors import ApiError
from queueserver.queue.models import Ticket
from queueserver.queue.tickets import Centres, typed
from queueserver.rules import identity, numbering
from queueserver.rules.vocab import SURRENDER_TYPES, DeclineReason, PaymentMethod
from queueserver.rules.workdays import Calendar
from queueserver.service.models import (
    Acceptance,
    Payment,
    PaymentAnswer,
    Receipt,
    Takings,
    Void,
)
from queueserver.store import keys
from queueserver.store.idempotency import Idem

# A fresh receipt number meets a taken one about once in 2^40 receipts; three draws are plenty.
RECEIPT_NO_DRAWS = 3


@cache
def calendar(centre: Centre) -> Calendar:
    return Calendar.of(centre.working_weekdays, centre.holidays)


def collection_date(centre: Centre, accepted: dt.date) -> dt.date:
    return calendar(centre).add_working_days(accepted, centre.processing_working_days)


async def accept(centres: Centres, centre_id: str, number: str, acting: int | None, by: str,
                 idem: Idem | None) -> Acceptance:
    centre = centres.centre(centre_id)
    acceptance_no = numbering.new_acceptance_no(centre.receipt_prefix, centres.clock.now().date())
    return typed(await centres.run_script(
        "acceptance", centre, by, idem, None, ticket=number, acting=acting,
        acceptance_no=acceptance_no), Acceptance)


async def decline(centres: Centres, centre_id: str, number: str, acting: int | None,
                  reason: DeclineReason, note: str | None, by: str, idem: Idem | None) -> Ticket:
    centre = centres.centre(centre_id)
    return typed(await centres.run_script(
        "decline", centre, by, idem, None, ticket=number, acting=acting, reason=reason,
        note=note or ""), Ticket)


async def pay(centres: Centres, centre_id: str, number: str, acting: int | None,
              method: PaymentMethod, amount_hkd: int, reference: str | None, by: str,
              idem: Idem | None) -> PaymentAnswer:
    centre = centres.centre(centre_id)
    return typed(await centres.run_script(
        "payment", centre, by, idem, None, ticket=number, acting=acting, method=method,
        amount_hkd=amount_hkd, reference=reference, fees=centres.config.fees), PaymentAnswer)


async def void_payment(centres: Centres, centre_id: str, number: str, reason: str, by: str,
                       idem: Idem | None) -> PaymentAnswer:
    centre = centres.centre(centre_id)
    return typed(await centres.run_script(
        "payment_void", centre, by, idem, None, ticket=number, reason=reason), PaymentAnswer)


async def issue_receipt(centres: Centres, centre_id: str, number: str, acting: int | None,
                        by: str, idem: Idem | None) -> Receipt:
    centre = centres.centre(centre_id)
    due = collection_date(centre, centres.clock.now().date()).isoformat()
    for _ in range(RECEIPT_NO_DRAWS):
        receipt_no = numbering.new_receipt_no(centre.receipt_prefix)
        try:
            result = typed(await centres.run_script(
                "receipt", centre, by, idem,
                {"receipt": keys.receipt(centre.id, receipt_no),
                 "receipts_uncollected": keys.receipts_uncollected(centre.id)},
                ticket=number, acting=acting, centre_id=centre.id, receipt_no=receipt_no,
                collection_date=due, surrender_types=sorted(SURRENDER_TYPES),
                verifier_hex=identity.VERIFIER_HEX, booking_prefix=keys.booking(centre.id, "")),
                Receipt)
        except ApiError as e:
            if e.code == "receipt_no_taken":
                continue
            raise
        # The index lives outside the centre's slot, so it is written after the receipt; until
        # it is, the number's prefix still names the centre (collection.home_centre).
        await centres.r.hset(keys.receipt_index(), result.receipt_no, centre.id)
        return result
    raise ApiError("unavailable", message_en="No free receipt number was drawn; try again.")


def _given(value: str | msgspec.UnsetType) -> str | None:
    return None if isinstance(value, msgspec.UnsetType) else value


async def takings(centres: Centres, centre_id: str, day: dt.date) -> Takings:
    """The day's payments per counter and per method; voided ones are counted apart."""
    centre = centres.centre(centre_id)
    raw = await centres.r.hgetall(keys.payments(centre.id, day.isoformat()))
    payments = sorted((msgspec.json.decode(v, type=Payment) for v in raw.values()),
                      key=lambda p: p.paid_at)
    by_counter = {str(c.number): 0 for c in centre.counters}
    by_method = dict.fromkeys(PaymentMethod, 0)
    kept = [p for p in payments if not p.voided]
    for p in kept:
        by_counter[str(p.counter)] = by_counter.get(str(p.counter), 0) + p.amount_hkd
        by_method[p.method] += p.amount_hkd
    voids = [Void(id=p.id, ticket=p.ticket, counter=p.counter, method=p.method,
                  amount_hkd=p.amount_hkd, paid_at=p.paid_at, voided_at=_given(p.voided_at),
                  voided_by=_given(p.voided_by), void_reason=_given(p.void_reason))
             for p in payments if p.voided]
    return Takings(centre=centre.id, date=day.isoformat(),
                   total_hkd=sum(p.amount_hkd for p in kept), by_counter=by_counter,
                   by_method=by_method, payments=len(kept), voided=len(voids), voids=voids)
