"""Collection at the kiosks: eligibility, the one collection of a receipt, the kiosks' feed.

A receipt is found through the receipt index (outside the centre slots), else through its
number's prefix. Python refuses what it can tell from the number alone (a wrong check symbol,
no such receipt, another centre's receipt); `collect.lua` does the rest in the contract's order,
atomically, so ten kiosks pressing at once hand the permit over once.
"""

from __future__ import annotations

import datetime as dt

import msgspec

from queueserver.auth.credentials import Credential
from queueserver.collection.models import Collected, EligibilityAnswer, EligibleReceipt, Flag
from queueserver.platform.errors import ApiError
from queueserver.queue.tickets import Centres, typed
from queueserver.rules import identity, numbering
from queueserver.rules.vocab import Eligibility
from queueserver.store import idempotency, keys
from queueserver.store.idempotency import Idem

# A kiosk's clock may run this far ahead of the server's before its offline time is refused.
OFFLINE_CLOCK_SKEW = dt.timedelta(minutes=5)
RECEIPT_WRONG_CENTRE = ("This receipt is for another service centre; collect the permit there.",
                        "此收據回執屬於另一證件服務中心，請到該中心取證。")
RECEIPT_NOT_FOUND = ("No receipt has this number; check it and type it again.",
                     "找不到此收據回執號碼，請核對後重新輸入。")


async def home_centre(centres: Centres, receipt_no: str) -> str | None:
    """The centre that holds a receipt: from the index, else from the number's prefix (the
    index is written just after the receipt, so a process that died between the two leaves
    only the prefix to go by)."""
    holder = await centres.r.hget(keys.receipt_index(), receipt_no)
    if holder is not None:
        return str(holder)
    prefix = numbering.prefix_of(receipt_no)
    for centre in centres.config.centres:
        if centre.receipt_prefix == prefix and await centres.r.exists(
                keys.receipt(centre.id, receipt_no)):
            return centre.id
    return None


async def booking_of(centres: Centres, raw_receipt_no: str) -> tuple[str, str] | None:
    """(centre, booking reference) of a receipt, or None when there is no such receipt."""
    receipt_no = numbering.normalise(raw_receipt_no)
    if not numbering.well_formed(receipt_no):
        return None
    home = await home_centre(centres, receipt_no)
    if home is None:
        return None
    ref = await centres.r.hget(keys.receipt(home, receipt_no), "booking_ref")
    return (home, str(ref)) if ref else None


def _receipt_keys(centre: str, receipt_no: str) -> dict[str, str]:
    return {"receipt": keys.receipt(centre, receipt_no),
            "receipts_uncollected": keys.receipts_uncollected(centre),
            "collection_flags": keys.collection_flags(centre)}


async def _remember(centres: Centres, idem: Idem | None, answer: EligibilityAnswer) -> None:
    """Keep an answer made here, not by a script, for a repeat of its Idempotency-Key (in the
    form a script's ok() keeps)."""
    if idem is not None:
        await idempotency.keep_result(centres.r, idem,
                                      msgspec.json.encode({"ok": answer}).decode())


def _refused(reason: Eligibility, centre: str | None = None) -> EligibilityAnswer:
    return EligibilityAnswer(eligible=False, reason=reason, centre=centre, collection_date=None,
                             surrender_old_permit=False)


async def _home(centres: Centres, credential: Credential,
                receipt_no: str) -> str | EligibilityAnswer:
    """The receipt's centre, or the answer that refuses it from its number alone."""
    if not numbering.well_formed(receipt_no):
        return _refused(Eligibility.INVALID_RECEIPT_NO)
    home = await home_centre(centres, receipt_no)
    if home is None:
        return _refused(Eligibility.NOT_FOUND)
    if credential.centre is not None and home != credential.centre:
        return _refused(Eligibility.WRONG_CENTRE, home)
    return home


async def eligibility(centres: Centres, credential: Credential, raw_receipt_no: str,
                      id_number: str, idem: Idem | None) -> EligibilityAnswer:
    receipt_no = numbering.normalise(raw_receipt_no)
    home = await _home(centres, credential, receipt_no)
    if isinstance(home, EligibilityAnswer):
        await _remember(centres, idem, home)
        return home
    centre = centres.centre(home)
    return typed(await centres.run_script(
        "collect", centre, credential.id, idem, _receipt_keys(centre.id, receipt_no), "check",
        id_hash=identity.hashes(centres.secret, id_number), on_date=centres.clock.today(),
        offline=False, collected_at=None, old_permit_surrendered=False), EligibilityAnswer)


