"""A socket's events reach it in stream order, each once, whether the reader writes them itself
(`Forward.now`, the socket idle) or the socket's task does (`Forward.run`, after a write that
could not be made at once): live/events.py. The server's side, `send_now`, is tested with
uvicorn's protocol in tests/web/test_one_write.py."""

from __future__ import annotations

import asyncio
import random

import pytest

from queueserver.live.events import SUBSCRIBER_QUEUE, CentreReader, Event, Forward, Subscriber


def event(i: int) -> Event:
    return Event(f"{1000 + i}-0", (1000 + i, 0), {"i": i})


class Socket:
    """What one peer receives, and how: `now` refuses by the plan it is given (a socket that
    would have to wait); `send` takes a loop turn or two, as a write to a real socket may."""

    def __init__(self, refuse: list[bool]) -> None:
        self.received: list[str] = []
        self.by_task = 0
        self.refuse = refuse

    def send_now(self, text: str) -> bool:
        if self.refuse and self.refuse.pop(0):
            return False
        self.received.append(text)
        return True

    async def send(self, text: str) -> None:
        for _ in range(random.randrange(3)):
            await asyncio.sleep(0)
        self.received.append(text)
        self.by_task += 1


def reader(sub: Subscriber) -> CentreReader:
    reading = CentreReader(None, "wan-chai")  # type: ignore[arg-type]  (never reads here)
    reading.subscribers.add(sub)
    return reading


@pytest.mark.parametrize("seed", range(20))
def test_events_arrive_in_order_each_once_whichever_way_they_go(seed: int) -> None:
    random.seed(seed)
    count = 300
    socket = Socket([random.random() < 0.2 for _ in range(count)])

    async def scenario() -> None:
        sub = Subscriber()
        reading = reader(sub)
        # The snapshot held events up to 9: they are not sent again.
        forward = Forward(sub, (1009, 0), lambda e: str(e.body["i"]), socket.send,
                          socket.send_now)
        task = asyncio.create_task(forward.run())
        for i in range(count):
            reading.publish(event(i))
            if i % 25 == 0:
                await idle(sub, forward)  # a quiet moment: the task has sent all it had
            elif random.random() < 0.3:
                await asyncio.sleep(0)  # the reader reads again, the task may run meanwhile
        await idle(sub, forward)
        sub.end("done")
        await asyncio.wait_for(task, 5)

    asyncio.run(scenario())
    assert socket.received == [str(i) for i in range(10, count)]
    assert 0 < socket.by_task < count - 10  # both ways were taken


async def idle(sub: Subscriber, forward: Forward) -> None:
    for _ in range(10_000):
        if not sub.pending and not forward.sending:
            return
        await asyncio.sleep(0)
    pytest.fail("the socket's task never caught up")


def test_without_send_now_every_event_goes_by_the_task() -> None:
    socket = Socket([])

    async def scenario() -> None:
        sub = Subscriber()
        reading = reader(sub)
        forward = Forward(sub, (0, 0), lambda e: str(e.body["i"]), socket.send, None)
        task = asyncio.create_task(forward.run())
        for i in range(1, 50):
            reading.publish(event(i))
        await idle(sub, forward)
        sub.end("done")
        await asyncio.wait_for(task, 5)

    asyncio.run(scenario())
    assert socket.received == [str(i) for i in range(1, 50)]
    assert socket.by_task == 49


def test_a_socket_that_cannot_take_events_now_still_overflows() -> None:
    """A peer that stopped reading: nothing goes at once, the queue fills, the subscriber ends
    (its socket is closed with 1013), as before there was a way round the task."""
    sub = Subscriber()
    reading = reader(sub)
    Forward(sub, (0, 0), str, Socket([]).send, lambda text: False)
    for i in range(1, SUBSCRIBER_QUEUE + 2):
        reading.publish(event(i))
    assert sub.ended == "overflowed"
    assert len(sub.pending) == SUBSCRIBER_QUEUE
