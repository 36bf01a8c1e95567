"""The board a hall display's socket starts from (`Centres.board(shared=True)`): the sockets that
ask while a read of the centre's board is under way share the next read, so that a hall's
screens reconnecting at once cost Redis a few reads, not one each; and each socket still gets a
board read after it asked, so that no event falls between its subscription and its board."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio
from conftest import MORNING, SECRET

from queueserver.live.events import parse_id
from queueserver.platform import config
from queueserver.platform.clock import Clock
from queueserver.queue.models import Board
from queueserver.queue.tickets import Centres
from queueserver.rules.vocab import CounterAction

CENTRE = "wan-chai"
BOUND_S = 10  # generous: only a broken system waits this long


async def with_centres(redis_url: str, cfg: config.Config,
                       body: Callable[[Centres, list[str]], Awaitable[Any]]) -> Any:
    """`body` with a Centres on its own connection, and the names of the scripts it runs."""
    conn = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    try:
        centres = Centres(cfg, conn, Clock.frozen(cfg.tz, MORNING), SECRET)
        ran: list[str] = []
        scripts = centres.scripts

        class Counted:
            def __getattr__(self, name: str) -> Any:
                return getattr(scripts, name)

            async def __call__(self, name: str, keys: list[str], args: list[Any]) -> Any:
                ran.append(name)
                return await scripts(name, keys, args)

        centres.scripts = Counted()  # type: ignore[assignment]
        return await body(centres, ran)
    finally:
        await conn.aclose()


def test_fifty_screens_cost_one_read_and_a_staff_read_is_its_own(
        redis_url: str, cfg: config.Config) -> None:
    async def body(centres: Centres, ran: list[str]) -> tuple[list[Board], list[str]]:
        boards = await asyncio.wait_for(asyncio.gather(
            *(centres.board(CENTRE, shared=True) for _ in range(50))), BOUND_S)
        shared = list(ran)
        await asyncio.gather(*(centres.board(CENTRE) for _ in range(3)))
        await centres.board(CENTRE, shared=True)  # asked after the first read ended: its own
        return boards, [*shared, "|", *ran[len(shared):]]

    boards, ran = asyncio.run(with_centres(redis_url, cfg, body))
    assert len(boards) == 50 and all(b == boards[0] for b in boards)
    assert boards[0].centre == CENTRE
    # All fifty asked before the first read was sent: one read. Unshared, one each.
    assert ran == ["board", "|", "board", "board", "board", "board"]


def test_a_screen_that_asks_during_a_read_gets_a_later_one(
        redis_url: str, cfg: config.Config) -> None:
    """The first read is held after it is sent; meanwhile a counter opens (an event) and a
    second screen asks. It must not be answered with the first read, which is older than its
    question: it gets the next, which sees the counter open."""

    async def body(centres: Centres, ran: list[str]) -> tuple[Board, Board, int]:
        read = centres._board  # noqa: SLF001 - the read the shared ones make
        sent, release = asyncio.Event(), asyncio.Event()
        reads = 0

        async def held(centre: Any) -> Board:
            nonlocal reads
            reads += 1
            board = await read(centre)
            if reads == 1:
                sent.set()
                await release.wait()
            return board

        centres._board = held  # type: ignore[method-assign]  # noqa: SLF001
        first = asyncio.create_task(centres.board(CENTRE, shared=True))
        await asyncio.wait_for(sent.wait(), BOUND_S)
        await centres.counter_state(CENTRE, 1, CounterAction.OPEN, "staff", None)
        second = asyncio.create_task(centres.board(CENTRE, shared=True))
        third = asyncio.create_task(centres.board(CENTRE, shared=True))
        await asyncio.sleep(0)  # one turn of the loop: both ask, in order (not a timed wait)
        assert centres._boards[CENTRE].gathering is not None  # noqa: SLF001 - the next read
        release.set()
        early, late, later = await asyncio.wait_for(asyncio.gather(first, second, third),
                                                    BOUND_S)
        assert later == late  # the two that asked during the first read share the next
        return early, late, reads

    early, late, reads = asyncio.run(with_centres(redis_url, cfg, body))
    assert reads == 2
    assert {c.number: c.state for c in early.counters}[1] == "closed"
    assert {c.number: c.state for c in late.counters}[1] == "open"
    assert (parse_id(late.last_event_id) or (0, 0)) > (parse_id(early.last_event_id) or (0, 0))


def test_a_failed_read_fails_its_askers_and_the_next_read_is_fresh(
        redis_url: str, cfg: config.Config) -> None:
    async def body(centres: Centres, ran: list[str]) -> tuple[list[Any], Board]:
        read = centres._board  # noqa: SLF001
        failures = iter([True])

        async def failing(centre: Any) -> Board:
            if next(failures, False):
                raise ConnectionError("Redis went away")
            return await read(centre)

        centres._board = failing  # type: ignore[method-assign]  # noqa: SLF001
        failed = await asyncio.gather(*(centres.board(CENTRE, shared=True) for _ in range(3)),
                                      return_exceptions=True)
        return failed, await asyncio.wait_for(centres.board(CENTRE, shared=True), BOUND_S)

    failed, board = asyncio.run(with_centres(redis_url, cfg, body))
    assert [type(e) for e in failed] == [ConnectionError] * 3
    assert board.centre == CENTRE


def test_a_screen_that_goes_away_leaves_the_read_to_the_others(
        redis_url: str, cfg: config.Config) -> None:
    async def body(centres: Centres, ran: list[str]) -> Board:
        gone = asyncio.create_task(centres.board(CENTRE, shared=True))
        staying = asyncio.create_task(centres.board(CENTRE, shared=True))
        await asyncio.sleep(0)  # one turn of the loop: both ask, in order (not a timed wait)
        assert centres._boards[CENTRE].gathering is not None  # noqa: SLF001 - not yet sent
        gone.cancel()
        with pytest.raises(asyncio.CancelledError):
            await gone
        return await asyncio.wait_for(staying, BOUND_S)

    assert asyncio.run(with_centres(redis_url, cfg, body)).centre == CENTRE
