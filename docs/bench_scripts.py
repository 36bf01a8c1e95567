"""The Redis time of the check-in, board and counter scripts at a queue's depths (issue 20).

    python docs/bench_scripts.py [DEPTHS] [N]       # default: 10,1000,5000 200

It starts a private `redis-server` (a unix socket in a temporary folder), makes the sample
config's first centre with 12 counters (1 and 2 call P before A, 3 to 12 A only), opens them
all, checks in tickets through the real `Centres` (no web server) until the queue holds each
depth (at least: the N measured at a smaller depth stay in it), and then, with Redis's SLOWLOG
logging every command, checks in N more, reads the board 20 times and makes N/4 calls (each a
call, a no-show and a requeue, as the bench's calls phase), and then, every counter serving
someone, N more check-ins: the median, 99th percentile and largest time of each script, as Redis
measured it (the machine's load moves the tail; the median least). Last, the import's script
(`booking_upsert`): Redis's time a row of 20,000 bookings new to the centre, applied as
`bookings import` sends them (a batch of `BATCH_ROWS` a round trip, calls that stop at
`CALL_BUDGET_US`), then of the same rows again (each one settled): a row's time and each
call's, and the memory and keys each pass added to Redis. First of all, on the empty Redis:
the Lua heap with every script loaded, and the steps of Lua's collector that Redis takes inside
every 50th script call (`LUA_GC_CYCLE_PERIOD`), as the largest 2% of 5,000 calls, every other
one of a script that makes a little garbage (a hundred steps).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redis
import redis.asyncio

from queueserver.booking_sync.bench import booking_row
from queueserver.booking_sync.importer import BATCH_ROWS
from queueserver.booking_sync.rows import BOOKINGS
from queueserver.bookings.store import CALL_BUDGET_US, Booking, BookingStore
from queueserver.platform import config
from queueserver.platform.clock import Clock, iso
from queueserver.queue.tickets import Centres
from queueserver.rules.vocab import CounterAction
from queueserver.store import lua

SCRIPTS = ("checkin", "board", "photo_register", "call", "no_show", "requeue")


def twelve_counters(folder: Path) -> Path:
    sample = (Path(config.__file__).parents[1] / "sample_config.toml").read_text()
    head, rest = sample.split("[[centres]]", 1)
    centre = rest.split("[[centres]]", 1)[0].split("  [[centres.counters]]", 1)[0]
    orders = ['["P", "A"]' if n <= 2 else '["A"]' for n in range(1, 13)]
    counters = "".join(f"  [[centres.counters]]\n  number = {n}\n  services = {order}\n\n"
                       for n, order in enumerate(orders, 1))
    path = folder / "twelve.toml"
    path.write_text(head + "[[centres]]" + centre.replace('"gtts"', '"tone"') + counters)
    return path


async def measure(url: str, cfg: config.Config, depths: list[int], n: int) -> None:
    r = redis.Redis.from_url(url, decode_responses=True)
    centre = cfg.centres[0]
    now = dt.datetime(2026, 11, 27, 10, 0, tzinfo=cfg.tz)
    secret = b"bench-scripts-secret"
    conn = redis.asyncio.Redis.from_url(url, decode_responses=True)
    centres = Centres(cfg, conn, Clock.frozen(cfg.tz, now), secret)
    names = {lua.sha(s): s for s in SCRIPTS}
    total = max(depths) + 2 * n * len(depths)
    bookings = [Booking(ref=f"S{i:06d}", centre=centre.id, date=now.date().isoformat(),
                        slot_start="09:00", slot_end="09:30", application_type="renewal",
                        surname="X", given_names="Y", id_kind="access_notice",
                        id_number=f"ID{i}", passport_no="", nationality="HKG",
                        status="approved") for i in range(total)]
    store = BookingStore(r, secret, "bench", iso(now))
    for start in range(0, total, 1000):
        store.apply(bookings[start:start + 1000])
    for c in centre.counters:
        await centres.counter_state(centre.id, c.number, CounterAction.OPEN, "bench", None)
    issued = 0

    async def check_in() -> None:
        nonlocal issued
        b = bookings[issued]
        issued += 1
        await centres.register_photo(centre.id, b.ref, "bench", None)
        await centres.check_in(centre.id, b.ref, b.id_number, b.ref, False, True, "bench", None)

    for depth in depths:
        while issued < depth:
            await check_in()
        with logged(r) as entries:
            for _ in range(n):
                await check_in()
            for _ in range(20):
                await centres.board(centre.id)
            # A counter's round, as the bench's calls phase makes it: a call, a no-show, the
            # ticket back in the queue (which stays as deep).
            for k in range(n // 4):
                counter = centre.counters[k % len(centre.counters)].number
                called = await centres.call(centre.id, counter, None, "bench", None)
                assert called is not None
                await centres.no_show(centre.id, counter, "bench", None)
                await centres.requeue(centre.id, called.number, "bench", None)
        times: dict[str, list[int]] = {}
        for e in entries:
            words = _words(e["command"])
            if words and words[0].upper() == "EVALSHA" and words[1] in names:
                times.setdefault(names[words[1]], []).append(int(e["duration"]))
        print(f"{depth} waiting: {_spread(times)}")
        # A busy hall: every counter serving someone while N more check in (the estimate reads
        # what each counter's service has taken so far); then each serves nobody again.
        serving = [(c.number, await centres.call(centre.id, c.number, None, "bench", None))
                   for c in centre.counters]
        with logged(r) as entries:
            for _ in range(n):
                await check_in()
        busy = [int(e["duration"]) for e in entries
                if _words(e["command"])[:2] == ["EVALSHA", lua.sha("checkin")]]
        print(f"{depth} waiting, every counter busy: {_spread({'checkin': busy})}")
        for counter, called in serving:
            assert called is not None
            await centres.no_show(centre.id, counter, "bench", None)
            await centres.requeue(centre.id, called.number, "bench", None)
    await conn.aclose()


@contextlib.contextmanager
def logged(r: redis.Redis) -> Iterator[list[Any]]:
    """Every command Redis runs within the block, as its SLOWLOG entries (filled in when the
    block ends); the log is emptied after, so that its entries' memory is not counted."""
    entries: list[Any] = []
    r.config_set("slowlog-max-len", 300_000)
    r.config_set("slowlog-log-slower-than", 0)
    r.slowlog_reset()
    yield entries
    entries += r.slowlog_get(300_000)
    r.config_set("slowlog-log-slower-than", 10_000_000)
    r.slowlog_reset()


