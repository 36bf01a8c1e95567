"""`connections.bulk`: commands of thousands of arguments packed by hiredis, sent in one write,
answered in order (as redis-py's own commands answer), through the client's own connection
pool."""

from __future__ import annotations

import pytest
import redis

from queueserver.platform import connections


def test_the_answers_come_in_the_order_asked(r: redis.Redis) -> None:
    fields = [f"ref{i}" for i in range(5000)]
    flat = [x for i, name in enumerate(fields) for x in (name, f"fp{i}")]
    answers = connections.bulk(r, [("HSET", "bulk:h", *flat), ("EXPIRE", "bulk:h", "60"),
                                   ("HMGET", "bulk:h", "ref4999", "missing", "ref0"),
                                   ("HLEN", "bulk:h")])
    assert answers == [5000, True, ["fp4999", None, "fp0"], 5000]
    assert r.hget("bulk:h", "ref1234") == "fp1234"
    assert 0 < r.ttl("bulk:h") <= 60


def test_text_goes_as_utf_8_and_comes_back_decoded(r: redis.Redis) -> None:
    assert connections.bulk(r, [("SET", "bulk:s", "陳大文"), ("GET", "bulk:s")]) == [True, "陳大文"]


def test_a_refusal_raises_and_the_next_call_is_answered_rightly(r: redis.Redis) -> None:
    r.set("bulk:text", "x")
    with pytest.raises(redis.ResponseError):
        connections.bulk(r, [("HSET", "bulk:text", "a", "1"), ("SET", "bulk:after", "1"),
                             ("GET", "bulk:after")])
    # The connection with answers left unread was not handed back: nothing shifts.
    assert connections.bulk(r, [("GET", "bulk:text"), ("GET", "bulk:after")]) == ["x", "1"]
    assert r.get("bulk:text") == "x"


def test_on_a_client_it_cannot_pack_for_it_is_a_pipeline(redis_url: str) -> None:
    """A blocking pool (a Sentinel's pool, a cluster: not redis.ConnectionPool) gets the
    same commands through redis-py."""
    pool = redis.BlockingConnectionPool.from_url(redis_url, decode_responses=True)
    client = redis.Redis(connection_pool=pool)
    try:
        assert connections.bulk(client, [("SET", "bulk:p", "1"), ("INCR", "bulk:p")]) == [True, 2]
    finally:
        client.close()


def test_a_large_hash_goes_a_few_hundred_fields_a_command(r: redis.Redis) -> None:
    """`hset_commands` and `hmget`: 2,000 fields as commands of FIELDS_A_COMMAND each (one such
    command of 2,000 fields held Redis for milliseconds), answered in the order asked."""
    per = connections.FIELDS_A_COMMAND
    fields = {f"ref{i}": f"fp{i}" for i in range(2000)}
    commands = connections.hset_commands("bulk:big", fields)
    assert len(commands) == -(-2000 // per)
    assert all(c[:2] == ("HSET", "bulk:big") and len(c) <= 2 + 2 * per for c in commands)
    assert connections.bulk(r, commands) == [len(c[2:]) // 2 for c in commands]
    assert r.hgetall("bulk:big") == fields
    wanted = [*reversed(fields), "missing"]
    assert connections.hmget(r, "bulk:big", wanted) == [*(fields[f] for f in wanted[:-1]), None]
    assert connections.hmget(r, "bulk:big", []) == []
    assert connections.hset_commands("bulk:big", {}) == []
