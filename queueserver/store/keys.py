"""Every Redis key name, built here and nowhere else.

A centre's keys carry the centre in a hash tag (`qs:{wan-chai}:...`) so each Lua script touches
one slot and runs unchanged on Redis Cluster. Keys that belong to no centre start `qs:` and
have no tag; Python reads them before it calls a centre's script. `tests/test_keys.py` pins
the exact strings.

Scripts build no key name: each gets the keys it touches in `KEYS` (see `lua.declare`). Where
a script finds a key only while it runs (a counter's current ticket, the booking a ticket names),
it gets that family's prefix instead: the function here called with an empty last part, as
`ticket(centre, date, "")`, to which the script appends what it read.
"""

from __future__ import annotations

from collections.abc import Sequence

PREFIX = "qs"


def _c(centre: str) -> str:
    return f"{PREFIX}:{{{centre}}}"


# --- a centre's keys (one slot each centre) ---------------------------------------------------

def centre_prefix(centre: str) -> str:
    """What scripts prepend to build a centre's keys; it holds the hash tag."""
    return _c(centre) + ":"


def events(centre: str) -> str:
    """The centre's event stream: what every screen sees, and the audit log."""
    return f"{_c(centre)}:events"


def booking(centre: str, ref: str) -> str:
    return f"{_c(centre)}:booking:{ref}"


def booking_history(centre: str, ref: str) -> str:
    return f"{_c(centre)}:booking-history:{ref}"


def bookings_on(centre: str, date: str) -> str:
    """The references of the centre's bookings of one day, scored by slot start (minutes)."""
    return f"{_c(centre)}:bookings:{date}"


def bookings_by_id(centre: str, id_hash: str) -> str:
    """The references of the centre's bookings held by one identity number (its keyed hash)."""
    return f"{_c(centre)}:bookings-by-id:{id_hash}"


def photo_receipt(centre: str, barcode: str) -> str:
    return f"{_c(centre)}:photo:{barcode}"


def sequence(centre: str, date: str, service: str) -> str:
    """The day's last ticket number of one service."""
    return f"{_c(centre)}:seq:{date}:{service}"


def ticket(centre: str, date: str, number: str) -> str:
    return f"{_c(centre)}:ticket:{date}:{number}"


def queue(centre: str, date: str, service: str) -> str:
    """Waiting tickets of one service, scored by their place (issue time, ms)."""
    return f"{_c(centre)}:queue:{date}:{service}"


def day_tickets(centre: str, date: str) -> str:
    """Every ticket of the day, in issue order (for statistics and the day close)."""
    return f"{_c(centre)}:tickets:{date}"


def counter(centre: str, number: int) -> str:
    return f"{_c(centre)}:counter:{number}"


def open_counters(centre: str, date: str) -> str:
    """The day's open counters, each number to its current ticket ('' when free), and `kept`
    once the day's first change of a counter's state wrote them all: what a wait estimate reads,
    one key whatever the number of counters (`set_counter` in _lib.lua keeps it)."""
    return f"{_c(centre)}:open-counters:{date}"


def recent_calls(centre: str, date: str) -> str:
    return f"{_c(centre)}:calls:{date}"


def service_pace(centre: str, service: str) -> str:
    """One service's pace, for wait estimates: the recent days' mean service time and the day's
    times (count and sum, in all and at each counter); a small hash kept by the scripts that
    end a service (store/scripts/_estimate.lua)."""
    return f"{_c(centre)}:service-pace:{service}"


def day_close(centre: str, date: str) -> str:
    """The day's close: when it ran, and the statistics frozen then (a closed day's figures
    never change)."""
    return f"{_c(centre)}:day:{date}"


def archive(centre: str, date: str) -> str:
    """The day's events, copied from the live stream at day close with their ids."""
    return f"{_c(centre)}:archive:{date}"


def privacy_log(centre: str) -> str:
    """Personal data exported, erased or purged: staff-only audit entries, never screen events."""
    return f"{_c(centre)}:privacy-log"


def idempotency(centre: str, digest: str) -> str:
    return f"{_c(centre)}:idem:{digest}"


def payments(centre: str, date: str) -> str:
    """The day's payments, by payment id (JSON each, voids marked): the takings."""
    return f"{_c(centre)}:payments:{date}"


def receipt(centre: str, receipt_no: str) -> str:
    return f"{_c(centre)}:receipt:{receipt_no}"


