"""The web process's side of announcements: what a call's script needs to name its clips, the
joined clips themselves, and asking the worker for what is missing.

A call's script picks its ticket atomically, so the clips cannot be named before it runs, and it
must never wait for audio. So, just before it runs, `voices()` reads which of the segments this
counter's calls can need exist (one SMISMEMBER on the index, for those the process does not
know of already: segments are never deleted), and passes their names; the script names each
language's clip from the segments of the ticket it picked, or leaves the language out
(scripts/_lib.lua, `call_clips`). A clip's name lists its segments, so it can be made as soon
as they exist. Right after the script, before the call is
answered, the calling process records the names it picked as planned (a display asks for them
only after the chime has played); then it joins and caches them in the background, and any
process asked for a planned clip that is not cached yet joins and caches it from Redis too. A
name no call planned is a 404 and costs nothing: clips need no credential, so joining whatever a
stranger names would be free work for anyone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from functools import lru_cache
from typing import Any

import redis

from queueserver.platform.config import Centre, Config
from queueserver.sounds import audio, engines, render, segments, spoken
from queueserver.sounds.clips import CLIPS_PREFIX, AsyncClipStore

log = logging.getLogger("queueserver.sounds")

SUFFIX = ".wav"
# A call that lacks a voice asks the worker to render; while nothing can render (no engine
# works), calls would ask every time: once a minute per process is plenty.
ASK_WORKER_EVERY_S = 60.0
_DIGITS = "0123456789"
# A segment found missing is looked for again after this long, in the background: a call never
# waits on Redis for it (in a centre whose segments are not rendered, every call would), and
# the calls after the first one a second after a rendering have its voice.
MISSING_RECHECK_S = 1.0


@lru_cache(maxsize=4096)
def _voice(engine: str, language: str, letters: tuple[str, ...], counter: int,
           recall: bool) -> dict[str, Any]:
    """Segment names of one voice for every call at one counter (pure: cached)."""
    e = engines.engine(engine)

    def name(text: str) -> str:
        made: str = segments.segment_id(e.name, e.voice(language), language, text)
        return made

    said = spoken.SPOKEN[language]
    before = ([said.recall] if recall else []) + [said.lead_in]
    after = [said.please_go_to, spoken.counter_words(counter, language)]
    after += [said.closing] if said.closing else []
    return {
        "prefix": CLIPS_PREFIX + segments.CLIP_FORMAT + ".",
        "suffix": SUFFIX,
        "before": [name(t) for t in before],
        "letters": {c: name(spoken.letter_words(c, language)) for c in letters},
        "digits": {d: name(spoken.digit_words(d, language)) for d in _DIGITS},
        "after": [name(t) for t in after],
    }


def _keep(voice: dict[str, Any], present: set[str]) -> dict[str, Any] | None:
    if not all(i in present for i in voice["before"] + voice["after"]):
        return None
    return {**voice,
            "letters": {c: i for c, i in voice["letters"].items() if i in present},
            "digits": {d: i for d, i in voice["digits"].items() if i in present}}


def clip_urls(voices: list[dict[str, Any]], ticket: str) -> list[str]:
    """The spoken clips the script names for `ticket` (the same rule as `call_clips` in Lua)."""
    letter, digits = ticket[:1], ticket[1:]
    out = []
    for language in voices:
        for v in language["candidates"]:
            if letter in v["letters"] and all(d in v["digits"] for d in digits):
                ids = v["before"] + [v["letters"][letter]] + [v["digits"][d] for d in digits]
                out.append(v["prefix"] + ".".join(ids + v["after"]) + v["suffix"])
                break
    return out


def clip_name(url: str) -> str:
    return url.removeprefix(CLIPS_PREFIX).removesuffix(SUFFIX)


class Announcer:
    """One per web process (the app's lifespan); `Centres` asks it around every call."""

    def __init__(self, config: Config, redis_url: str) -> None:
        self.config = config
        self.redis_url = redis_url
        self.store = AsyncClipStore(redis_url)
        self._tasks: set[asyncio.Task[None]] = set()
        self._joining: dict[str, asyncio.Task[bytes | None]] = {}
        self._asked_at: dict[str, float] = {}
        self._silent_logged: set[str] = set()
        # Segments known to exist, and when each missing one was last looked for (_existing).
        self._present: set[str] = set()
        self._missing_at: dict[str, float] = {}

    async def voices(self, centre: Centre, counter: int, recall: bool) -> list[dict[str, Any]]:
        """Per language in play order, the voices whose segments exist, best engine first.
        When that cannot be read, none: the call goes out with the chime rather than fail."""
        letters = tuple(s.code for s in centre.services)
        wanted = [(language, [_voice(e.name, language, letters, counter, recall)
                              for e in engines.chain(centre.announcement_engine)])
                  for language in centre.announcement_languages]
        ids = sorted({i for _, vs in wanted for v in vs
                      for i in [*v["before"], *v["after"], *v["letters"].values(),
                                *v["digits"].values()]})
        try:
            present = await self._existing(ids)
        except (redis.RedisError, OSError) as e:
            log.warning("announcement segments unreadable (%s): this call chimes only", e)
            return []
        out = []
        for language, vs in wanted:
            kept = [k for k in (_keep(v, present) for v in vs) if k is not None]
            out.append({"language": language, "candidates": kept})
        return out

    async def _existing(self, ids: list[str]) -> set[str]:
        """Which of these segments exist. Segments are never deleted, so one found is known for
        good, and a call whose segments are all known asks Redis nothing; one never asked
        about is asked about now; one found missing is asked about again after
        MISSING_RECHECK_S (the worker may be rendering it), in the background, so that the
        call goes on with what is known."""
        now = time.monotonic()
        unknown = [i for i in ids if i not in self._present and i not in self._missing_at]
        due = [i for i in ids if i in self._missing_at
               and now - self._missing_at[i] >= MISSING_RECHECK_S]
        if due:
            for i in due:
                self._missing_at[i] = now  # one look at a time
            self._background(self._look_again(due))
        if unknown:
            self._learn(unknown, await self.store.existing(unknown), now)
        return {i for i in ids if i in self._present}

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        """Work that no answer waits for, kept until done (`close` cancels what is left)."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _look_again(self, ids: list[str]) -> None:
        try:
            found = await self.store.existing(ids)
        except (redis.RedisError, OSError):
            return  # looked for again after MISSING_RECHECK_S
        self._learn(ids, found, time.monotonic())

    def _learn(self, ids: list[str], found: set[str], now: float) -> None:
        self._present |= found
        for i in ids:
            if i in found:
                self._missing_at.pop(i, None)
            else:
                self._missing_at[i] = now

    async def plan(self, ticket: str, voices: list[dict[str, Any]]) -> None:
        """Right after a call's script, before it is answered: the clips its event names may be
        joined when a display asks for them. The call has happened whatever happens here, so a
        failure is logged and the call is answered (its displays still get the chime)."""
        try:
            await self.store.plan([clip_name(url) for url in clip_urls(voices, ticket)])
        except (redis.RedisError, OSError) as e:
            log.warning("could not plan the announcement of %s (%s): its clips will be 404",
                        ticket, e)

    def called(self, centre: Centre, ticket: str, voices: list[dict[str, Any]]) -> None:
        """After a call's script: join its clips into the cache, and ask for what is missing.
        In the background, so that the answer to the counter does not wait for audio."""
        self._background(self._after_call(centre, ticket, voices))

    async def _after_call(self, centre: Centre, ticket: str,
                          voices: list[dict[str, Any]]) -> None:
        try:
            urls = clip_urls(voices, ticket)
            for url in urls:
                name = clip_name(url)
                if not await self.store.has_clip(name):
                    await self._join_once(name)
            if len(urls) < len(voices):
                if centre.id not in self._silent_logged:
                    self._silent_logged.add(centre.id)
                    log.warning("calls at %s go out without speech in some languages until "
                                "their segments are rendered (is `queueserver worker` running?)",
                                centre.id)
                await self._ask_worker(centre)
        except Exception:
            # The call has happened; its audio is a courtesy that must not take the server down.
            log.exception("preparing the announcement of %s at %s failed", ticket, centre.id)

    async def plan_clips(self, urls: list[str]) -> None:
        """A notice's clips (its words said whole), named by its event: they may be joined when
        a display asks for them, as a call's. A failure costs the speech, never the notice."""
        try:
            await self.store.plan([clip_name(url) for url in urls])
        except (redis.RedisError, OSError) as e:
            log.warning("could not plan a notice's clips (%s): they will be 404", e)

    def prepare(self, urls: list[str]) -> None:
        """Join and cache these clips now, in the background (a notice said with segments that
        exist already): the displays find them cached, as they find a call's."""
        self._background(self._cache(urls))

    async def _cache(self, urls: list[str]) -> None:
        try:
            for url in urls:
                name = clip_name(url)
                if not await self.store.has_clip(name):
                    joined = await self._join_once(name)
                    if joined is not None:
                        await self.store.put_clip(name, joined)
        except Exception:
            log.exception("caching clips %s failed", urls)

    async def _ask_worker(self, centre: Centre) -> None:
        now = time.monotonic()
        if now - self._asked_at.get(centre.id, -ASK_WORKER_EVERY_S) < ASK_WORKER_EVERY_S:
            return
        self._asked_at[centre.id] = now
        await asyncio.to_thread(render.request_render, self.config, centre.id, self.redis_url)

    async def _join_once(self, name: str) -> bytes | None:
        """Join a clip and cache it: one join per clip at a time in this process, however many
        displays ask at once."""
        task = self._joining.get(name)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._join_and_keep(name))
            self._joining[name] = task
            task.add_done_callback(lambda _: self._joining.pop(name, None))
        # Shielded: a display that hangs up does not cancel the join the others wait for.
        return await asyncio.shield(task)

    async def _join_and_keep(self, name: str) -> bytes | None:
        # A request that found no clip may come here after an earlier join of it has ended (it
        # waited on Redis meanwhile): that join's clip is in the cache, so no second join.
        cached: bytes | None = await self.store.clip(name)
        if cached is not None:
            return cached
        joined = await self.join(name)
        if joined is not None:
            await self.store.put_clip(name, joined)
        return joined

    async def join(self, name: str) -> bytes | None:
        """A clip joined from its segments, or None when it names segments that are not there."""
        ids = segments.clip_segments(name)
        if ids is None:
            return None
        stored = await self.store.segments(ids)
        if any(s is None for s in stored):
            return None
        wavs = [s for s in stored if s is not None]
        return await asyncio.to_thread(
            lambda: audio.to_wav(segments.join([audio.from_wav(w) for w in wavs])))

    async def clip(self, name: str) -> bytes | None:
        """What `/sounds/clips/<name>.wav` answers: the cached clip; else, if a call planned it,
        the clip joined now and cached; else None (a 404), without joining anything."""
        if segments.clip_segments(name) is None:
            return None
        cached: bytes | None = await self.store.clip(name)
        if cached is not None:
            return cached
        if not await self.store.planned(name):
            return None
        return await self._join_once(name)

    async def start(self) -> None:
        """At start-up: ask the worker for every centre whose segments are not all rendered."""
        for centre in self.config.centres:
            try:
                gaps = await asyncio.to_thread(self._missing, centre)
                if gaps:
                    log.info("%s: %d announcement segments to render; asking the worker",
                             centre.id, gaps)
                    await asyncio.to_thread(render.request_render, self.config, centre.id,
                                            self.redis_url)
            except Exception as e:  # noqa: BLE001 - Redis may be down at start; serving goes on
                log.warning("could not check %s's announcement segments at start-up: %s",
                            centre.id, e)

    def _missing(self, centre: Centre) -> int:
        from queueserver.sounds.clips import SegmentStore, connect

        r = connect(self.redis_url)
        try:
            count: int = render.missing(SegmentStore(r), centre)
            return count
        finally:
            r.close()

    async def close(self) -> None:
        pending = [*self._tasks, *self._joining.values()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await self.store.close()
