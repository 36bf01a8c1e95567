"""The booking platform's emails (CONTRACT §11), sent by the worker, never from a request.

A change asks for an email by writing an entry to an outbox in the same script as the change
(`keys.mail_outbox`, or the import's `keys.mail_outbox_global`), so none is lost and none holds
up a booking. The worker's dispatcher (one at a time, city-wide) turns each entry into a mail
record named by the entry's key (`keys.mail`: created once, so an entry read twice is one
email) and an RQ job on the `mail` queue that carries only the record's id. The job claims the
record (`keys.mail_sending`), so two workers never send one email twice, renders it from the
Jinja2 templates in `templates/mail/` (both languages, plain text with an HTML alternative; a
confirmation carries the visit as an iCalendar attachment) and sends it through SMTP, or, without
`[mail]`, writes it as an `.eml` file under `{data_dir}/outbox/`. A failure is tried again with
backoff for an hour (`keys.mail_retries`, which the dispatcher also reads), then counted as
failed; `/metrics` shows the counts (`keys.mail_counts`).

Neither a record, a job's arguments nor a log line holds an address, a name or a booking token:
the address and the token are read from the application when the email is made.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import smtplib
import ssl
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import icalendar
import redis

from queueserver.appointments import applications, calendar
from queueserver.platform import config as config_mod
from queueserver.platform import runtime
from queueserver.platform.clock import Clock, from_environment, ms
from queueserver.platform.config import Centre, Config
from queueserver.platform.templates import environment
from queueserver.store import keys

log = logging.getLogger("queueserver.appointments.mail")

QUEUE = "mail"
KINDS = ("invitation", "confirmation", "cancellation", "offer", "reminder", "rebook")
# Entries turned into mail records per pass of the dispatcher.
BATCH = 200
# One dispatcher at a time, city-wide; a dispatcher that died frees the lock after this long.
DISPATCH_LOCK_S = 60
# A job claims its email for this long: far longer than an SMTP exchange that has timed out.
CLAIM_S = 300
SMTP_TIMEOUT_S = 10
# Retries: after 30 s, then twice as long each time, at most 15 minutes apart, for an hour.
FIRST_RETRY_S = 30
MAX_RETRY_S = 15 * 60
GIVE_UP_AFTER = dt.timedelta(hours=1)
# An email handed to RQ is handed again after this long unless its job settled it: the job may
# have been lost with a worker (the send claim stops a second send).
REQUEUE_S = 600
# A sent or failed email's record is kept this long, so an entry read again is still one email.
KEPT_S = 30 * 86400
DEFAULT_SENDER = "Booking platform <no-reply@localhost>"

_TEMPLATES = environment()
SUBJECTS = {
    "invitation": "預約你的證件服務時間 Book your visit to the service centre",
    "confirmation": "預約已確認 Your appointment is confirmed",
    "cancellation": "預約已取消 Your appointment is cancelled",
    "offer": "候補名額已為你保留 A place is held for you",
    "reminder": "明天的預約提示 Reminder: your appointment",
    "rebook": "預約已取消，請重新預約 Your appointment was cancelled: please book again",
}


def mail_id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:32]


# --- the dispatcher ----------------------------------------------------------------------------

def create(r: redis.Redis, entry: dict[str, Any], now: dt.datetime) -> str | None:
    """The email an outbox entry asks for, made once; its id, or None when it was made before."""
    ident = mail_id(str(entry["key"]))
    key = keys.mail(ident)
    if not r.hsetnx(key, "created_at", now.isoformat(timespec="seconds")):
        return None
    record: dict[Any, Any] = {k: "" if v is None else str(v) for k, v in entry.items()
                              if k != "key"}
    record.update(state="queued", attempts="0", first_at_ms=str(ms(now)))
    pipe = r.pipeline(transaction=False)
    pipe.hset(key, mapping=record)
    pipe.expire(key, KEPT_S)
    # Due now: the dispatcher's next pass hands it to a job.
    pipe.zadd(keys.mail_retries(), {ident: ms(now)})
    pipe.execute()
    return ident


def dispatch(config: Config, r: redis.Redis, enqueue: Any, now: dt.datetime) -> int:
    """One pass: every outbox's entries made into emails, and every email due handed to a job
    (`enqueue(mail_id)`); returns how many were handed. One dispatcher at a time: each entry is
    read, made (once, whoever reads it) and only then taken off its outbox."""
    owner = uuid.uuid4().hex
    lock = keys.schedule_lock("mail-dispatch")
    if not r.set(lock, owner, nx=True, ex=DISPATCH_LOCK_S):
        return 0
    try:
        outboxes = [keys.mail_outbox_global(), *(keys.mail_outbox(c.id) for c in config.centres)]
        for outbox in outboxes:
            entries: Any = r.lrange(outbox, 0, BATCH - 1)
            for raw in entries:
                create(r, json.loads(raw), now)
            if entries:
                r.ltrim(outbox, len(entries), -1)
        handed = 0
        due: Any = r.zrangebyscore(keys.mail_retries(), "-inf", ms(now), start=0, num=BATCH)
        for ident in due:
            # Pushed on first, so a job lost with its worker is handed again later.
            r.zadd(keys.mail_retries(), {ident: ms(now) + REQUEUE_S * 1000})
            enqueue(str(ident))
            handed += 1
        return handed
    finally:
        if r.get(lock) == owner:
            r.delete(lock)


# --- one email -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Outgoing:
    message: EmailMessage
    kind: str


class Dropped(Exception):
    """The email cannot be made any more (its application withdrawn, superseded or purged)."""


def _application(r: redis.Redis, ref: str) -> dict[str, str]:
    digest: Any = r.hget(keys.application_refs(), ref)
    record: Any = r.hgetall(keys.application(str(digest))) if digest else {}
    return dict(record)


def _visit(centre: Centre, record: dict[str, str], tz: Any) -> dict[str, Any]:
    date = dt.date.fromisoformat(record["date"])
    start = calendar.at(centre, date, record["start"], tz)
    end = calendar.at(centre, date, record["end"], tz)
    return {"date": date, "start": start, "end": end,
            "weekday_en": start.strftime("%A"),
            "weekday_zh": "星期" + "一二三四五六日"[start.weekday()]}


def ics(config: Config, centre: Centre, visit: dict[str, Any], ref: str, version: int,
        bring_en: str, bring_zh: str) -> bytes:
    """The visit as an iCalendar event, in the centre's time zone, one event per appointment
    (its UID) whose SEQUENCE grows with each change, so a calendar moves it rather than adding
    another."""
    cal = icalendar.Calendar()
    cal.add("prodid", "-//queueserver//booking platform//EN")
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    event = icalendar.Event()
    uid = hashlib.sha256(f"appointment:{ref}".encode()).hexdigest()[:24]
    event.add("uid", f"{uid}@queueserver")
    event.add("sequence", version)
    event.add("dtstamp", dt.datetime.now(dt.UTC))
    event.add("dtstart", visit["start"])
    event.add("dtend", visit["end"])
    event.add("summary", f"{centre.name_zh} 預約 Appointment at {centre.name_en}")
    where = [centre.name_zh, centre.address_zh, centre.name_en, centre.address_en]
    event.add("location", ", ".join(w for w in where if w))
    event.add("description", f"{bring_zh}\n{bring_en}")
    cal.add_component(event)
    cal.add_missing_timezones()
    return bytes(cal.to_ical())


def bring(config: Config, record: dict[str, str], app: dict[str, str]) -> tuple[str, str]:
    """What to bring, in both languages (CONTRACT §11); never the numbers themselves."""
    kind = app.get("application_type", "")
    fee = next((v for k, v in config.fees.items() if k == kind), None)
    fee_en = f"the fee, HK${fee}" if fee is not None else "the fee"
    fee_zh = f"費用港幣 {fee} 元" if fee is not None else "費用"
    return (f"Bring your Hong Kong identity card (or, under 11, the access notice), your "
            f"passport and {fee_en}. The photo is taken at the centre.",
            f"請帶備香港永久性居民身份證（11 歲以下：《索取資料申請》通知書）、護照及{fee_zh}。"
            "相片於中心即場拍攝。")


def build(config: Config, r: redis.Redis, secret: bytes, ident: str,
          record: dict[str, str]) -> Outgoing:
    """The email of one record, made now from its application (the address, the link)."""
    kind = record["kind"]
    app = _application(r, record["ref"])
    if not app.get("email") or app.get("status") != applications.APPROVED:
        raise Dropped(f"{kind}: its application is withdrawn or its personal data purged")
    if kind == "invitation" and applications.token_hash(
            applications.token_for(secret, app["salt"]))[:20] != record.get("token_prefix"):
        raise Dropped("invitation: the application was given a newer booking token")
    centre = config.centre(record.get("centre") or "")
    context: dict[str, Any] = {
        "kind": kind, "link": applications.link(config, None, secret, app["salt"]),
        "ref": record["ref"], "centre": centre, "visit": None, "until": None,
        "subject": SUBJECTS[kind],
        "bring_en": "", "bring_zh": "", "changes_left": None,
    }
    if centre is not None and record.get("date"):
        context["visit"] = _visit(centre, record, config.tz)
        context["bring_en"], context["bring_zh"] = bring(config, record, app)
    if record.get("until_ms"):
        context["until"] = applications.when(int(record["until_ms"]), config.tz)
    msg = EmailMessage()
    sender = config.mail.sender if config.mail else DEFAULT_SENDER
    msg["From"] = sender
    msg["To"] = app["email"]
    msg["Subject"] = SUBJECTS[kind]
    msg["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    # The same id each time this email is made: a receiver keeps one of two copies.
    domain = sender.rpartition("@")[2].rstrip(">") or "queueserver"
    msg["Message-ID"] = f"<{ident}@{domain}>" if domain else make_msgid()
    msg.set_content(_TEMPLATES.get_template(f"mail/{kind}.txt").render(**context))
    msg.add_alternative(_TEMPLATES.get_template(f"mail/{kind}.html").render(**context),
                        subtype="html")
    if kind in ("confirmation", "reminder") and centre is not None and context["visit"]:
        version = int(record.get("version") or 1)
        body = ics(config, centre, context["visit"], record["ref"], version,
                   context["bring_en"], context["bring_zh"])
        msg.add_attachment(body, maintype="text", subtype="calendar",
                           filename="appointment.ics", params={"method": "PUBLISH"})
    return Outgoing(msg, kind)


def deliver(config: Config, folder: Path, ident: str, message: EmailMessage) -> None:
    """Through `[mail]`'s SMTP server, or without it into `{data_dir}/outbox/` as a file."""
    if config.mail is None:
        outbox = folder / "outbox"
        outbox.mkdir(mode=0o700, exist_ok=True)
        part = outbox / f".{ident}.part"
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(bytes(message))
        part.replace(outbox / f"{ident}.eml")
        return
    url = urlsplit(config.mail.smtp_url)
    host = url.hostname or "localhost"
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if url.scheme == "smtps":
        smtp = smtplib.SMTP_SSL(host, url.port or 465, timeout=SMTP_TIMEOUT_S, context=context)
    else:
        smtp = smtplib.SMTP(host, url.port or 25, timeout=SMTP_TIMEOUT_S)
    with smtp:
        smtp.ehlo()
        if url.scheme == "smtp" and smtp.has_extn("starttls"):
            smtp.starttls(context=context)
            smtp.ehlo()
        if config.mail.username:
            password = os.environ.get(config.mail.password_env, "")
            smtp.login(config.mail.username, password)
        smtp.send_message(message)