def receipts_uncollected(centre: str) -> str:
    """Receipts not yet collected, scored by collection date (YYYYMMDD): the kiosks' feed."""
    return f"{_c(centre)}:receipts-uncollected"


def collection_flags(centre: str) -> str:
    """Offline collections the server did not accept as reported (twice, or on a wrong or a
    lost identity number), newest first, for the supervisor."""
    return f"{_c(centre)}:collection-flags"



def booking_requests(centre: str, ref: str) -> str:
    """The kept `Idempotency-Key` records of requests that named this booking (check-in,
    collection, personal data), so that erasing the person's data removes them too (24 h, as
    the records themselves)."""
    return f"{_c(centre)}:booking-requests:{ref}"


def restore_check(centre: str) -> str:
    """Where a restore tries each backed-up key before it deletes anything (then removed)."""
    return f"{_c(centre)}:restore-check"

def credential_generation(centre: str) -> str:
    """A random value set anew whenever a credential is revoked: a web process acts on a
    credential it keeps in memory only in a script that finds the value it read still here."""
    return f"{_c(centre)}:credential-generation"


def centre_day(centre: str, date: str, counters: Sequence[int],
               services: Sequence[str]) -> dict[str, str | dict[str, str]]:
    """The keys of a centre's day that the ticket and counter scripts touch, directly or through
    the shared helpers (a ticket's position and wait estimate, a counter's state): by the name
    of their function here, counters by number and services by code."""
    return {
        "events": events(centre),
        "day_tickets": day_tickets(centre, date),
        "recent_calls": recent_calls(centre, date),
        "payments": payments(centre, date),
        "counter": {str(n): counter(centre, n) for n in counters},
        "open_counters": open_counters(centre, date),
        "queue": {s: queue(centre, date, s) for s in services},
        "service_pace": {s: service_pace(centre, s) for s in services},
        "sequence": {s: sequence(centre, date, s) for s in services},
        # Check-in reads whether issuing is closed, the board the notices (CONTRACT §10).
        **notice_keys(centre),
    }


# --- the follow page, text messages and feedback (CONTRACT §9) ---------------------------------

def phones(centre: str, date: str) -> str:
    """The day's phone numbers given at check-in, by ticket number (JSON each: the number and
    the URL base its messages link to); it expires when the day ends."""
    return f"{_c(centre)}:phones:{date}"


def feedback(centre: str, date: str) -> str:
    """The day's feedback, by ticket number (JSON each: rating, comment, counter, at)."""
    return f"{_c(centre)}:feedback:{date}"


def notify_delivery(centre: str, date: str, number: str, kind: str) -> str:
    """One text message of one ticket (its kind, `near_turn` or `called`): made once, then
    pending, sent or given up. It holds no phone number."""
    return f"{_c(centre)}:notify:{date}:{number}:{kind}"


def notify_pending(centre: str) -> str:
    """Text messages not yet sent or given up (delivery keys, scored by when they were made),
    so that one whose job was lost is enqueued again."""
    return f"{_c(centre)}:notify-pending"


def notify_cursor(centre: str) -> str:
    """The last event of the centre's stream that the worker's text-message dispatch read."""
    return f"{_c(centre)}:notify-cursor"


def notify_sending(centre: str, date: str, number: str, kind: str) -> str:
    """Held, expiring, by the one job that is sending that message now."""
    return f"{_c(centre)}:notify-sending:{date}:{number}:{kind}"


# --- notices and closures (CONTRACT §10) ---------------------------------------------------------

def notices(centre: str) -> str:
    """The hall's current notices, by id (JSON each: the NOTICE, and `until_ms`)."""
    return f"{_c(centre)}:notices"


def notice_order(centre: str) -> str:
    """The current notices' ids, scored by when they were posted (oldest first)."""
    return f"{_c(centre)}:notice-order"


def notice_expiry(centre: str) -> str:
    """The ids of notices with an `until`, scored by it (ms): what the sweepers look at."""
    return f"{_c(centre)}:notice-expiry"


def notice_sequence(centre: str) -> str:
    """The last notice id given out (ids are never reused)."""
    return f"{_c(centre)}:notice-seq"


def issuing(centre: str) -> str:
    """Present while issuing is closed: the supervisor's texts, their notice, when and who."""
    return f"{_c(centre)}:issuing-closed"


def notice_keys(centre: str) -> dict[str, str]:
    """The notices' keys by the names scripts know them by (K.notices, K.issuing...)."""
    return {"events": events(centre), "notices": notices(centre),
            "notice_order": notice_order(centre), "notice_expiry": notice_expiry(centre),
            "notice_sequence": notice_sequence(centre), "issuing": issuing(centre)}


