"""The follow page's live fan-out: each phone's socket gets its own ticket's whole state, within a
second of any change to it (CONTRACT §9), without making calls slower for the hall.

A ticket's place changes only when someone ahead of it leaves its queue (or joins ahead of it,
as a transferred ticket keeping its place may). So each web process keeps, per centre it has
phones for, the day's waiting order per service and each ticket as the follow page shows it:
built from a snapshot valid at one stream id (read a page at a time, `follow_page.lua`, and
kept only if every page was read at the same id; else in one step, `follow_state.lua`), then
kept current from the centre's events, which the process's reader
hands over after every screen has them (live/events.py, `after_screens`). A batch of events
costs one small script for the centre (what the estimates start from, and the hall's notices),
one play of the calling order for every waiting place at once (follow/estimates.py), and one
pass over the phones: each phone's place is looked up in a per-service index built once per
batch, never by asking Redis, never by searching a queue.

Each phone has a one-message mailbox: a newer state replaces an unsent one, so a phone that
reads slowly delays nobody and holds no backlog, and a phone's messages always arrive in order.
Phones are released a few dozen at a time, with the event loop free in between, so that a
screen's next event waits for a few dozen phones' sends at most (on the reference machine a
WebSocket frame costs ~150 µs to write: a thousand phones are ~0.15 s of one core per call).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from queueserver.follow import estimates
from queueserver.live.events import Bell, Event, Hub, Subscriber, parse_id
from queueserver.operations import metrics
from queueserver.platform import connections
from queueserver.platform.config import Centre
from queueserver.queue.tickets import Centres

log = logging.getLogger("queueserver.follow")

# Estimates move with time as well as with events (a long service runs on): with phones
# following, they are worked out again this often, and only changed states are sent.
REFRESH_S = 1.0
# Phones handed their message per turn of the event loop: between turns, screens and the
# stream reader run (25 sends: a few milliseconds).
RELEASE_BATCH = 25
# After a failure (Redis away), the fan-out starts again from a fresh snapshot this much later.
RETRY_S = 1.0
# Events taken in one batch at most: well under the subscriber queue (live/events.py).
BATCH_EVENTS = 256
# Events come in bursts (a call, then the clerk's next step; a desk's rush): after the first, the
# fan-out waits this long for the rest, and tells each phone once, well within its second.
COALESCE_S = 0.05
# A day is read a page at a time (follow_page.lua), each page well under half a millisecond of
# Redis (64 tickets ~0.22 ms, 512 places ~0.15 ms): read in one script, a day of 7,000 tickets
# held Redis for ~19 ms, every centre on it waiting (docs/benchmarks.md). If the day moves while
# its pages are read, they are read again, PAGED_TRIES times at most, then the day is read in
# one script after all.
PAGE_TICKETS = 64
PAGE_QUEUE = 512
PAGED_TRIES = 3
# How the model moves a ticket's status on each event type (what the scripts do to it).
STATUS_AFTER = {
    "ticket.called": "called", "ticket.no_show": "no_show", "ticket.accepted": "accepted",
    "ticket.paid": "paid", "ticket.payment_voided": "accepted", "ticket.done": "done",
    "ticket.declined": "declined", "ticket.transferred": "waiting",
    "ticket.requeued": "waiting",
}


@dataclass
class Ticket:
    """One ticket as the follow page shows it, less what is worked out (place, estimate)."""

    service: str
    status: str
    counter: int | None = None
    called_at: str | None = None
    recalls: int = 0


class Phone(Bell):
    """One follow socket: the newest message not yet sent, and what the last one said. It is
    rung when a message is ready, and ended (DAY_ENDED) when the ticket's day has: the socket
    closes (its token answers 404 from then).

    `now`, when set, is the server's write that never waits (web/server.py, send_now): a
    message offered while the socket's task holds none and is not sending goes out at once,
    no task woken (as a display's events do: live/events.py, Forward)."""

    __slots__ = ("now", "number", "said", "sending", "since_ms", "text")

    def __init__(self, number: str) -> None:
        super().__init__()
        self.number = number
        self.text: str | None = None
        self.said: Any = None
        # When the newest event behind the unsent message was appended (Redis ms), for the lag.
        self.since_ms: int | None = None
        self.now: Callable[[str], bool] | None = None
        self.sending = False

    def offer(self, said: Any, text: str, since_ms: int | None) -> bool:
        if said == self.said:
            return False
        self.said = said
        if self.text is None and not self.sending and self.now is not None and self.now(text):
            observe_sent(since_ms)
            return True
        self.text, self.since_ms = text, since_ms
        self.ring()
        return True

    def take(self) -> tuple[str | None, int | None]:
        text, since, self.text, self.since_ms = self.text, self.since_ms, None, None
        return text, since


DAY_ENDED = "day ended"


class CentreFollow:
    """The model of one centre's day in this process, and the phones that follow it."""

    def __init__(self, centres: Centres, hub: Hub, centre: Centre) -> None:
        self.centres = centres
        self.hub = hub
        self.centre = centre
        self.services = [s.code for s in centre.services]
        self.date = ""
        self.floor: tuple[int, int] = (0, 0)
        self.tickets: dict[str, Ticket] = {}
        self.queues: dict[str, list[str]] = {}
        self.estimates: dict[str, list[int] | None] = {}
        # Each message's part that is the same for every phone of the centre.
        self.shared = ""
        self.phones: dict[str, set[Phone]] = {}
        self.ready = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self._places: dict[str, dict[str, int]] = {}
        self._newest_ms: int | None = None

    # --- phones ----------------------------------------------------------------------------

    async def follow(self, number: str) -> Phone:
        """A phone for `number`, with its first message ready once the model is."""
        phone = Phone(number)
        self.phones.setdefault(number, set()).add(phone)
        try:
            await self.ready.wait()
        except BaseException:
            self.unfollow(phone)  # given up waiting (the socket's own timeout): not kept
            raise
        self._offer(phone)
        return phone

    def unfollow(self, phone: Phone) -> None:
        phones = self.phones.get(phone.number)
        if phones is not None:
            phones.discard(phone)
            if not phones:
                del self.phones[phone.number]

    def known(self, number: str) -> bool:
        return number in self.tickets

    # --- the loop ----------------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            sub = await self.hub.subscribe(self.centre.id, "", after_screens=True)
            try:
                await self._follow_events(sub)
            except asyncio.CancelledError:
                raise
            except connections.UNAVAILABLE as e:
                metrics.REDIS_ERRORS.labels("follow").inc()
                log.warning("follow fan-out for %s: redis unreachable (%s); starting again",
                            self.centre.id, type(e).__name__)
            except Exception:
                # Phones of the whole centre depend on it: never die quietly.
                log.exception("follow fan-out for %s failed; starting again", self.centre.id)
            finally:
                self.hub.unsubscribe(self.centre.id, sub)
            await asyncio.sleep(RETRY_S)

    async def _follow_events(self, sub: Subscriber) -> None:
        await self._snapshot()
        self.ready.set()
        await self._fan_out()
        while sub.ended is None:
            events = await self._batch(sub)
            if self.centres.clock.today() != self.date:
                self._day_ended()
                await self._snapshot()
            elif events:
                for event in events:
                    if event.key > self.floor:
                        self._apply(event)
                        self.floor = event.key
            elif not self.phones:
                continue  # nobody to tell: the estimates can wait for the next phone
            if not await self._refresh():
                await self._snapshot()  # the model and Redis disagree: read it whole again
            await self._fan_out()
        # Fell behind (a queue of 512 events): start again from a snapshot.
        log.info("follow fan-out for %s fell behind; reading the day again", self.centre.id)

    async def _batch(self, sub: Subscriber) -> list[Event]:
        """The events queued now, waiting at most REFRESH_S for the first and COALESCE_S more
        for the rest of its burst."""
        events: list[Event] = []
        if not sub.pending:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sub.wait(), REFRESH_S)
        if not sub.pending:
            return events
        # Screens were handed the same events first: their sockets write while this waits.
        await asyncio.sleep(COALESCE_S)
        while len(events) < BATCH_EVENTS and sub.pending:
            events.append(sub.pending.pop(0))
        self._newest_ms = max(e.key[0] for e in events)
        return events

    # --- reading Redis (once a batch, for the whole centre) ------------------------------------

    async def _state(self, full: bool) -> dict[str, Any]:
        result: dict[str, Any] = await self.centres.run_script(
            "follow_state", self.centre, "", None, services=self.services, full=full)
        return result

    async def _snapshot(self) -> None:
        self.date = self.centres.clock.today()
        for _ in range(PAGED_TRIES):
            result = await self._paged()
            if result is not None:
                break
        else:  # a day that never keeps still for a few milliseconds: read in one step
            result = await self._state(full=True)
        self.floor = parse_id(str(result["last_event_id"])) or (0, 0)
        self.queues = {s: list(q) for s, q in _mapping(result["queues"]).items()}
        self.tickets = {
            number: Ticket(service, status, int(counter) if counter else None,
                           called_at or None, int(recalls))
            for number, service, status, counter, called_at, recalls in _rows(result["tickets"])}
        self._set_hall(result)
        self._places.clear()

    async def _paged(self) -> dict[str, Any] | None:
        """What `_state(full=True)` reads, its queues and tickets a page at a time; None when
        the day moved while the pages were read (an event was appended in between)."""
        result = await self._state(full=False)
        at = str(result["last_event_id"])
        queues: dict[str, Any] = {}
        for service in self.services:
            queues[service] = await self._pages(at, PAGE_QUEUE, queue=service)
            if queues[service] is None:
                return None
        tickets = await self._pages(at, PAGE_TICKETS)
        if tickets is None:
            return None
        return {**result, "queues": queues, "tickets": tickets}

    async def _pages(self, at: str, count: int, **part: Any) -> list[Any] | None:
        """Every page of a queue's order (`queue=`) or of the day's tickets, read at stream id
        `at`; None as soon as a page was read at another."""
        items: list[Any] = []
        # (A ticket whose record is gone is left out of its page: pages go by the list.)
        for start in itertools.count(0, count):
            page: dict[str, Any] = await self.centres.run_script(
                "follow_page", self.centre, "", None, start=start, count=count, **part)
            if str(page["last_event_id"]) != at:
                return None
            items += _rows(page["items"])
            if not page["more"]:
                break
        return items

    async def _refresh(self) -> bool:
        """New estimates; False when a queue's length in Redis is not the model's at the same
        stream id (a restore, which emits no events): then the day is read again."""
        result = await self._state(full=False)
        self._set_hall(result)
        if parse_id(str(result["last_event_id"])) != self.floor:
            return True  # events the model has not read yet: compared at a later batch
        lengths = _mapping(result.get("lengths"))
        return all(int(lengths.get(s, 0)) == len(self.queues.get(s, [])) for s in self.services)

    def _set_hall(self, result: dict[str, Any]) -> None:
        """What is the same for every phone's place: the estimates, the notices, issuing."""
        self.estimates = estimates.play(result)
        self.shared = shared_part(self.centre, list(_rows(result["notices"])),
                              bool(result["issuing"]))

    # --- the events --------------------------------------------------------------------------

    def _apply(self, event: Event) -> None:
        kind = str(event.body.get("type", ""))
        data: dict[str, Any] = event.body.get("data") or {}
        number = str(data.get("ticket", ""))
        if kind == "ticket.issued":
            self.tickets[number] = Ticket(str(data.get("service", "")), "waiting")
            self._insert(number, data.get("position"))
            return
        t = self.tickets.get(number)
        if t is None or kind not in STATUS_AFTER and kind != "ticket.recalled":
            return
        if kind == "ticket.recalled":
            t.recalls += 1
            return
        self._leave(number, t)
        t.status = STATUS_AFTER[kind]
        if kind == "ticket.called":
            counter = data.get("counter")
            t.counter = int(counter) if isinstance(counter, int) else None
            t.called_at = str(event.body.get("at") or "") or None
        elif kind in ("ticket.transferred", "ticket.requeued"):
            t.service = str(data.get("service", t.service))
            t.counter, t.called_at = None, None
            self._insert(number, data.get("position"))

    def _insert(self, number: str, position: Any) -> None:
        """At the place the event says it took: the script worked it out right after the
        change, and the events are applied in stream order, so it is the place in Redis."""
        t = self.tickets[number]
        queue = self.queues.setdefault(t.service, [])
        at = position if isinstance(position, int) and 0 <= position <= len(queue) else len(queue)
        queue.insert(at, number)
        self._places.pop(t.service, None)

    def _leave(self, number: str, t: Ticket) -> None:
        queue = self.queues.get(t.service)
        if t.status == "waiting" and queue and number in queue:
            queue.remove(number)
            self._places.pop(t.service, None)

    def _day_ended(self) -> None:
        """Tokens stop working with their day: every open socket is closed."""
        for phones in list(self.phones.values()):
            for phone in list(phones):
                phone.end(DAY_ENDED)

    # --- each phone's state --------------------------------------------------------------------

    def _place(self, service: str, number: str) -> int:
        places = self._places.get(service)
        if places is None:
            places = self._places[service] = {
                n: i for i, n in enumerate(self.queues.get(service, []))}
        return places.get(number, 0)

    def view(self, number: str) -> dict[str, Any] | None:
        t = self.tickets.get(number)
        if t is None:
            return None
        waiting = t.status == "waiting"
        position = self._place(t.service, number) if waiting else 0
        estimate: int | None = 0
        if waiting:
            # None: no counter open for its service (the page says so instead of a figure).
            places = self.estimates.get(t.service)
            estimate = None if places is None else places[position] if position < len(places) else 0
        return {"number": number, "service": t.service, "status": t.status,
                "position": position, "estimated_wait_minutes": estimate,
                "counter": t.counter, "called_at": t.called_at, "recalls": t.recalls}

    def _offer(self, phone: Phone) -> bool:
        view = self.view(phone.number)
        if view is None:
            return False
        said = (tuple(view.values()), self.shared)
        if said == phone.said:
            return False
        text = ('{"type": "follow", "data": {"ticket": '
                + json.dumps(view, ensure_ascii=False) + ", " + self.shared + "}}")
        return phone.offer(said, text, self._newest_ms)

    async def _fan_out(self) -> None:
        released = 0
        for phones in list(self.phones.values()):
            for phone in list(phones):
                if self._offer(phone):
                    released += 1
                    if released % RELEASE_BATCH == 0:
                        await asyncio.sleep(0)


