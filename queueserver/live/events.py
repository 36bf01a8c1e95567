"""Live events: one reader per centre per web process, fanned out to that process's sockets.

Each reader blocks on its centre's stream and hands every event to its subscribers' small
bounded queues without ever waiting on one: a subscriber whose queue is full has fallen behind,
is marked so, and its socket is closed (the screen resumes with `after=`). A subscriber is
registered before it reads its snapshot, and the reader's cursor is fixed before that, so no
event falls between the snapshot and the live events.

Screens come first: a subscriber registered `after_screens` (the follow page's fan-out to phones,
queueserver/follow/fanout.py) is handed each event after every screen's queue has it, so its
tasks wake after theirs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import redis
import redis.asyncio

from queueserver.operations import metrics
from queueserver.platform import connections
from queueserver.store import keys

log = logging.getLogger("queueserver.live.events")

# Small on purpose: a screen that is this far behind is better served by resuming with after=.
SUBSCRIBER_QUEUE = 512
# How long one blocking read waits before looping.
BLOCK_MS = 5000
# Well under SUBSCRIBER_QUEUE: a whole batch is queued at once, before any socket can send.
READ_COUNT = 100
RETRY_S = 1.0
# Open sockets' credentials are checked this often (all of a process's at once, one round trip),
# so a revoked one closes within seconds.
CREDENTIAL_CHECK_S = 2.0

# Where a server offers its write that never waits, in a socket's scope["extensions"]: a text
# frame sent at once, or False (web/server.py, LeanWebSocket.send_now).
SEND_NOW = "queueserver.send_now"

EVENT_ID = re.compile(r"^(\d{1,20})-(\d{1,20})$")


def parse_id(raw: str) -> tuple[int, int] | None:
    """Stream ids compare as two integers, never as strings."""
    m = EVENT_ID.match(raw)
    return (int(m.group(1)), int(m.group(2))) if m else None


def message(event_id: str, fields: dict[str, str]) -> dict[str, Any]:
    return {"id": event_id, "type": fields["type"], "at": fields["at"],
            "data": msgspec.json.decode(fields["data"])}


@dataclass(eq=False)
class Event:
    """One event as read from the stream, encoded at most once per audience however many
    sockets it goes to: encoding it again for each socket was most of the fan-out's cost."""

    id: str
    key: tuple[int, int]
    body: dict[str, Any]
    _texts: dict[bool, str] = field(default_factory=dict)

    @classmethod
    def read(cls, event_id: str, fields: dict[str, str]) -> Event:
        return cls(event_id, parse_id(event_id) or (0, 0), message(event_id, fields))

    def text(self, device: bool) -> str:
        """The message as sent; device credentials never learn who acted (`by`)."""
        text = self._texts.get(device)
        if text is None:
            body = self.body
            if device and "by" in body["data"]:
                body = {**body, "data": {k: v for k, v in body["data"].items() if k != "by"}}
            # msgspec: a third of json's time for a call's event (docs/benchmarks.md).
            text = self._texts[device] = msgspec.json.encode(body).decode()
        return text


