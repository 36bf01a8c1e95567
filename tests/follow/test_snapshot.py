"""The follow fan-out reads a busy day a page at a time (follow_page.lua), each page a short
script, instead of one script the length of the day: what it builds is exactly what one atomic
read builds, and a change while its pages are read is never half-seen (real Redis, in-process,
injected clock)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
import redis
import redis.asyncio
from conftest import SECRET
from service_path import Path
from starlette.testclient import TestClient

from queueserver.follow import fanout
from queueserver.platform import config
from queueserver.platform.clock import Clock
from queueserver.queue.tickets import Centres
from queueserver.store import keys


@pytest.fixture
def path(client: TestClient, tokens: dict[str, str], seed: Callable[..., Any]) -> Path:
    return Path(client, tokens, seed)


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Pages of 3 tickets and 2 places: a day of a few dozen tickets takes many pages."""
    monkeypatch.setattr(fanout, "PAGE_TICKETS", 3)
    monkeypatch.setattr(fanout, "PAGE_QUEUE", 2)
    yield


def a_busy_day(path: Path) -> list[str]:
    """Tickets of both services, waiting, called, recalled, served, no-show and requeued."""
    numbers = [path.check_in() for _ in range(14)]
    sup = path.tokens["supervisor"]
    for n in (2, 3):
        assert path.post(f"counters/{n}/open", token=sup).status_code == 200
    assert path.call(1) == numbers[0]
    assert path.post("counters/1/recall").status_code == 200
    assert path.post("counters/1/recall").status_code == 200
    assert path.post("counters/1/transfer", {"service": "P"}).status_code == 200
    called = path.call(2)
    assert path.accept(called, token=sup).status_code == 200
    assert path.call(3)
    assert path.post("counters/3/no-show", token=sup).status_code == 200
    assert path.post(f"tickets/{numbers[2]}/requeue", token=path.tokens["desk"]).status_code == 200
    return numbers


def model(cfg: config.Config, clock: Clock, redis_url: str, paged: bool,
          meanwhile: Callable[[int], None] = lambda calls: None) -> tuple[Any, int, int]:
    """A fan-out's model of wan-chai's day after its snapshot (paged, or in one script as
    before), the follow_page calls made, and the atomic reads made. `meanwhile(k)` runs after
    the k-th page is read."""

    async def read() -> tuple[Any, int, int]:
        conn = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
        try:
            centres = Centres(cfg, conn, clock, SECRET)
            run: Callable[..., Awaitable[Any]] = centres.run_script
            made = {"follow_page": 0, "full": 0}

            async def counted(name: str, *args: Any, **extra: Any) -> Any:
                if extra.get("full"):
                    made["full"] += 1
                answer = await run(name, *args, **extra)
                if name == "follow_page":
                    made["follow_page"] += 1
                    meanwhile(made["follow_page"])
                return answer

            centres.run_script = counted  # type: ignore[method-assign]
            follow = fanout.CentreFollow(centres, None, centres.centre("wan-chai"))  # type: ignore[arg-type]
            with pytest.MonkeyPatch.context() as mp:
                if not paged:
                    mp.setattr(fanout, "PAGED_TRIES", 0)  # straight to the one-script read
                # (Bounded: a reading that never ends fails here rather than hangs.)
                await asyncio.wait_for(follow._snapshot(), 30)
            built = (follow.floor, follow.queues, follow.tickets, follow.estimates, follow.shared)
            return built, made["follow_page"], made["full"]
        finally:
            await conn.aclose()

    return asyncio.run(read())


def test_the_pages_build_what_one_read_builds(
        path: Path, cfg: config.Config, clock: Clock, redis_url: str,
        small_pages: None) -> None:
    numbers = a_busy_day(path)
    whole, _, full = model(cfg, clock, redis_url, paged=False)
    assert full == 1
    paged, pages, full = model(cfg, clock, redis_url, paged=True)
    assert full == 0
    # 14 tickets in pages of 3 (5 pages), both queues in pages of 2 (at least 6 in all).
    assert pages >= 11
    assert paged == whole
    floor, queues, tickets, _, _ = paged
    assert len(tickets) == 14 and floor > (0, 0)
    # All 14 but the one being served: the transferred one waits in P, the requeued one in A.
    assert queues["P"] == [numbers[0]] and len(queues["A"]) == 12 and numbers[2] in queues["A"]
    assert [t.recalls for t in tickets.values() if t.recalls] == [2]


def test_a_change_between_pages_is_read_again_never_half_seen(
        path: Path, cfg: config.Config, clock: Clock, redis_url: str,
        small_pages: None) -> None:
    a_busy_day(path)
    changed = []

    def check_in_once(pages: int) -> None:
        if pages == 4 and not changed:  # amid the first reading of the tickets
            changed.append(path.check_in())

    paged, pages, full = model(cfg, clock, redis_url, paged=True, meanwhile=check_in_once)
    whole, _, _ = model(cfg, clock, redis_url, paged=False)
    assert changed and full == 0
    assert paged == whole  # the second reading: the new ticket and the rest, at one stream id
    assert changed[0] in paged[2]


def test_a_day_that_never_keeps_still_is_read_in_one_script(
        path: Path, cfg: config.Config, clock: Clock, redis_url: str,
        small_pages: None) -> None:
    a_busy_day(path)

    def check_in_every_time(pages: int) -> None:
        path.check_in()

    paged, pages, full = model(cfg, clock, redis_url, paged=True, meanwhile=check_in_every_time)
    assert full == 1 and pages >= fanout.PAGED_TRIES
    assert paged == model(cfg, clock, redis_url, paged=False)[0]


def test_a_ticket_gone_from_the_day_leaves_its_page_short_and_the_reading_goes_on(
        path: Path, cfg: config.Config, clock: Clock, redis_url: str,
        r: redis.Redis, small_pages: None) -> None:
    """Pages go by the day's list, not by what a page held: three records gone in a row (a
    whole page of nothing) end no reading early and repeat none."""
    numbers = [path.check_in() for _ in range(10)]
    for number in numbers[3:6]:
        r.delete(keys.ticket("wan-chai", clock.today(), number))
    paged, pages, full = model(cfg, clock, redis_url, paged=True)
    assert full == 0
    assert sorted(paged[2]) == sorted(numbers[:3] + numbers[6:])
    assert paged == model(cfg, clock, redis_url, paged=False)[0]
