"""Redis connections from a URL: one Redis, or a Redis Cluster named by any one of its nodes.

`REDIS_URL=redis+cluster://HOST:PORT` (or `rediss+cluster://` for TLS) names a node of a
cluster; the client learns the others from it.
`redis+sentinel://[:PASSWORD@]HOST:PORT[,HOST:PORT...]/SERVICE[/DB]` names Sentinels and the
service they watch: every connection goes to the current master, and after a failover to the
new one. Everything else (`redis://`, `rediss://`, `unix://`) is one Redis.

The rest of the code talks to each through the same commands. On a cluster, a centre's keys
share one hash slot, so each Lua script runs on the node that holds its centre, and the keys that
belong to no centre are read and written one command at a time.

On a cluster every script is sent with a `#!lua` first line. Without it, Redis 7 lets a script
touch undeclared keys of other slots as long as they happen to live on the same node, so a
script that strayed from its centre would work or fail depending on how slots fell; with it,
Redis refuses any key outside the declared key's slot, every time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any, cast
from urllib.parse import unquote, urlsplit, urlunsplit

import hiredis
import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.sentinel
import redis.cluster
import redis.sentinel

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
# What "Redis cannot be reached" looks like, on one Redis or a cluster missing a node: a 503
# and a retry, never a 500.
UNAVAILABLE: tuple[type[Exception], ...] = (
    redis.ConnectionError, redis.TimeoutError, redis.exceptions.ClusterDownError,
    redis.exceptions.TryAgainError, OSError)
SENTINEL_SCHEMES = {"redis+sentinel": False, "rediss+sentinel": True}  # -> TLS to the master
STRICT_SHEBANG = "#!lua\n"
# A dead connection is noticed before use when it has been idle this long (seconds).
HEALTH_CHECK_S = 10
DEFAULT_SENTINEL_PORT = 26379
# Connections per cluster node. The cluster client has no waiting pool: past this a command
# fails (503), so it is set well above what one process's requests need at once.
CLUSTER_NODE_CONNECTIONS = 512


def is_cluster(url: str) -> bool:
    return urlsplit(url).scheme in CLUSTER_SCHEMES


def is_sentinel(url: str) -> bool:
    return urlsplit(url).scheme in SENTINEL_SCHEMES


@dataclass(frozen=True)
class SentinelTarget:
    sentinels: list[tuple[str, int]]
    service: str
    options: dict[str, Any]


def sentinel_target(url: str) -> SentinelTarget:
    """The Sentinels, the service name and the master's connection options of a URL."""
    parts = urlsplit(url)
    credentials, _, hosts = parts.netloc.rpartition("@")
    sentinels = []
    for host in hosts.split(","):
        name, colon, port = host.rpartition(":")
        sentinels.append((name, int(port)) if colon else (host, DEFAULT_SENTINEL_PORT))
    path = [unquote(p) for p in parts.path.split("/") if p]
    if not path:
        raise ValueError(f"{url!r}: name the Sentinel service, as in .../mymaster")
    options: dict[str, Any] = {"db": int(path[1]) if len(path) > 1 else 0}
    password = unquote(credentials.partition(":")[2]) if credentials else ""
    if password:
        options["password"] = password
    if SENTINEL_SCHEMES[parts.scheme]:
        options["ssl"] = True
    return SentinelTarget(sentinels, path[0], options)


def node_url(url: str) -> str:
    """The plain URL of the node a cluster URL names (the URL itself for one Redis)."""
    parts = urlsplit(url)
    scheme = CLUSTER_SCHEMES.get(parts.scheme)
    return urlunsplit(parts._replace(scheme=scheme)) if scheme else url


def _strict(script: str) -> str:
    return script if script.startswith("#!") else STRICT_SHEBANG + script


class _Cluster(redis.cluster.RedisCluster):
    def register_script(self, script: Any) -> Any:
        return super().register_script(_strict(script))


class _AsyncCluster(redis.asyncio.cluster.RedisCluster):
    def register_script(self, script: Any) -> Any:
        return super().register_script(_strict(script))


def _call(factory: Callable[..., Any], *args: Any) -> Any:
    """Calls a redis-py class whose constructor is typed in some releases and not in others
    (Sentinel before 8.2): through a Callable, mypy --strict passes with either."""
    return factory(*args)


def connect(url: str, decode_responses: bool = True, **options: Any) -> redis.Redis:
    """A synchronous client (the command line, imports, the worker's own reads)."""
    options.setdefault("health_check_interval", HEALTH_CHECK_S)
    if is_cluster(url):
        # The cluster client answers the same commands; the type is the one callers use.
        return cast(redis.Redis, _Cluster.from_url(node_url(url),
                                                   decode_responses=decode_responses, **options))
    if is_sentinel(url):
        target = sentinel_target(url)
        sentinel: Any = _call(redis.sentinel.Sentinel, target.sentinels)
        return cast(redis.Redis, sentinel.master_for(
            target.service, decode_responses=decode_responses, **target.options, **options))
    return redis.Redis.from_url(url, decode_responses=decode_responses, **options)


