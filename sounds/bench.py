"""`queueserver sounds bench [--counters 30] [--engine espeak]`: the announcement benchmark.

On a private, empty redis-server (a unix socket in a temporary folder, never a shared Redis) and
a made-up centre with services A and P, N counters and the three languages, it measures:

- rendering every segment the centre can need, cold, and again with everything cached;
- the segments' count and size in Redis;
- a call's way to its joined clips, as the web process takes it: reading which segments exist
  (before the call's script), then joining and caching each language's clip (after it). Warm:
  the segments exist. Cold: the cache is empty, so the call's own segments are rendered first,
  as the worker's job does (the time RQ takes to hand the job to a worker is not included).

It prints a Markdown table (docs/benchmarks.md keeps the figures).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import msgspec

from queueserver.platform.config import Centre, Config, Counter, Engine, Service
from queueserver.rules.vocab import ApplicationType
from queueserver.sounds import announcer, clips, engines, render, spoken

CALLS = 12  # per cache state: enough for a stable median, quick with espeak-ng
START_WAIT_S = 10.0


@contextmanager
def private_redis() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("queueserver: the benchmark needs redis-server (Debian redis-server)")
    folder = Path(tempfile.mkdtemp(prefix="qs-bench-"))
    socket = folder / "redis.sock"
    proc = subprocess.Popen([binary, "--port", "0", "--unixsocket", str(socket), "--save", "",
                             "--appendonly", "no", "--dir", str(folder)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"unix://{socket}"
    try:
        deadline = time.monotonic() + START_WAIT_S
        while True:
            try:
                clips.connect(url).ping()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


def bench_centre(counters: int, engine: str) -> Centre:
    return Centre(
        id="bench", name_en="Benchmark Centre", name_zh="測試中心",
        services=(Service("A", "Applications", "申請", (ApplicationType.FIRST,)),
                  Service("P", "Priority", "優先", priority=True)),
        counters=tuple(Counter(n, ("P", "A") if n % 2 else ("A", "P"))
                       for n in range(1, counters + 1)),
        announcement_engine=msgspec.convert(engine, Engine))


def _calls(counters: int) -> list[tuple[str, int]]:
    return [(f"{'AP'[i % 2]}{(37 * i + 11) % 1000:03d}", 1 + (7 * i) % counters)
            for i in range(CALLS)]


async def _to_ready(a: announcer.Announcer, centre: Centre, ticket: str, counter: int) -> int:
    voices = await a.voices(centre, counter, recall=False)
    await a.plan(ticket, voices)  # before the call is answered
    await a._after_call(centre, ticket, voices)  # what `called` runs in the background
    return len(announcer.clip_urls(voices, ticket))


def _ms(values: list[float]) -> str:
    return f"{1000 * statistics.median(values):.1f} ms (max {1000 * max(values):.1f} ms)"


def run(counters: int, engine: str) -> int:
    centre = bench_centre(counters, engine)
    cfg = Config(centres=(centre,))
    chain = engines.chain(engine)
    rows: list[tuple[str, str]] = []
    with private_redis() as url:
        r = clips.connect(url)
        store = clips.SegmentStore(r)
        started = time.perf_counter()
        report = render.render_missing(store, centre)
        rows.append((f"render everything, cold ({report})",
                     f"{time.perf_counter() - started:.2f} s"))
        count, size = store.size()
        rows.append(("segments in Redis", f"{count} segments, {size / 1e6:.2f} MB"))
        started = time.perf_counter()
        again = render.render_missing(store, centre)
        rows.append((f"render everything, warm ({again})",
                     f"{1000 * (time.perf_counter() - started):.1f} ms"))

        async def calls(cold: bool) -> list[float]:
            a = announcer.Announcer(cfg, url)
            times = []
            try:
                for ticket, counter in _calls(counters):
                    if cold:
                        r.flushdb()
                    started = time.perf_counter()
                    if cold:
                        wanted = [(lang, p) for lang in centre.announcement_languages
                                  for p in spoken.pieces(ticket, counter, lang)]
                        render.render_pieces(store, wanted, chain)
                    spoken_clips = await _to_ready(a, centre, ticket, counter)
                    times.append(time.perf_counter() - started)
                    assert spoken_clips == len(centre.announcement_languages)
            finally:
                await a.close()
            return times

        warm = asyncio.run(calls(cold=False))
        cold = asyncio.run(calls(cold=True))
        joined = r.scan_iter(match="qs:sound:clip:*")
        clip_sizes = [int(r.strlen(k)) for k in joined]
        rows.append(("call to its 3 clips ready, warm (segments cached)", _ms(warm)))
        rows.append(("call to its 3 clips ready, cold (its segments rendered first)", _ms(cold)))
        if clip_sizes:
            rows.append(("one joined clip (one language of one call)",
                         f"{statistics.mean(clip_sizes) / 1e3:.0f} kB"))
        r.close()
    print(f"| {engine}, {counters} counters, services A and P, yue cmn en | |")
    print("|---|---|")
    print(f"| machine: {os.cpu_count()} cores, load average at the end | "
          f"{os.getloadavg()[0]:.1f} |")
    for what, figure in rows:
        print(f"| {what} | {figure} |")
    return 0