def next_try(record: dict[str, str], now: dt.datetime) -> int | None:
    """When to try a failed email again (ms), or None: an hour since the first try is over."""
    attempts = int(record.get("attempts") or 0)
    delay = min(MAX_RETRY_S, FIRST_RETRY_S * 2 ** max(0, attempts - 1))
    at: int = ms(now) + delay * 1000
    first = int(record.get("first_at_ms") or ms(now))
    if at > first + GIVE_UP_AFTER.total_seconds() * 1000:
        return None
    return at


def send(config: Config, r: redis.Redis, secret: bytes, clock: Clock, ident: str,
         folder: Path) -> str:
    """Send one email, once; returns what became of it: sent, failed, retry, dropped, or
    skipped (sent before, or being sent by another worker)."""
    claim = keys.mail_sending(ident)
    if not r.set(claim, "1", nx=True, ex=CLAIM_S):
        return "skipped"
    key = keys.mail(ident)
    try:
        found: Any = r.hgetall(key)
        record = dict(found)
        if record.get("state") != "queued":
            r.zrem(keys.mail_retries(), ident)
            return "skipped"
        try:
            outgoing = build(config, r, secret, ident, record)
            deliver(config, folder, ident, outgoing.message)
        except Dropped as e:
            r.hset(key, mapping={"state": "dropped"})
            r.zrem(keys.mail_retries(), ident)
            log.info("email %s not sent: %s", ident, e)
            return "dropped"
        except (smtplib.SMTPException, OSError) as e:
            record["attempts"] = str(int(record.get("attempts") or 0) + 1)
            again = next_try(record, clock.now())
            if again is None:
                r.hset(key, mapping={"state": "failed", "attempts": record["attempts"]})
                r.zrem(keys.mail_retries(), ident)
                r.hincrby(keys.mail_counts(), f"failed:{record['kind']}", 1)
                log.warning("email %s (%s) failed for an hour; given up: %s", ident,
                            record["kind"], type(e).__name__)
                return "failed"
            r.hset(key, mapping={"attempts": record["attempts"]})
            r.zadd(keys.mail_retries(), {ident: again})
            log.info("email %s (%s) not sent (%s); trying again", ident, record["kind"],
                     type(e).__name__)
            return "retry"
        r.hset(key, mapping={"state": "sent", "sent_at": clock.now().isoformat(
            timespec="seconds")})
        r.zrem(keys.mail_retries(), ident)
        r.hincrby(keys.mail_counts(), f"sent:{record['kind']}", 1)
        log.info("email %s (%s) sent", ident, record["kind"])
        return "sent"
    finally:
        r.delete(claim)


def send_job(ident: str) -> str:
    """The worker's job (queue `mail`): config, Redis, secret and clock from its environment."""
    config = config_mod.load_default()
    r = runtime.connect(runtime.redis_url(config))
    try:
        return send(config, r, runtime.secret(config), from_environment(config.tz), ident,
                    runtime.data_dir(config))
    finally:
        r.close()