def printer_failed(centre: str, job: str) -> str:
    """Set once by the print job that gave up, so its `printer.failed` goes out once."""
    return f"{_c(centre)}:printer-failed:{job}"


# --- a centre's appointments (CONTRACT §11: the booking platform) -----------------------------

def slot_places(centre: str, date: str) -> str:
    """The day's places taken, per slot start: `HH:MM` booked, `held:HH:MM` held for an offer
    from the waiting list. Free is the slot's capacity less both."""
    return f"{_c(centre)}:slots:{date}"


def slot_capacity(centre: str) -> str:
    """Capacity "auto": people a slot, by date (kept from a day's first booking on) and under
    `auto` the centre's latest figure, for days not yet booked."""
    return f"{_c(centre)}:slot-capacity"


def slot_blocks(centre: str, date: str) -> str:
    """The day's blocked slot starts, each with why (JSON): no new bookings there."""
    return f"{_c(centre)}:slot-blocks:{date}"


def waitlist(centre: str, date: str) -> str:
    """The day's waiting list: booking references scored by when they joined (ms)."""
    return f"{_c(centre)}:waitlist:{date}"


def offer(centre: str, ref: str) -> str:
    """A place held for one booking reference from a waiting list, until it answers."""
    return f"{_c(centre)}:offer:{ref}"


def offers(centre: str) -> str:
    """Every open offer's booking reference, scored by when it lapses (ms)."""
    return f"{_c(centre)}:offers"


def mail_outbox(centre: str) -> str:
    """Emails an appointment's change asked for, written in the same script as the change
    (JSON each), until the worker turns them into jobs."""
    return f"{_c(centre)}:mail-outbox"


# --- an application of the booking platform (no centre: its own hash tag) ---------------------
# An application's keys carry its booking token's hash in a hash tag, so that the one script a
# /book request runs first reads the application and takes from its rate allowance together.

def application(token_hash: str) -> str:
    """An approved application, under its booking token's hash: what the import gave (the
    personal fields, the email address), its status and its waiting lists."""
    return f"{PREFIX}:{{t:{token_hash}}}:application"


def application_rate(token_hash: str) -> str:
    """A booking token's request allowance (a token bucket, as a device credential's)."""
    return f"{PREFIX}:{{t:{token_hash}}}:rate"


def application_refs() -> str:
    """Application reference -> its booking token's hash (what an import updates)."""
    return f"{PREFIX}:application-refs"


def token_failures_address(address: str) -> str:
    """An address's unknown, withdrawn or malformed booking and follow tokens in the current
    window: one count for both, so that 10 get 429 on every /book and follow route (§11)."""
    return f"{PREFIX}:token-failures:addr:{address}"


def appointment_moves() -> str:
    """Moves between centres under way, by booking reference (JSON): the new place is taken,
    the old one not yet freed. The repair job finishes one that a crash left half-done."""
    return f"{PREFIX}:appointment-moves"


def mail_outbox_global() -> str:
    """Emails no centre's change asked for (an import's invitations), as `mail_outbox`."""
    return f"{PREFIX}:mail-outbox"


def mail(mail_id: str) -> str:
    """One email's state: queued, sent or failed, its attempts, what it is about (no address,
    no name). Created once: a second request for the same email finds it and stops."""
    return f"{PREFIX}:mail:{mail_id}"


def mail_sending(mail_id: str) -> str:
    """Held, expiring, by the worker sending that email: a second worker leaves it."""
    return f"{PREFIX}:mail-sending:{mail_id}"


def mail_retries() -> str:
    """Emails to try again, scored by when (ms)."""
    return f"{PREFIX}:mail-retries"


def mail_counts() -> str:
    """Emails sent and failed, by kind (`sent:KIND`, `failed:KIND`), for /metrics."""
    return f"{PREFIX}:mail-counts"


# --- keys that belong to no centre --------------------------------------------------------------

def token(token_hash: str) -> str:
    return f"{PREFIX}:token:{token_hash}"


def token_names() -> str:
    """Token name -> token hash, so `tokens revoke NAME` finds it."""
    return f"{PREFIX}:token-names"


def credential_names() -> str:
    """Credential id -> its name and role, kept after revocation: the audit names who acted."""
    return f"{PREFIX}:credential-names"