class Bell:
    """What one socket's sender waits on, lighter than asyncio's Queue and Event (a socket's
    idle cost is mostly its objects): `ring()` wakes a waiting sender, which looks at what it
    has before it waits again; `end(why)` stops it for good, cancelling `sender` even mid-send
    (a peer that stopped reading must not hold its close up)."""

    __slots__ = ("_waiter", "ended", "sender")

    def __init__(self) -> None:
        self._waiter: asyncio.Future[None] | None = None
        self.ended: str | None = None
        self.sender: asyncio.Task[None] | None = None

    def ring(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def end(self, why: str) -> None:
        if self.ended is None:
            self.ended = why
            self.ring()
            if self.sender is not None:
                self.sender.cancel()

    async def wait(self) -> None:
        """Until rung or ended (at once when ended)."""
        if self.ended is not None:
            return
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None


# Why a subscriber ends.
OVERFLOWED = "overflowed"
REVOKED = "revoked"


class Subscriber(Bell):
    """A socket's (or the follow fan-out's) events not yet taken, at most SUBSCRIBER_QUEUE.

    `now`, when set, takes an event at once, without waking the subscriber's task: it returns
    False when it cannot (its socket would have to wait), and the event is queued instead. It is
    asked only while nothing is queued, so events still go out in order."""

    __slots__ = ("credential", "now", "pending")

    def __init__(self, credential: str = "") -> None:
        super().__init__()
        # The Redis key whose existence keeps the socket's credential valid (a token, a session).
        self.credential = credential
        # A list: a deque is 760 bytes however empty, and an idle socket's queue is empty.
        self.pending: list[Event] = []
        self.now: Callable[[Event], bool] | None = None

    def put(self, event: Event) -> None:
        if len(self.pending) >= SUBSCRIBER_QUEUE:
            self.end(OVERFLOWED)
        else:
            self.pending.append(event)
            self.ring()

    async def next(self) -> Event | None:
        """The next event, waiting for one; None once the subscriber has ended."""
        while self.ended is None:
            if self.pending:
                return self.pending.pop(0)
            await self.wait()
        return None


class Forward:
    """A socket's events from its subscriber, in stream order, each once, none at or before
    `floor` (what its snapshot or replay already held). `run` is the socket's sender task;
    `now` (set as the subscriber's) lets the reader write an event itself while the socket is
    idle, with `send_now`, the server's write that never waits: no task is woken for it, which
    was most of a fan-out's cost beside the floor's relay (docs/benchmarks.md). While the task
    is sending, or `send_now` cannot (a peer slow to read), events queue for the task."""

    __slots__ = ("floor", "send", "send_now", "sending", "sub", "text")

    def __init__(self, sub: Subscriber, floor: tuple[int, int], text: Callable[[Event], str],
                 send: Callable[[str], Awaitable[None]],
                 send_now: Callable[[str], bool] | None) -> None:
        self.sub, self.floor, self.text = sub, floor, text
        self.send, self.send_now = send, send_now
        self.sending = False
        if send_now is not None:
            sub.now = self.now

    def now(self, event: Event) -> bool:
        if self.sending or self.send_now is None:
            return False
        if event.key <= self.floor:
            return True
        if not self.send_now(self.text(event)):
            return False
        self.floor = event.key
        return True

    async def run(self) -> None:
        while (event := await self.sub.next()) is not None:
            if event.key <= self.floor:
                continue  # already in the snapshot or the replay
            self.floor = event.key
            self.sending = True
            try:
                await self.send(self.text(event))
            finally:
                self.sending = False


class CentreReader:
    def __init__(self, r: redis.asyncio.Redis, centre: str) -> None:
        self.r = r
        self.key = keys.events(centre)
        self.subscribers: set[Subscriber] = set()
        self.after_screens: set[Subscriber] = set()
        self.cursor: str | None = None
        self.ready = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def _start_cursor(self) -> str:
        last = await self.r.xrevrange(self.key, count=1)
        return str(last[0][0]) if last else "0-0"

    async def run(self) -> None:
        while True:
            try:
                if self.cursor is None:
                    self.cursor = await self._start_cursor()
                    self.ready.set()
                batches: Any = await self.r.xread({self.key: self.cursor}, count=READ_COUNT,
                                             block=BLOCK_MS)
            except connections.UNAVAILABLE as e:
                metrics.REDIS_ERRORS.labels("events").inc()
                log.warning("event reader for %s: redis unreachable (%s); retrying",
                            self.key, type(e).__name__)
                await asyncio.sleep(RETRY_S)
                continue
            except Exception:
                # A reader must never die quietly: every screen of the centre depends on it.
                log.exception("event reader for %s failed; retrying", self.key)
                await asyncio.sleep(RETRY_S)
                continue
            # One stream read: [[key, [(id, fields), ...]]], or nothing before the block ran out.
            entries: list[tuple[str, dict[str, str]]] = batches[0][1] if batches else []
            for event_id, fields in entries:
                self.cursor = event_id
                self.publish(Event.read(event_id, fields))

    def publish(self, event: Event) -> None:
        metrics.observe_fanout(event.id, len(self.subscribers))
        for sub in [*self.subscribers, *self.after_screens]:
            if sub.ended is None and (sub.pending or sub.now is None or not sub.now(event)):
                sub.put(event)


class Hub:
    """The process's readers, started on first use, one per centre."""

    def __init__(self, redis_url: str) -> None:
        # Blocking reads get their own connections, apart from the request pool.
        self.r = connections.connect_async(redis_url, socket_timeout=BLOCK_MS / 1000 + 10)
        self.readers: dict[str, CentreReader] = {}
        self.checker: asyncio.Task[None] | None = None

    async def subscribe(self, centre: str, credential: str,
                        after_screens: bool = False) -> Subscriber:
        """A queue of the centre's events from now on. `credential`: the key whose existence
        keeps the socket open ("" for the process's own subscribers, never checked)."""
        reader = self.readers.get(centre)
        if reader is None:
            reader = self.readers[centre] = CentreReader(self.r, centre)
            reader.task = asyncio.create_task(reader.run(), name=f"events:{centre}")
        if self.checker is None:
            self.checker = asyncio.create_task(self._check_credentials(), name="credentials")
        sub = Subscriber(credential)
        (reader.after_screens if after_screens else reader.subscribers).add(sub)
        await reader.ready.wait()
        return sub

    def unsubscribe(self, centre: str, sub: Subscriber) -> None:
        reader = self.readers.get(centre)
        if reader:
            reader.subscribers.discard(sub)
            reader.after_screens.discard(sub)

    async def _check_credentials(self) -> None:
        """Every socket's credential, one EXISTS per distinct key in one round trip; a socket
        whose key is gone is told to close. While Redis is away nobody is closed: the screens
        keep what they show and their events resume with the readers."""
        while True:
            await asyncio.sleep(CREDENTIAL_CHECK_S)
            subs = [s for reader in self.readers.values() for s in reader.subscribers
                    if s.credential]
            wanted = sorted({s.credential for s in subs})
            if not wanted:
                continue
            try:
                pipe = self.r.pipeline(transaction=False)
                for key in wanted:
                    pipe.exists(key)
                found = dict(zip(wanted, await pipe.execute(), strict=True))
            except connections.UNAVAILABLE:
                continue
            except Exception:
                log.exception("checking open sockets' credentials failed; retrying")
                continue
            for sub in subs:
                if not found.get(sub.credential):
                    sub.end(REVOKED)

    async def close(self) -> None:
        tasks = [reader.task for reader in self.readers.values() if reader.task]
        for task in [*tasks, *([self.checker] if self.checker else [])]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.r.aclose()