def _mapping(value: Any) -> dict[str, Any]:
    # Lua's cjson writes an empty table as {}: an empty list may come back as an empty object.
    return value if isinstance(value, dict) else {}


def _rows(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def shared_part(centre: Centre, notices: list[Any], issuing: bool) -> str:
    """The part of every phone's message that is the centre's, encoded once."""
    body = json.dumps({"centre": {"id": centre.id, "name_en": centre.name_en,
                                  "name_zh": centre.name_zh},
                       "notices": notices, "issuing": issuing}, ensure_ascii=False)
    return body[1:-1]


class Phones:
    """This process's follow fan-out: one model per centre, started with its first phone."""

    def __init__(self, centres: Centres, hub: Hub) -> None:
        self.centres = centres
        self.hub = hub
        self.models: dict[str, CentreFollow] = {}

    def model(self, centre: Centre) -> CentreFollow:
        model = self.models.get(centre.id)
        if model is None:
            model = self.models[centre.id] = CentreFollow(self.centres, self.hub, centre)
            model.task = asyncio.create_task(model.run(), name=f"follow:{centre.id}")
        return model

    def count(self) -> int:
        return sum(len(p) for m in self.models.values() for p in m.phones.values())

    async def close(self) -> None:
        tasks = [m.task for m in self.models.values() if m.task]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def observe_sent(since_ms: int | None) -> None:
    """A phone's message went out: how long after the event that changed it."""
    if since_ms is not None:
        metrics.PHONE_LAG.observe(max(0.0, time.time() - since_ms / 1000))