def credential_centres() -> str:
    """The centres whose credential generation some web process has read: a revocation sets
    each anew (auth/credentials.py)."""
    return f"{PREFIX}:credential-centres"


def booking_index() -> str:
    """Booking reference -> the centre that holds it."""
    return f"{PREFIX}:booking-index"


def receipt_index() -> str:
    """Receipt number -> the centre that holds it."""
    return f"{PREFIX}:receipt-index"


def follow_token(token_hash: str) -> str:
    """A follow token's SHA-256 -> its centre, date and ticket number (nothing about anyone);
    it expires when the ticket's day ends."""
    return f"{PREFIX}:follow:{token_hash}"


def notify_counts() -> str:
    """Text messages sent and given up, city-wide, for `/metrics`."""
    return f"{PREFIX}:notify-counts"


def idempotency_global(digest: str) -> str:
    return f"{PREFIX}:idem:{digest}"


def schedule_lock(job: str) -> str:
    """Held for one interval by the worker that enqueued a periodic job."""
    return f"{PREFIX}:schedule:{job}"


def demo_clock() -> str:
    """`queueserver demo`: the demo clock's last reading, so a restarted demo goes on from it."""
    return f"{PREFIX}:demo:clock"


# --- staff logins and their browser sessions (no centre) -----------------------------------------

def user(name: str) -> str:
    """A staff login: its role, centre, counter and password hash."""
    return f"{PREFIX}:user:{name}"


def user_names() -> str:
    """Every staff login's name, so the supervisor's screen lists them without a SCAN."""
    return f"{PREFIX}:user-names"


def user_sessions(name: str) -> str:
    """The session hashes of one login, so revoking it ends every browser it signed in."""
    return f"{PREFIX}:user-sessions:{name}"


def session(session_hash: str) -> str:
    """One signed-in browser, under the hash of its cookie's id; expires with the cookie."""
    return f"{PREFIX}:session:{session_hash}"


def login_failures_user(name: str) -> str:
    return f"{PREFIX}:login-failures:user:{name}"


def login_failures_address(address: str) -> str:
    return f"{PREFIX}:login-failures:addr:{address}"


def login_failures_device(device_hash: str) -> str:
    """Failed logins from one browser trusted for a login (its device cookie), which are
    counted apart from the login's own so that strangers cannot lock that browser out."""
    return f"{PREFIX}:login-failures:device:{device_hash}"


def lookup_failures(credential_id: str) -> str:
    """One credential's failed booking look-ups in the current window (their count)."""
    return f"{PREFIX}:lookup-failures:{credential_id}"


def rate_bucket(credential_id: str, centre: str | None = None) -> str:
    """One credential's request allowance (a token bucket), in its centre's slot when it has
    one (a counter's script takes from it in the same step as its work)."""
    return f"{_c(centre)}:rate:{credential_id}" if centre else f"{PREFIX}:rate:{credential_id}"


# --- booking sync (no centre) --------------------------------------------------------------------

def import_plan(run: str) -> str:
    """One import's notes per booking reference (its last row's fingerprint), while it runs."""
    return f"{PREFIX}:import-plan:{run}"


def booking_feed(feed: str) -> str:
    """A booking feed's validators (ETag, Last-Modified) and its last sync, by the URL's hash."""
    return f"{PREFIX}:booking-feed:{feed}"


def booking_feed_lock(feed: str) -> str:
    """Held, expiring, by the one sync of that feed that runs."""
    return f"{PREFIX}:booking-feed-lock:{feed}"


# --- announcement audio (no centre: segments and clips are named by content, shared by all) ----

def sound_segment(segment_id: str) -> str:
    """One rendered segment of speech (WAV), named by what made it (engine, voice, text)."""
    return f"{PREFIX}:sound:segment:{segment_id}"


def sound_segments() -> str:
    """The names of every segment stored, so a call checks the ones it needs in one step."""
    return f"{PREFIX}:sound:segments"


def sound_clip(name: str) -> str:
    """One language of one call joined from segments (WAV), under the name that lists them."""
    return f"{PREFIX}:sound:clip:{name}"


def sound_planned(name: str) -> str:
    """Set while a call's event names this clip: only such a name is joined for a request."""
    return f"{PREFIX}:sound:planned:{name}"


# --- the benchmark (`queueserver bench`, on its own Redis) ----------------------------------------

def bench_floor() -> str:
    """The floor relay's stream: what a bare append-and-forward costs, beside the project."""
    return f"{PREFIX}:bench:floor"
