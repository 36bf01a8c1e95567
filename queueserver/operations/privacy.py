"""Personal data under the PDPO: bookings' personal fields purged a configured number of days
after the permit's collection (a worker job), and one person's data exported or erased on a
supervisor's request. Both leave the anonymous statistics (events, dates, types, statuses), and
every removal or export is written to the centre's privacy log, which the audit shows."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
from enum import StrEnum
from typing import Any

import redis

from queueserver.bookings import history as booking_history
from queueserver.platform import config as config_mod
from queueserver.platform import runtime
from queueserver.platform.clock import from_environment, iso
from queueserver.platform.config import Config
from queueserver.platform.jobs import Periodic
from queueserver.rules import identity
from queueserver.store import keys
from queueserver.store.lua import Scripts

log = logging.getLogger("queueserver.operations.privacy")

# Once a day is enough for a limit counted in days; hourly keeps a missed run short.
PURGE_INTERVAL_S = 3600.0
SCAN_PAGE = 500
# Matching internals, never shown: the export gives the person what staff can see.
NOT_EXPORTED = ("id_hash", "id_verifier", "held_fp")


class Why(StrEnum):
    """Why the privacy log has an entry; the entry's type is `personal_data.` and this
    (docs/events.md). Every writer takes one of these, so the list of types is this list."""

    EXPORTED = "exported"
    ERASE = "erase"
    PURGE = "purge"


def ref_hash(secret: bytes, ref: str) -> str:
    """A booking reference as the privacy log keeps it: whoever holds the reference can match
    the entry, the log alone names nobody."""
    return hmac.new(secret, f"booking-ref:{ref}".encode(), hashlib.sha256).hexdigest()[:20]


def erase_args(centre: str, ref: str, at: str, why: Why, by: str, secret: bytes,
               receipt_no: str | None = None) -> tuple[list[str], list[str]]:
    keys_ = [keys.booking(centre, ref), keys.booking_history(centre, ref),
             keys.privacy_log(centre)]
    if receipt_no:
        keys_.append(keys.receipt(centre, receipt_no))
    return keys_, [keys.bookings_by_id(centre, ""), at, why, by, ref_hash(secret, ref),
                   keys.phones(centre, "")]


def _collected_before(r: redis.Redis, centre: str, cutoff: dt.date) -> list[tuple[str, str]]:
    """(receipt number, booking ref) of receipts collected before `cutoff` and not yet purged."""
    out = []
    for key in r.scan_iter(keys.receipt(centre, "*"), count=SCAN_PAGE):
        found: Any = r.hmget(key, "collected_at", "booking_ref", "receipt_no", "id_hash")
        collected_at, ref, number, id_hash = found
        if collected_at and ref and id_hash and collected_at[:10] < cutoff.isoformat():
            out.append((str(number), str(ref)))
    return out


def purge(config: Config, r: redis.Redis, now: dt.datetime, secret: bytes) -> int:
    """Remove the personal fields of bookings whose permit was collected more than
    `personal_data_days` days before `now`; returns how many bookings lost some."""
    scripts = Scripts(r)
    cutoff = now.date() - dt.timedelta(days=config.personal_data_days)
    removed = 0
    for centre in config.centres:
        for receipt_no, ref in _collected_before(r, centre.id, cutoff):
            keys_, args = erase_args(centre.id, ref, iso(now), Why.PURGE, "system", secret,
                                     receipt_no)
            if scripts("personal_erase", keys_, args) == "erased":
                removed += 1
    log.info("personal data purge: %d booking(s) before %s", removed, cutoff.isoformat())
    return removed


def shorten_verifiers(config: Config, r: redis.Redis) -> int:
    """Cut every kiosk verifier stored in full (before CONTRACT §5 made it 16 bits) down to
    `identity.VERIFIER_HEX` characters, in bookings and receipts; returns how many were cut.
    Run with the purge, so the first worker after an upgrade leaves none within seconds."""
    scripts = Scripts(r)
    cut = 0
    for centre in config.centres:
        for pattern in (keys.booking(centre.id, "*"), keys.receipt(centre.id, "*")):
            for key in r.scan_iter(pattern, count=SCAN_PAGE):
                stored: Any = r.hget(key, "id_verifier")
                if stored and len(stored) > identity.VERIFIER_HEX:
                    cut += int(scripts("verifier_shorten", [str(key)],
                                       [identity.VERIFIER_HEX]))
    if cut:
        log.info("kiosk verifiers cut to 16 bits: %d", cut)
    return cut


def run_purge() -> int:
    """The worker's job: config, Redis, secret and clock from the worker's environment."""
    config = config_mod.load_default()
    r = runtime.connect(runtime.redis_url(config))
    try:
        shorten_verifiers(config, r)
        return purge(config, r, from_environment(config.tz).now(), runtime.secret(config))
    finally:
        r.close()


def exported(booking: dict[str, str], history: list[str]) -> dict[str, Any]:
    """The record as staff see it, and its whole history (its creation an entry of it)."""
    return {**{k: v for k, v in booking.items()
               if k not in NOT_EXPORTED and k not in booking_history.CREATED},
            "history": booking_history.entries(booking, history)}


PERSONAL_DATA_PURGE = Periodic("personal-data-purge", "maintenance",
                               "queueserver.operations.privacy.run_purge",
                               lambda config: PURGE_INTERVAL_S)
