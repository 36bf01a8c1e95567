"""The one shared connection that carries the web process's scripts (store/multiplexed.py):
answers reach their own callers, in any number at once and past a cancelled one; a lost
connection fails the calls on it and the next call connects again; a Redis that lost its
scripts runs them whole; a password and a database number in the URL are honoured; and only
a plain single Redis gets one."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from pathlib import Path

import pytest
import redis
import redis.asyncio
from faults import OwnRedis

from queueserver.platform import config, connections
from queueserver.platform.clock import Clock
from queueserver.platform.errors import ApiError
from queueserver.queue.tickets import Centres
from queueserver.store import lua
from queueserver.store.multiplexed import KEEPALIVE_IDLE_S, UNACKNOWLEDGED_MS, Multiplexed


def shared(url: str) -> tuple[redis.asyncio.Redis, Multiplexed]:
    client = connections.connect_async(url, pool_size=4, pool_wait_s=1)
    m = Multiplexed.of(client)
    assert m is not None
    return client, m


def test_each_caller_gets_its_own_answer_among_many(r: redis.Redis, redis_url: str) -> None:
    async def go() -> list[object]:
        _, m = shared(redis_url)
        try:
            return list(await asyncio.gather(*(m.execute("INCRBY", f"n{i % 7}", i)
                                                 for i in range(500))))
        finally:
            await m.aclose()

    answers = asyncio.run(go())
    # INCRBY answers the running total of its own key: checked against the order sent.
    totals = [0] * 7
    expected = []
    for i in range(500):
        totals[i % 7] += i
        expected.append(totals[i % 7])
    assert answers == expected
    assert [int(r.get(f"n{k}") or 0) for k in range(7)] == totals


def test_a_cancelled_caller_does_not_shift_the_answers(r: redis.Redis, redis_url: str) -> None:
    async def go() -> tuple[object, object]:
        _, m = shared(redis_url)
        try:
            r.rpush("slow", "x")
            # The first waits on Redis for a while; cancelled, its answer comes and is dropped.
            first = asyncio.ensure_future(m.execute("BLPOP", "never", 0.3))
            second = asyncio.ensure_future(m.execute("LPOP", "slow"))
            await asyncio.sleep(0)
            first.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await first
            return await second, await m.execute("ECHO", "after")
        finally:
            await m.aclose()

    assert asyncio.run(go()) == (b"x", b"after")


def test_a_refusal_is_a_response_error(redis_url: str) -> None:
    async def go() -> None:
        _, m = shared(redis_url)
        try:
            with pytest.raises(redis.ResponseError, match="unknown command"):
                await m.execute("NO-SUCH-COMMAND")
            assert await m.execute("PING") == b"PONG"  # the connection goes on
        finally:
            await m.aclose()

    asyncio.run(go())


def test_a_lost_connection_fails_its_calls_then_connects_again(tmp_path: Path) -> None:
    own = OwnRedis(tmp_path)
    own.start()

    async def go() -> None:
        _, m = shared(own.url)
        try:
            assert await m.execute("SET", "k", "1") is not None
            waiting = asyncio.ensure_future(m.execute("BLPOP", "never", 30))
            await asyncio.sleep(0.05)
            own.kill()
            with pytest.raises(redis.ConnectionError):
                await asyncio.wait_for(waiting, 10)
            with pytest.raises(connections.UNAVAILABLE):
                await m.execute("PING")  # nobody listens: refused, a 503 upstream
            own.start()
            assert await m.execute("GET", "k") == b"1"  # the AOF kept it; a new connection
        finally:
            await m.aclose()

    try:
        asyncio.run(go())
    finally:
        own.stop()


def test_a_silent_host_is_noticed_in_seconds(redis_url: str) -> None:
    """Keepalive probes on an idle connection, and a bound on unacknowledged commands (a host
    gone without closing its connections would otherwise hold requests for many minutes)."""
    async def go() -> tuple[int, ...]:
        _, m = shared(redis_url)
        try:
            await m.execute("PING")
            assert m._protocol is not None
            sock = m._protocol.transport.get_extra_info("socket")
            return (sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
                    sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
                    sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT))
        finally:
            await m.aclose()

    keepalive, idle, unacknowledged = asyncio.run(go())
    assert keepalive == 1 and idle == KEEPALIVE_IDLE_S <= 10
    assert unacknowledged == UNACKNOWLEDGED_MS <= 10_000


def test_a_redis_that_lost_its_scripts_runs_them_whole(
        r: redis.Redis, redis_url: str, cfg: config.Config, clock: Clock) -> None:
    async def go() -> ApiError:
        client, m = shared(redis_url)
        centres = Centres(cfg, client, clock, b"s" * 32, shared=m)
        try:
            await centres.ticket("wan-chai", "A001")
            raise AssertionError("no ticket A001 today: the script refuses")
        except ApiError as e:
            return e
        finally:
            await m.aclose()
            await client.aclose()

    r.script_flush()
    assert asyncio.run(go()).code == "not_found"  # the script's own answer, not NOSCRIPT
    assert r.script_exists(lua.sha("ticket_get")) == [True]


def test_the_url_s_password_and_database_are_used(tmp_path: Path) -> None:
    own = OwnRedis(tmp_path, "--requirepass", "pw-of-test")
    own.cmd[own.cmd.index("--requirepass") + 1] = "pw-of-test"
    own.url = f"redis://:pw-of-test@127.0.0.1:{own.port}/3"
    own.start()

    async def go() -> None:
        _, m = shared(own.url)
        try:
            await m.execute("SET", "where", "db3")
        finally:
            await m.aclose()

    async def wrong() -> None:
        _, m = shared(f"redis://:not-it@127.0.0.1:{own.port}/3")
        try:
            with pytest.raises(connections.UNAVAILABLE, match="WRONGPASS|invalid"):
                await m.execute("PING")
        finally:
            await m.aclose()

    try:
        asyncio.run(go())
        asyncio.run(wrong())
        plain = redis.Redis(port=own.port, password="pw-of-test", db=3)
        assert plain.get("where") == b"db3"
        assert redis.Redis(port=own.port, password="pw-of-test", db=0).get("where") is None
        plain.close()
    finally:
        own.stop()


def test_only_one_plain_redis_gets_a_shared_connection(redis_url: str) -> None:
    assert Multiplexed.of(connections.connect_async(redis_url)) is not None
    assert Multiplexed.of(connections.connect_async("unix:///tmp/none.sock")) is not None
    assert Multiplexed.of(connections.connect_async("rediss://127.0.0.1:1/0")) is None
    assert Multiplexed.of(connections.connect_async("redis+cluster://127.0.0.1:1")) is None
    assert Multiplexed.of(connections.connect_async(
        "redis+sentinel://127.0.0.1:1/mymaster")) is None


def test_each_event_loop_gets_its_own_connection(redis_url: str) -> None:
    """A serve process has one event loop; in-process tests start one per app, each closing its
    connection at its end, and the next opens its own."""
    _, m = shared(redis_url)

    async def ping() -> object:
        try:
            return await asyncio.wait_for(m.execute("PING"), 5)
        finally:
            await m.aclose()

    assert asyncio.run(ping()) == b"PONG"
    assert asyncio.run(ping()) == b"PONG"