def _offline_time(centres: Centres, raw: str) -> dt.datetime:
    try:
        at = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise ApiError("bad_request", message_en="collected_at is not an ISO 8601 time.") from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=centres.config.tz)
    at = at.astimezone(centres.config.tz)
    if at > centres.clock.now() + OFFLINE_CLOCK_SKEW:
        raise ApiError("bad_request", message_en="collected_at is in the future.")
    return at


async def collect(centres: Centres, credential: Credential, raw_receipt_no: str,
                  id_number: str | None, old_permit_surrendered: bool, collected_at: str | None,
                  idem: Idem | None) -> Collected:
    """Hand the permit over, once; `collected_at` reports a collection made while offline.

    Only such a report may come without the identity number (a kiosk restarted while offline
    has forgotten it: docs/screens.md): it is flagged to the supervisor, not recorded."""
    if id_number is None and not collected_at:
        raise ApiError("bad_request", message_en="Missing field 'id_number'.")
    at = _offline_time(centres, collected_at) if collected_at else centres.clock.now()
    receipt_no = numbering.normalise(raw_receipt_no)
    if not numbering.well_formed(receipt_no):
        raise ApiError("invalid_receipt_no")
    home = await home_centre(centres, receipt_no)
    if home is None:
        raise ApiError("not_found", message_en=RECEIPT_NOT_FOUND[0],
                       message_zh=RECEIPT_NOT_FOUND[1])
    if credential.centre is not None and home != credential.centre:
        raise ApiError("wrong_centre", message_en=RECEIPT_WRONG_CENTRE[0],
                       message_zh=RECEIPT_WRONG_CENTRE[1], extra={"centre": home})
    centre = centres.centre(home)
    # Without a number (an offline report whose kiosk lost it) there is nothing to match.
    id_hash = None if id_number is None else identity.hashes(centres.secret, id_number)
    return typed(await centres.run_script(
        "collect", centre, credential.id, idem, _receipt_keys(centre.id, receipt_no), "collect",
        id_hash=id_hash, on_date=at.date().isoformat(),
        offline=collected_at is not None, collected_at=at.isoformat(timespec="seconds"),
        old_permit_surrendered=old_permit_surrendered), Collected)


def feed_day(centres: Centres, day: dt.date) -> dt.date:
    """The eligible feed's day: today or tomorrow only (CONTRACT §5), so a kiosk's copy holds
    the receipts of the next day at most, never the weeks ahead."""
    today = dt.date.fromisoformat(centres.clock.today())
    if not today <= day <= today + dt.timedelta(days=1):
        raise ApiError("bad_date")
    return day


async def eligible(centres: Centres, centre_id: str, day: dt.date) -> list[EligibleReceipt]:
    """Receipts not yet collected whose collection date is on or before `day`, for kiosks to
    cache: each with the 16-bit verifier that checks an identity number without revealing it
    (cut here too, so a verifier stored before it was 16 bits never leaves in full)."""
    centre = centres.centre(centre_id)
    numbers = await centres.r.zrangebyscore(keys.receipts_uncollected(centre.id), "-inf",
                                            int(day.strftime("%Y%m%d")))
    pipe = centres.r.pipeline(transaction=False)
    for number in numbers:
        pipe.hmget(keys.receipt(centre.id, str(number)), "receipt_no", "collection_date",
                   "surrender", "id_verifier", "collected_at")
    out = []
    for no, due, surrender, verifier, done in await pipe.execute():
        # An erased person's receipt has no verifier left: no kiosk can hand it over offline.
        if no is not None and not done and verifier:
            out.append(EligibleReceipt(receipt_no=no, collection_date=due,
                                       surrender_old_permit=surrender == "1",
                                       id_verifier=verifier[:identity.VERIFIER_HEX]))
    return out


def kiosk_key(centres: Centres, centre_id: str) -> str:
    return identity.kiosk_key(centres.secret, centres.centre(centre_id).id).hex()


async def flags(centres: Centres, centre_id: str) -> list[Flag]:
    centre = centres.centre(centre_id)
    return [msgspec.json.decode(f, type=Flag)
            for f in await centres.r.lrange(keys.collection_flags(centre.id), 0, -1)]


async def receipt(centres: Centres, receipt_no: str) -> tuple[str, dict[str, str]] | None:
    """A receipt's centre and fields, for its slip; None when there is no such receipt."""
    number = numbering.normalise(receipt_no)
    if not numbering.well_formed(number):
        return None
    home = await home_centre(centres, number)
    if home is None:
        return None
    fields = await centres.r.hgetall(keys.receipt(home, number))
    return (home, {str(k): str(v) for k, v in fields.items()}) if fields else None