def connect_async(url: str, pool_size: int | None = None, pool_wait_s: float | None = None,
                  **options: Any) -> redis.asyncio.Redis:
    """An asyncio client. For one Redis, `pool_size` bounds its connections and a command
    waits up to `pool_wait_s` for a free one rather than failing."""
    options.setdefault("decode_responses", True)
    options.setdefault("health_check_interval", HEALTH_CHECK_S)
    if is_cluster(url):
        return cast(redis.asyncio.Redis, _AsyncCluster.from_url(
            node_url(url), max_connections=CLUSTER_NODE_CONNECTIONS, **options))
    if is_sentinel(url):
        # Sentinel's pool does not wait for a free connection: past pool_size, a 503.
        target = sentinel_target(url)
        if pool_size is not None:
            options["max_connections"] = pool_size
        watchers: Any = _call(redis.asyncio.sentinel.Sentinel, target.sentinels)
        return cast(redis.asyncio.Redis, watchers.master_for(
            target.service, **target.options, **options))
    if pool_size is None:
        return redis.asyncio.Redis.from_url(url, **options)
    pool = redis.asyncio.BlockingConnectionPool.from_url(
        url, max_connections=pool_size, timeout=pool_wait_s, **options)
    return redis.asyncio.Redis.from_pool(pool)


async def check(r: redis.asyncio.Redis) -> None:
    """Raises one of UNAVAILABLE unless Redis can serve: a PING, and on a cluster its state too
    (a cluster with a node down still answers PING, and CLUSTERDOWN to everything else)."""
    if isinstance(r, redis.asyncio.cluster.RedisCluster):
        info: Any = await r.cluster_info()
        if info.get("cluster_state") != "ok":
            raise redis.exceptions.ClusterDownError(f"cluster_state {info.get('cluster_state')}")
    else:
        await r.ping()


class _Immediate:
    """A cluster's stand-in for a pipeline of script calls: redis-py refuses EVALSHA in a
    cluster pipeline, so each command runs at once and `execute` hands back the answers."""

    def __init__(self, r: redis.Redis) -> None:
        self._r = r
        self._results: list[Any] = []

    def __getattr__(self, name: str) -> Any:
        command = getattr(self._r, name)

        def run(*args: Any, **kwargs: Any) -> _Immediate:
            self._results.append(command(*args, **kwargs))
            return self

        return run

    def evalsha(self, *args: Any) -> _Immediate:
        # A script not yet loaded raises NoScriptError here, as redis-py's Script expects.
        self._results.append(self._r.evalsha(*args))
        return self

    def script_load(self, script: str) -> str:
        return str(self._r.script_load(script))

    def execute(self) -> list[Any]:
        results, self._results = self._results, []
        return results


def batch(r: redis.Redis) -> Any:
    """A non-transactional pipeline, or on a cluster its stand-in (same calls, same answers)."""
    if isinstance(r, redis.cluster.RedisCluster):
        return _Immediate(r)
    return r.pipeline(transaction=False)


# Fields a hash command of `hset_commands` and `hmget` holds at most: such a command's time grows
# with its fields (into an import's plan of 200,000, 2,000 took 1-9 ms on the bench's machine and
# 250 still often over half a millisecond, every client of that Redis waiting meanwhile), so a
# large one goes as several short ones, in one round trip.
FIELDS_A_COMMAND = 100


def hset_commands(key: str, fields: Mapping[str, str]) -> list[tuple[Any, ...]]:
    """HSETs of `fields` for `bulk`, FIELDS_A_COMMAND a command."""
    flat = list(chain.from_iterable(fields.items()))
    step = 2 * FIELDS_A_COMMAND
    return [("HSET", key, *flat[i:i + step]) for i in range(0, len(flat), step)]


def hmget(r: redis.Redis, key: str, fields: Sequence[str]) -> list[Any]:
    """HMGET of many fields, FIELDS_A_COMMAND a command, in one round trip (`bulk`)."""
    step = FIELDS_A_COMMAND
    commands = [("HMGET", key, *fields[i:i + step]) for i in range(0, len(fields), step)]
    return list(chain.from_iterable(bulk(r, commands))) if commands else []


def bulk(r: redis.Redis, commands: list[tuple[Any, ...]]) -> list[Any]:
    """Commands of thousands of arguments (an import's batch of 2,000 rows), one write and
    their answers, packed by hiredis: redis-py packs each argument in Python, which was a
    tenth of an import's time. Not a transaction. On anything but one Redis over TCP or a unix
    socket (a cluster, a Sentinel's pool), a pipeline of the same commands."""
    pool = r.connection_pool if type(r) is redis.Redis else None
    if pool is None or type(pool) is not redis.ConnectionPool or pool.connection_class not in (
            redis.Connection, redis.UnixDomainSocketConnection):
        pipe = batch(r)
        for command in commands:
            pipe.execute_command(*command)
        return cast(list[Any], pipe.execute())
    conn: Any = pool.get_connection()
    try:
        conn.send_packed_command([b"".join(hiredis.pack_command(c) for c in commands)])
        answers = [conn.read_response() for _ in commands]
    except BaseException:
        conn.disconnect()  # answers may be left unread: never hand it back half-way
        raise
    finally:
        pool.release(conn)
    # As redis-py's own commands answer (SET True, not "OK").
    callbacks = r.response_callbacks
    return [callbacks[c[0]](a) if c[0] in callbacks else a
            for c, a in zip(commands, answers, strict=True)]
