"""Approved applications (CONTRACT §11): imported from the pre-application platform, each newly
approved one given a booking token and invited by email; a withdrawn one cancels its appointment
and its link answers 404.

An application is a hash (`keys.application`) under its booking token's hash, found by its
reference through `keys.application_refs`. The token itself is never stored: it is made from a
random salt kept with the application and the server's secret (HMAC-SHA256, 256 bits), so the
worker can put the link in an email again while Redis alone gives it to nobody. The plain
identity number is turned into the same keyed hash, mask and kiosk verifiers (one per centre) as
a booking's (`bookings.store`), here, and goes no further.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import astuple, dataclass
from typing import Any

import redis

from queueserver.appointments import calendar
from queueserver.bookings.plan import ImportPlan
from queueserver.bookings.store import Applied, Booking, BookingStore, Outcome, Upsert
from queueserver.platform.clock import Clock
from queueserver.platform.config import Config
from queueserver.rules import identity
from queueserver.store import keys
from queueserver.store.lua import Scripts

# What a booking token looks like: 43 URL-safe characters (256 bits). Anything else is
# malformed, and answered as an unknown token is, in the same time.
TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")
APPROVED = "approved"
WITHDRAWN = "withdrawn"
STATUSES = (APPROVED, WITHDRAWN)
# The application's fields that are personal data: emptied with its booking's (privacy purge).
PERSONAL = ("surname", "given_names", "id_hash", "id_masked", "verifiers", "passport_no",
            "nationality", "email")
# The booking's fields of CONTRACT §2 that an appointment copies from its application.
BOOKING_FIELDS = ("application_type", "surname", "given_names", "id_kind", "id_hash",
                  "id_masked", "id_verifier", "passport_no", "nationality")


@dataclass(frozen=True)
class Application:
    """One validated row of the approved applications, the plain identity number included."""

    ref: str
    application_type: str
    surname: str
    given_names: str
    id_kind: str
    id_number: str
    passport_no: str
    nationality: str
    email: str
    status: str


def token_for(secret: bytes, salt: str) -> str:
    digest = hmac.new(secret, b"booking-token:" + salt.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def link(config: Config, base: str | None, secret: bytes, salt: str) -> str:
    """The booking page's absolute link: `public_url`, else `base` (the request's)."""
    from queueserver.platform.config import DEFAULT_PUBLIC_URL

    root = config.public_url or base or DEFAULT_PUBLIC_URL
    return f"{root.rstrip('/')}/book/{token_for(secret, salt)}"


def name_masked(surname: str, given_names: str) -> str:
    """`SMITH, J*** P***`: the surname whole, the given names by their first letter; enough for
    an applicant to know the page is theirs, too little for a finder of the link to use."""
    given = " ".join(part[0] + "*" * 3 for part in given_names.split() if part)
    return f"{surname}, {given}" if given else surname


def booking_fields(app: dict[str, str], centre: str) -> list[list[str]]:
    """The application's CONTRACT §2 fields for a booking at `centre`, in their order."""
    verifiers = json.loads(app.get("verifiers") or "{}")
    return [[name, str(verifiers.get(centre, "")) if name == "id_verifier" else app.get(name, "")]
            for name in BOOKING_FIELDS]


def waitlist_of(app: dict[str, str]) -> list[tuple[str, str]]:
    """The (centre, date) days whose waiting lists the application joined."""
    return [(c, d) for c, d in json.loads(app.get("waitlist") or "[]")]


