"""Announcement audio in Redis: segments, the index of their names, and joined clips.

DESIGN.md: any web process on any machine serves any clip, so audio lives in Redis, not on a
disk. Segments are a few megabytes for a whole city and are kept; a joined clip is kept only
while its call is fresh, since any process can join it again from its segments. Only a clip that
a call named (planned, for as long as a joined clip is kept) is ever joined: anyone may ask for a
clip, and joining any combination of segments on demand would be free CPU work for strangers.

These connections return bytes (audio), unlike the rest of the server's.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis
import redis.asyncio

from queueserver.platform import connections, runtime
from queueserver.store import keys

# Where clips are served (web/api/sounds.py routes them): `/sounds/chime.wav` is the one clip named
# by what it is; every spoken clip is `/sounds/clips/<name>.wav`, named by its segments' contents.
PREFIX = "/sounds"
CHIME_PATH = f"{PREFIX}/chime.wav"
CLIPS_PREFIX = f"{PREFIX}/clips/"

# Displays fetch a call's clips within a second and keep them in their HTTP cache; a recall a few
# minutes later is its own clip. After this, a clip is joined again on demand.
CLIP_TTL_S = 15 * 60


def connect(url: str) -> redis.Redis:
    """A synchronous connection that returns bytes (audio)."""
    return connections.connect(url, decode_responses=False)  # one Redis or a cluster


def rq_connect(url: str) -> redis.Redis:
    """RQ's connection for the announcement jobs: bytes (RQ stores pickles), never a cluster."""
    if connections.is_cluster(url):
        raise runtime.SetupError(
            "RQ does not run on Redis Cluster: set RQ_REDIS_URL to a plain Redis for the "
            "background jobs (REDIS_URL may stay on the cluster).")
    return redis.Redis.from_url(url)


def _bytes(value: bytes | str | None) -> bytes | None:
    # These connections never decode; a str would mean someone handed us the wrong one.
    if isinstance(value, str):
        raise TypeError("audio read through a connection that decodes responses")
    return value


def _present(flags: Sequence[int | bool], ids: Sequence[str]) -> set[str]:
    return {i for i, flag in zip(ids, flags, strict=True) if flag}


class SegmentStore:
    """For the worker and the commands (a synchronous connection)."""

    def __init__(self, r: redis.Redis) -> None:
        self.r = r

    def existing(self, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()
        return _present(self.r.smismember(keys.sound_segments(), list(ids)), ids)

    def put(self, segment_id: str, wav: bytes) -> None:
        # The audio first, then its name in the index: a call never names a segment that is not
        # there. (Two commands, not MULTI: the keys may live on different cluster nodes.)
        self.r.set(keys.sound_segment(segment_id), wav)
        self.r.sadd(keys.sound_segments(), segment_id)

    def get(self, ids: Sequence[str]) -> list[bytes | None]:
        pipe = self.r.pipeline(transaction=False)
        for i in ids:
            pipe.get(keys.sound_segment(i))
        return [_bytes(v) for v in pipe.execute()] if ids else []

    def put_clip(self, name: str, wav: bytes) -> None:
        self.r.set(keys.sound_clip(name), wav, ex=CLIP_TTL_S)

    def get_clip(self, name: str) -> bytes | None:
        return _bytes(self.r.get(keys.sound_clip(name)))

    def plan(self, names: Sequence[str]) -> None:
        """As `AsyncClipStore.plan`, for the worker (a notice's clips, said once rendered)."""
        if not names:
            return
        pipe = self.r.pipeline(transaction=False)
        for name in names:
            pipe.set(keys.sound_planned(name), b"1", ex=CLIP_TTL_S)
        pipe.execute()

    def size(self) -> tuple[int, int]:
        """How many segments are stored, and their bytes."""
        names = [n.decode() if isinstance(n, bytes) else str(n)
                 for n in self.r.smembers(keys.sound_segments())]
        pipe = self.r.pipeline(transaction=False)
        for n in names:
            pipe.strlen(keys.sound_segment(n))
        return len(names), sum(pipe.execute())


class AsyncClipStore:
    """For the web processes (an asyncio connection of their own, in bytes)."""

    def __init__(self, url: str) -> None:
        self.r = connections.connect_async(url, decode_responses=False)

    async def existing(self, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()
        return _present(await self.r.smismember(keys.sound_segments(), list(ids)), ids)

    async def segments(self, ids: Sequence[str]) -> list[bytes | None]:
        if not ids:
            return []
        pipe = self.r.pipeline(transaction=False)
        for i in ids:
            pipe.get(keys.sound_segment(i))
        return [_bytes(v) for v in await pipe.execute()]

    async def clip(self, name: str) -> bytes | None:
        return _bytes(await self.r.get(keys.sound_clip(name)))

    async def has_clip(self, name: str) -> bool:
        return bool(await self.r.exists(keys.sound_clip(name)))

    async def put_clip(self, name: str, wav: bytes) -> None:
        await self.r.set(keys.sound_clip(name), wav, ex=CLIP_TTL_S)

    async def plan(self, names: Sequence[str]) -> None:
        """These clips were named by a call: requests for them may join them, until they expire."""
        if not names:
            return
        # Not MULTI: on a cluster the names hash to different slots, and each mark stands alone.
        pipe = self.r.pipeline(transaction=False)
        for name in names:
            pipe.set(keys.sound_planned(name), b"1", ex=CLIP_TTL_S)
        await pipe.execute()

    async def planned(self, name: str) -> bool:
        return bool(await self.r.exists(keys.sound_planned(name)))

    async def close(self) -> None:
        await self.r.aclose()