def _spread(times: dict[str, list[int]]) -> str:
    return "; ".join(
        f"{s} median {statistics.median(v):.0f} us, p99 {sorted(v)[int(len(v) * .99) - 1]}"
        f", max {max(v)} ({len(v)})" for s, v in sorted(times.items()))


def _words(command: str | bytes) -> list[str]:
    return (command.decode() if isinstance(command, bytes) else command).split()


def upsert(url: str, cfg: config.Config, rows: int = 20_000) -> None:
    """Redis's time a row of the import's script, for new bookings and for the same again."""
    r = redis.Redis.from_url(url, decode_responses=True)
    centre = cfg.centres[0].id
    store = BookingStore(r, b"bench-scripts-secret", "bench.json", "2026-11-26T18:00:00+08:00")
    centres = frozenset([centre])
    bookings = [BOOKINGS.build(booking_row(i, (centre,)), centres) for i in range(rows)]
    ready = [(values, fp) for _, fp, values in map(store.prepare, bookings)]
    sha = lua.sha("booking_upsert")
    for label in ("new", "again"):
        memory, keys_ = r.info("memory")["used_memory"], r.dbsize()
        with logged(r) as entries:
            for start in range(0, rows, BATCH_ROWS):
                store.apply_ready(ready[start:start + BATCH_ROWS])
        calls = [int(e["duration"]) for e in entries
                 if _words(e["command"])[:2] == ["EVALSHA", sha]]
        held = (r.info("memory")["used_memory"] - memory) / rows
        a_call = f"a call ({rows / len(calls):.1f} rows on average, {CALL_BUDGET_US} us budget)"
        print(f"booking_upsert, {label}: {sum(calls) / rows:.1f} us a row ({rows:,} rows); "
              f"{_spread({a_call: calls})}; Redis memory "
              f"{held:,.0f} bytes and {(r.dbsize() - keys_) / rows:.2f} keys more a row")


def collector(url: str) -> None:
    """The Lua heap with every script loaded, and the collector's steps' time, its step set as
    the project's scripts set it (`_collector.lua`, which each of the two scripts here runs
    first)."""
    r = redis.Redis.from_url(url)
    for name in lua.names():
        r.script_load(lua.source(name))
    heap = int(r.info("memory")["used_memory_lua"])
    before, after = lua.collector()
    garbage = r.script_load(before + "local t = {} for i = 1, 200 do t[i] = {i, tostring(i)} "
                            "end return 1" + after)
    nothing = r.script_load(before + "return 1" + after)
    with logged(r) as entries:
        for i in range(5000):
            r.evalsha(garbage if i % 2 else nothing, 0)
    times = sorted(int(e["duration"]) for e in entries if _words(e["command"])[0] == "EVALSHA")
    steps = times[-len(times) // 50:]
    print(f"Lua heap with every script loaded {heap / 2**20:.2f} MiB; the largest 2% of the "
          f"calls (the collector's steps) {steps[0]}-{steps[-1]} us, median "
          f"{statistics.median(steps):.0f}, {sum(t > 250 for t in steps)} over 250 us")


def main() -> None:
    depths = [int(d) for d in (sys.argv[1] if len(sys.argv) > 1 else "10,1000,5000").split(",")]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    folder = Path(tempfile.mkdtemp(prefix="qs-scripts-"))
    sock = folder / "redis.sock"
    proc = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", str(sock), "--save",
                             "", "--appendonly", "no", "--dir", str(folder)],
                            stdout=subprocess.DEVNULL)
    try:
        probe = redis.Redis(unix_socket_path=str(sock))
        for _ in range(100):
            try:
                probe.ping()
                break
            except (redis.ConnectionError, FileNotFoundError):
                time.sleep(0.05)
        cfg = config.load(twelve_counters(folder))
        collector(f"unix://{sock}")
        asyncio.run(measure(f"unix://{sock}", cfg, sorted(depths), n))
        upsert(f"unix://{sock}", cfg)
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