class ApplicationStore:
    """Writes applications for one import: `source` is the file name."""

    def __init__(self, r: redis.Redis, secret: bytes, config: Config, source: str,
                 clock: Clock) -> None:
        self._r = r
        self._secret = secret
        self._config = config
        self._source = source
        self._clock = clock
        self._at = clock.now().isoformat(timespec="seconds")
        self._kiosk_keys = {c.id: identity.kiosk_key(secret, c.id) for c in config.centres}

    def plan(self) -> ImportPlan:
        return ImportPlan(self._r)

    def stored_fields(self, a: Application) -> list[tuple[str, str]]:
        verifiers = {cid: identity.id_verifier(key, a.id_kind, a.id_number)
                     for cid, key in self._kiosk_keys.items()}
        return [
            ("ref", a.ref), ("application_type", a.application_type), ("surname", a.surname),
            ("given_names", a.given_names), ("id_kind", a.id_kind),
            ("id_hash", identity.keyed_hash(self._secret, a.id_kind, a.id_number)),
            ("id_masked", identity.masked(a.id_kind, a.id_number)),
            ("verifiers", json.dumps(verifiers, sort_keys=True)),
            ("passport_no", a.passport_no), ("nationality", a.nationality),
            ("email", a.email), ("status", a.status),
        ]

    def fingerprint(self, a: Application) -> str:
        text = ";".join(f"{n}={len(v.encode())}:{v}" for n, v in self.stored_fields(a))
        return hashlib.sha1(text.encode()).hexdigest()

    def prepare(self, a: Application) -> tuple[str, str, list[str]]:
        """What an import keeps of a row: its reference, fingerprint and fields."""
        return a.ref, self.fingerprint(a), list(astuple(a))

    def apply_ready(self, rows: Sequence[tuple[list[str], str]]) -> list[Applied]:
        return self.apply([Upsert(Application(*values), final) for values, final in rows])

    def apply(self, rows: Sequence[Application | Upsert[Application]]) -> list[Applied]:
        """Apply the rows in order, one at a time (an import's rows are few beside a booking
        export's: a day's approvals). An application whose first row here found it settled
        has its later rows here count as settled too."""
        out = []
        settled: set[str] = set()
        for row in rows:
            u = row if isinstance(row, Upsert) else Upsert(row)
            applied = Applied(Outcome.SETTLED) if u.booking.ref in settled else \
                self._one(u.booking, u.final)
            if applied.outcome is Outcome.SETTLED:
                settled.add(u.booking.ref)
            out.append(applied)
        return out

    def _record(self, ref: str) -> tuple[str | None, dict[str, str]]:
        found: Any = self._r.hget(keys.application_refs(), ref)
        if not found:
            return None, {}
        record: Any = self._r.hgetall(keys.application(str(found)))
        return str(found), dict(record)

    def _one(self, a: Application, final: str) -> Applied:
        digest, record = self._record(a.ref)
        if final and record.get("fp") == final:
            return Applied(Outcome.SETTLED)
        fp = self.fingerprint(a)
        if record.get("fp") == fp:
            return Applied(Outcome.UNCHANGED)
        fields: dict[Any, Any] = dict(self.stored_fields(a))
        fields.update(fp=fp, updated_at=self._at, source=self._source)
        was = record.get("status")
        if a.status == APPROVED and was == APPROVED and digest:
            self._r.hset(keys.application(digest), mapping=fields)
            self._follow_booking(a)
            return Applied(Outcome.UPDATED)
        if a.status == APPROVED:
            self._new_token(a, fields, digest)
            return Applied(Outcome.UPDATED if record else Outcome.IMPORTED)
        # Withdrawn.
        if digest:
            self._r.hset(keys.application(digest), mapping=fields)
            if was == APPROVED:
                self.withdraw(a.ref, record)
                return Applied(Outcome.CANCELLED)
            return Applied(Outcome.UPDATED)
        self._new_token(a, fields, None)
        return Applied(Outcome.CANCELLED)

    def _new_token(self, a: Application, fields: dict[Any, Any], old: str | None) -> None:
        """A new booking token (an approval, or one after a withdrawal: the old link stays
        dead), and for an approval the invitation, through the outbox."""
        salt = secrets.token_hex(16)
        digest = token_hash(token_for(self._secret, salt))
        fields.update(salt=salt, created_at=self._at)
        pipe = self._r.pipeline(transaction=False)
        pipe.hset(keys.application(digest), mapping=fields)
        pipe.hset(keys.application_refs(), a.ref, digest)
        if old:
            pipe.delete(keys.application(old))
        if a.status == APPROVED:
            pipe.rpush(keys.mail_outbox_global(), json.dumps(
                {"kind": "invitation", "key": f"invitation:{a.ref}:{digest[:20]}",
                 "ref": a.ref, "centre": "", "token_prefix": digest[:20]}))
        pipe.execute()

    def _follow_booking(self, a: Application) -> None:
        """An application changed after it booked: its booking follows (the desk checks the
        identity number against it), through the booking store, as an export's row would."""
        centre: Any = self._r.hget(keys.booking_index(), a.ref)
        if not centre:
            return
        b: Any = self._r.hgetall(keys.booking(str(centre), a.ref))
        if b.get("status") != APPROVED or b.get("appointment") != "1":
            return
        row = Booking(ref=a.ref, centre=str(centre), date=b["date"], slot_start=b["slot_start"],
                      slot_end=b["slot_end"], application_type=a.application_type,
                      surname=a.surname, given_names=a.given_names, id_kind=a.id_kind,
                      id_number=a.id_number, passport_no=a.passport_no,
                      nationality=a.nationality, status=APPROVED)
        BookingStore(self._r, self._secret, self._source, self._at).apply([row])

    def withdraw(self, ref: str, record: dict[str, str]) -> None:
        """Cancel the appointment still ahead and leave every waiting list and offer."""
        by_centre: dict[str, list[str]] = {}
        for centre, date in waitlist_of(record):
            by_centre.setdefault(centre, []).append(date)
        holder: Any = self._r.hget(keys.booking_index(), ref)
        if holder:
            by_centre.setdefault(str(holder), [])
        scripts = Scripts(self._r)
        now = self._clock.now()
        for centre_id, dates in by_centre.items():
            where = self._config.centre(centre_id)
            if where is None:
                continue
            declared, ctx = calendar.context(
                where, now, own={"booking": keys.booking(where.id, ref),
                                 "history": keys.booking_history(where.id, ref)},
                mode="withdraw", ref=ref, dates=dates, to="")
            scripts("appointment_cancel", declared, [ctx])


def forget_personal(r: redis.Redis, ref: str) -> bool:
    """Empty the application's personal fields (its booking's were purged or erased)."""
    digest: Any = r.hget(keys.application_refs(), ref)
    if not digest:
        return False
    key = keys.application(str(digest))
    if not r.exists(key):
        return False
    empty: dict[Any, Any] = {name: "" for name in PERSONAL}
    r.hset(key, mapping=empty)
    return True


def when(ms: int, tz: Any) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz)
