"""Text messages through the centre's own gateway (CONTRACT §9): `near_turn` when `when_ahead`
people are ahead of a ticket that gave a phone number, `called` when it is called. Each is a
signed JSON POST to the config's `[notify] webhook_url`, made by the worker, never by the call.

- **Dispatch** (`Dispatch`, threads of the worker's `notify` process): each centre's event
  stream is read from a cursor kept in Redis; a call, a check-in, a transfer or a requeue
  looks at the first `when_ahead + 1` places of that ticket's service. Each message is made at
  most once per ticket and kind by one script (`notify_claim.lua`), however many workers read the
  same events, and then enqueued as an RQ job. A message whose job was lost (a worker killed
  between the two) is still pending in Redis and enqueued again by the sweep.
- **Delivery** (`deliver`, the RQ job, queue `notify`): one POST with a 5-second timeout. RQ
  retries it with backoff; 10 minutes after the message was made, a failure gives it up, and it
  is counted in `/metrics`. A message already sent, or being sent by another job, is left alone,
  so a second worker never sends it twice; a retry after an unanswered POST keeps its delivery
  id, so the gateway can tell a repeat.
- The `notify` queue has a worker process of its own (tools/worker.py): a gateway that does not
  answer holds that process only, never announcements, imports or the day close.

The phone number is read from its own key (gone when the day ends) when the message is sent:
it is in no job's arguments, no record of the message, no event and no log line.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import threading
import time
import uuid
from typing import Any

import httpx
import redis
from rq import Queue, Retry, get_current_job
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from queueserver.follow import tokens
from queueserver.platform import config as config_mod
from queueserver.platform import runtime
from queueserver.platform.clock import Clock
from queueserver.platform.config import Centre, Config
from queueserver.store import keys
from queueserver.store.lua import Scripts

log = logging.getLogger("queueserver.follow.notify")

QUEUE = "notify"
NEAR_TURN = "near_turn"
CALLED = "called"
# CONTRACT §9: an unanswered POST is a failure after 5 seconds; a message is retried with backoff
# for 10 minutes, then given up.
TIMEOUT_S = 5.0
GIVE_UP_AFTER_S = 600
# RQ's retry intervals (seconds): quick at first (a gateway blinking), then every two minutes;
# together longer than GIVE_UP_AFTER_S, so time, not the count, gives a message up.
RETRY_INTERVALS_S = [2, 4, 8, 16, 32, 64, 120, 120, 120, 120, 120]
# A job sending a message holds it this long at most (a POST takes 5 seconds at worst).
SENDING_LOCK_S = 30
# A message's record outlives its day: no phone number is in it.
RECORD_TTL_S = 2 * 86400
# Events read at once, and how long one read waits for more.
READ_COUNT = 200
READ_BLOCK_MS = 2000
# Pending messages older than this whose job is gone are enqueued again.
SWEEP_AFTER_S = 20.0
SWEEP_EVERY_S = 15.0
RETRY_S = 1.0
# Events that change who is near the front of a service's queue.
QUEUE_EVENTS = frozenset({"ticket.issued", "ticket.called", "ticket.transferred",
                          "ticket.requeued", "ticket.no_show"})


class DeliveryFailed(Exception):
    """The gateway did not take the message (its words never hold a phone number)."""


def job_id(centre: str, date: str, number: str, kind: str) -> str:
    return f"notify-{centre}-{date}-{number}-{kind}"


def _member(date: str, number: str, kind: str) -> str:
    return f"{date}:{number}:{kind}"


# --- what is sent ------------------------------------------------------------------------------

def texts(centre: Centre, kind: str, number: str, counter: int | None,
          ahead: int | None) -> dict[str, str]:
    if kind == CALLED:
        return {"en": f"Ticket {number}, please go to counter {counter} ({centre.name_en}).",
                "zh": f"籌號 {number}，請到 {counter} 號櫃位（{centre.name_zh}）。"}
    if not ahead:
        return {"en": f"Ticket {number} at {centre.name_en}: you are next. Please come back "
                      "to the waiting hall.",
                "zh": f"{centre.name_zh}：籌號 {number} 即將叫號，請返回大堂等候。"}
    return {"en": f"Ticket {number} at {centre.name_en}: {ahead} ahead of you. Please come back "
                  "to the waiting hall.",
            "zh": f"{centre.name_zh}：籌號 {number} 前面還有 {ahead} 人，請返回大堂等候。"}


def signature(key: bytes, at: int, body: bytes) -> str:
    """`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, as the gateway checks it."""
    mac = hmac.new(key, str(at).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"


# --- delivery: the RQ job ---------------------------------------------------------------------

def deliver(centre_id: str, date: str, number: str, kind: str) -> str:
    """The worker's job: send one message, or give it up when its time is over."""
    cfg = config_mod.load_default()
    r = runtime.connect(runtime.redis_url(cfg))
    try:
        return Delivery(cfg, r, runtime.secret(cfg)).send(centre_id, date, number, kind)
    finally:
        r.close()


class Delivery:
    def __init__(self, config: Config, r: redis.Redis, secret: bytes,
                 client: httpx.Client | None = None) -> None:
        self.config = config
        self.r = r
        self.secret = secret
        self.scripts = Scripts(r)
        self.client = client

    def _settle(self, centre: str, date: str, number: str, kind: str, outcome: str,
                attempts: int) -> bool:
        settled = self.scripts(
            "notify_settle", [keys.notify_delivery(centre, date, number, kind),
                              keys.notify_pending(centre)],
            [outcome, int(time.time() * 1000), _member(date, number, kind), attempts])
        if settled:
            self.r.hincrby(keys.notify_counts(), outcome, 1)
        return bool(settled)

    def send(self, centre_id: str, date: str, number: str, kind: str) -> str:
        record_key = keys.notify_delivery(centre_id, date, number, kind)
        record: dict[str, str] = self.r.hgetall(record_key)  # type: ignore[assignment]
        if record.get("state") != "pending":
            return f"nothing to do ({record.get('state') or 'no such message'})"
        lock = keys.notify_sending(centre_id, date, number, kind)
        if not self.r.set(lock, "1", nx=True, ex=SENDING_LOCK_S):
            return "being sent by another job"
        try:
            attempts = int(self.r.hincrby(record_key, "attempts", 1))
            return self._send(centre_id, date, number, kind, record, attempts)
        finally:
            self.r.delete(lock)

    def _send(self, centre_id: str, date: str, number: str, kind: str, record: dict[str, str],
              attempts: int) -> str:
        centre = self.config.centre(centre_id)
        stored: Any = self.r.hget(keys.phones(centre_id, date), number)
        phone: dict[str, str] = json.loads(stored) if stored else {}
        notify = self.config.notify
        if centre is None or notify is None or not phone.get("phone"):
            # The day ended (the number was deleted with it), or text messages were turned off.
            self._settle(centre_id, date, number, kind, "dropped", attempts)
            return "dropped"
        try:
            status = self._post(centre, notify, date, number, kind, record, phone)
        except (DeliveryFailed, httpx.HTTPError) as e:
            reason = str(e) if isinstance(e, DeliveryFailed) else type(e).__name__
            made_s = int(record.get("created_ms") or 0) / 1000
            job = get_current_job()
            retries_left = job.retries_left if job is not None else 0
            if time.time() - made_s >= GIVE_UP_AFTER_S or not retries_left:
                if self._settle(centre_id, date, number, kind, "given_up", attempts):
                    log.warning("text message given up", extra={
                        "kind": kind, "centre": centre_id, "ticket": number,
                        "delivery": record.get("delivery"), "attempts": attempts,
                        "reason": reason})
                return "given up"
            log.info("text message not taken; retried", extra={
                "kind": kind, "centre": centre_id, "ticket": number,
                "delivery": record.get("delivery"), "attempts": attempts, "reason": reason})
            raise DeliveryFailed(reason) from None
        self._settle(centre_id, date, number, kind, "sent", attempts)
        log.info("text message sent", extra={"kind": kind, "centre": centre_id,
                                              "ticket": number, "status": status,
                                              "delivery": record.get("delivery")})
        return "sent"

    def _post(self, centre: Centre, notify: config_mod.Notify, date: str, number: str,
              kind: str, record: dict[str, str], phone: dict[str, str]) -> int:
        key = os.environ.get(notify.secret_env)
        if not key:
            raise DeliveryFailed(f"the signing key's variable {notify.secret_env} is not set")
        follow_url = tokens.url_of(self.r, self.secret,
                                   self.config.public_url or phone.get("base", ""),
                                   centre.id, date, number)
        counter = int(record["counter"]) if record.get("counter") else None
        ahead = int(record["ahead"]) if record.get("ahead") else None
        body = json.dumps({
            "kind": kind, "centre": centre.id, "ticket": number, "counter": counter,
            "phone": phone["phone"], "follow_url": follow_url,
            "text": texts(centre, kind, number, counter, ahead),
        }, ensure_ascii=False, separators=(",", ":")).encode()
        at = int(time.time())
        headers = {"Content-Type": "application/json",
                   "Queueserver-Delivery": record.get("delivery", ""),
                   "Queueserver-Signature": signature(key.encode(), at, body)}
        client = self.client or httpx.Client(timeout=TIMEOUT_S, follow_redirects=False)
        try:
            answer = client.post(notify.webhook_url, content=body, headers=headers)
        finally:
            if self.client is None:
                client.close()
        if not 200 <= answer.status_code < 300:
            raise DeliveryFailed(f"the gateway answered {answer.status_code}")
        return answer.status_code


# --- dispatch: the worker reads the events ----------------------------------------------------

class Dispatch:
    """Makes the messages the events call for, and enqueues their jobs."""

    def __init__(self, config: Config, r: redis.Redis, rq: redis.Redis,
                 clock: Clock | None = None) -> None:
        assert config.notify is not None
        self.config = config
        self.notify = config.notify
        self.r = r
        self.rq = rq
        self.clock = clock or Clock(config.tz)
        self.scripts = Scripts(r)
        self.queue = Queue(QUEUE, connection=rq)

    def _cursor(self, centre: str) -> str:
        # The first start reads the live stream from its beginning: today's events in it are a
        # few thousand at most, the others are passed over, and whatever was made is not made
        # again. (A worker that starts after the desk opened still texts today's people.)
        self.r.set(keys.notify_cursor(centre), "0-0", nx=True)
        return str(self.r.get(keys.notify_cursor(centre)) or "0-0")

    def step(self, centre: Centre, cursor: str, block_ms: int | None) -> tuple[str, int]:
        """Reads the events after `cursor` (waiting up to `block_ms` for some) and makes the
        messages they call for; the new cursor, and how many messages were made."""
        batches: Any = self.r.xread({keys.events(centre.id): cursor}, count=READ_COUNT,
                                    block=block_ms)
        made = 0
        for event_id, fields in (batches[0][1] if batches else []):
            made += self._event(centre, str(event_id), fields)
            cursor = str(event_id)
        if batches:
            self.r.set(keys.notify_cursor(centre.id), cursor)
        return cursor, made

    def _event(self, centre: Centre, event_id: str, fields: dict[str, str]) -> int:
        kind = fields.get("type", "")
        if kind not in QUEUE_EVENTS:
            return 0
        date = fields.get("at", "")[:10]
        if date != self.clock.today():
            return 0  # a day gone by: its numbers were deleted with it
        data = json.loads(fields.get("data", "{}"))
        made = 0
        # A call read long after it was made (a worker that was down) is not texted any more:
        # by then the person was at the counter, or called again.
        appended_s = int(event_id.split("-", 1)[0]) / 1000
        if kind == "ticket.called" and time.time() - appended_s < GIVE_UP_AFTER_S:
            counter = data.get("counter")
            made += self.claim(centre.id, date, str(data.get("ticket")), CALLED,
                               counter=int(counter) if isinstance(counter, int) else None)
        service = data.get("service")
        if isinstance(service, str):
            front = self.r.zrange(keys.queue(centre.id, date, service), 0,
                                  self.notify.when_ahead)
            for ahead, number in enumerate(front):
                made += self.claim(centre.id, date, str(number), NEAR_TURN, ahead=ahead)
        return made

    def claim(self, centre: str, date: str, number: str, kind: str,
              counter: int | None = None, ahead: int | None = None) -> int:
        made = self.scripts("notify_claim", [
            keys.phones(centre, date), keys.notify_delivery(centre, date, number, kind),
            keys.notify_pending(centre)], [
            uuid.uuid4().hex, int(time.time() * 1000), "" if counter is None else counter,
            "" if ahead is None else ahead, RECORD_TTL_S, _member(date, number, kind), number])
        if made:
            self.enqueue(centre, date, number, kind)
        return int(made)

    def enqueue(self, centre: str, date: str, number: str, kind: str) -> None:
        self.queue.enqueue(
            deliver, centre, date, number, kind, job_id=job_id(centre, date, number, kind),
            retry=Retry(max=len(RETRY_INTERVALS_S), interval=RETRY_INTERVALS_S),
            job_timeout=int(TIMEOUT_S * 6), result_ttl=3600, failure_ttl=86400)

    def sweep(self, centre: str) -> int:
        """Pending messages whose job is gone (a worker stopped between making and enqueueing,
        or its job's record expired) are enqueued again; the job settles each once."""
        before = (time.time() - SWEEP_AFTER_S) * 1000
        again = 0
        for member in self.r.zrangebyscore(keys.notify_pending(centre), "-inf", before):
            date, number, kind = str(member).split(":")
            try:
                job: Job | None = Job.fetch(job_id(centre, date, number, kind),
                                            connection=self.rq)
            except NoSuchJobError:
                job = None
            if job is None or job.get_status() in (JobStatus.FINISHED, JobStatus.FAILED,
                                                   JobStatus.STOPPED, JobStatus.CANCELED):
                self.enqueue(centre, date, number, kind)
                again += 1
        return again

    def run_centre(self, centre: Centre, stop: threading.Event) -> None:
        cursor: str | None = None
        swept = 0.0
        while not stop.is_set():
            try:
                if cursor is None:
                    cursor = self._cursor(centre.id)
                cursor, _ = self.step(centre, cursor, READ_BLOCK_MS)
                if time.monotonic() - swept > SWEEP_EVERY_S:
                    self.sweep(centre.id)
                    swept = time.monotonic()
            except Exception:
                # Messages wait in Redis; the next pass makes and sends them.
                log.exception("text-message dispatch for %s failed; retrying", centre.id)
                stop.wait(RETRY_S)

    def once(self) -> int:
        """Everything the events call for now, and the sweep (`worker --burst`)."""
        made = 0
        for centre in self.config.centres:
            cursor = self._cursor(centre.id)
            while True:
                before = cursor
                cursor, n = self.step(centre, cursor, None)
                made += n
                if cursor == before:
                    break  # nothing after it: read to the end
            self.sweep(centre.id)
        return made
