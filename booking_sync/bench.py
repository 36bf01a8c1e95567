"""The booking import benchmark: time and memory at 10,000, 50,000 and 200,000 rows.

    python -m queueserver.booking_sync.bench [--rows 10000 50000 200000] [--feed]
                                             [--appendfsync always|everysec]

Runs on a private redis-server it starts on a free loopback port (never the machine's own),
without an append-only file unless `--appendfsync` asks for one (`queueserver bench` imports
into a Redis with `appendfsync always`, which slows it down: a sync a script call).
Each size is imported in a fresh child process (so its peak memory is its own): the first
import into an empty store, then the same export again (every row unchanged), and with
`--feed` the same export pulled through `bookings sync`'s code from a loopback HTTP server.
It reports rows per second and two peaks: the process's resident set (ru_maxrss) and, in a
second run under tracemalloc (which slows Python down, so it is not timed), the Python heap.
Last, the issue's own figure: `queueserver bookings import` itself, its own process timed from
its start (interpreter, imports, configuration) to its exit (`command`, which `queueserver
bench` also runs: its JSON's `import`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.server
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import redis

from queueserver.booking_sync import importer
from queueserver.bookings.store import BookingStore
from queueserver.platform import config
from queueserver.rules import identity

SIZES = (10_000, 50_000, 200_000)
CENTRES = ("wan-chai", "kowloon-bay")
SECRET = b"bench-secret"
AT = "2026-11-26T18:00:00+08:00"
FIRST_DAY = dt.date(2026, 11, 30)
# Bookings spread over this many days, 20 half-hour slots a day, as a real month's export.
DAYS = 30
SLOTS = 20


def booking_row(i: int, centres: Sequence[str] = CENTRES) -> dict[str, str]:
    """The i-th booking of a made-up export: valid, distinct, spread over centres and days."""
    prefix = chr(ord("A") + i % 26)
    digits = f"{i % 1_000_000:06d}"
    slot = (i // len(centres)) % SLOTS
    start = 9 * 60 + 30 * slot
    return {
        "booking_ref": f"BENCH{i:08d}", "centre": centres[i % len(centres)],
        "date": (FIRST_DAY + dt.timedelta(days=(i // 97) % DAYS)).isoformat(),
        "slot_start": f"{start // 60:02d}:{start % 60:02d}",
        "slot_end": f"{(start + 30) // 60:02d}:{(start + 30) % 60:02d}",
        "application_type": ("first", "renewal", "reissue_lost", "reissue_damaged")[i % 4],
        "surname": f"SURNAME{i % 5000}", "given_names": "TAI MAN", "id_kind": "hkid",
        "id_number": f"{prefix}{digits}({identity.hkid_check_digit(prefix, digits)})",
        "passport_no": f"K{i:08d}", "nationality": "GBR", "status": "approved",
    }


def write_export(out: IO[str], count: int, centres: Sequence[str] = CENTRES) -> None:
    """A `{"bookings": [...]}` export of `count` rows, written one row at a time."""
    out.write('{"exported_at": "2026-11-26T18:00:00+08:00", "bookings": [\n')
    for i in range(count):
        out.write(("," if i else "") + json.dumps(booking_row(i, centres)) + "\n")
    out.write("]}\n")


def command(env: Mapping[str, str], centres: Sequence[str], rows: int,
            folder: Path) -> dict[str, Any]:
    """`queueserver bookings import` of a made-up export of `rows` new bookings at `centres`,
    as its own process, timed from its start to its end: the issue's figure. `env` names the
    Redis (REDIS_URL), the secret and the configuration (QUEUESERVER_CONFIG)."""
    path = folder / f"import-{rows}.json"
    with path.open("w", encoding="utf-8") as out:
        write_export(out, rows, centres)
    output = folder / f"import-{rows}.out"
    peak = folder / f"import-{rows}.peak"
    try:
        with output.open("wb") as out:
            started = time.perf_counter()
            proc = subprocess.Popen(
                [sys.executable, "-c", _PEAK_OF, str(peak), sys.executable, "-m",
                 "queueserver.tools.cli", "bookings", "import", str(path)],
                env=dict(env), cwd=folder, stdout=out, stderr=subprocess.STDOUT)
            proc.wait()
            seconds = time.perf_counter() - started
        last = output.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:]
        expected = f"imported={rows} updated=0 cancelled=0 unchanged=0 rejected=0"
        if proc.returncode != 0 or last != [expected]:
            raise RuntimeError(f"the import did not import {rows} rows: exit "
                               f"{proc.returncode}, {last[0] if last else 'no output'}")
        peak_kib = int(peak.read_text())
    finally:
        path.unlink()
        output.unlink(missing_ok=True)
        peak.unlink(missing_ok=True)
    return {"rows": rows, "seconds": round(seconds, 2), "rows_per_s": round(rows / seconds),
            "peak_rss_mib": round(peak_kib / 1024, 1)}


# The command's peak resident memory (KiB, into the file argv[1]), from a small process that
# forks it: Linux keeps a process's peak across exec, so a child the bench started itself would
# report at least the bench's own memory at that moment (hundreds of MiB after the displays'
# phase), not the import's. The import reads a long file with a second process of its own: the
# figure is the larger of the biggest process's own peak (ru_maxrss, which wait4 gives for the
# whole tree as its largest member's) and the sum of the tree's resident sets sampled every 10
# ms (which counts pages the two share twice). The time of this extra start is counted with
# the import.
_PEAK_OF = """import os, sys, time
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])

def resident(p):
    try:
        with open(f"/proc/{p}/status") as f:
            kib = next((int(l.split()[1]) for l in f if l.startswith("VmRSS:")), 0)
        with open(f"/proc/{p}/task/{p}/children") as f:
            return kib + sum(resident(int(c)) for c in f.read().split())
    except OSError:
        return 0

together = 0
while True:
    done, status, usage = os.wait4(pid, os.WNOHANG)
    if done:
        break
    together = max(together, resident(pid))
    time.sleep(0.01)
with open(sys.argv[1], "w") as out:
    out.write(str(max(usage.ru_maxrss, together)))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def import_file(r: redis.Redis, path: Path) -> importer.Counts:
    store = BookingStore(r, SECRET, path.name, AT)

    def opener() -> IO[bytes]:
        return path.open("rb")

    return importer.run(store, importer.from_file(opener, "json", frozenset(CENTRES)),
                        lambda line: None)


def sync_feed(r: redis.Redis, url: str) -> importer.Counts:
    from queueserver.booking_sync.feed import Pull

    with Pull(url) as pull:
        pull.changed()
        store = BookingStore(r, SECRET, "feed", AT)
        return importer.run(store, pull.source(frozenset(CENTRES)), lambda line: None)


# --- one measurement, in a child process ----------------------------------------------------------


def _child(args: argparse.Namespace) -> None:
    r = redis.Redis.from_url(args.redis_url, decode_responses=True)
    if args.traced:
        tracemalloc.start()
    started = time.perf_counter()
    if args.url:
        counts = sync_feed(r, args.url)
    else:
        counts = import_file(r, Path(args.file))
    elapsed = time.perf_counter() - started
    heap = tracemalloc.get_traced_memory()[1] if args.traced else 0
    # With the second reader of a long file (its peak, added: pages they share count twice).
    rss_kib = sum(resource.getrusage(who).ru_maxrss
                  for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    print(json.dumps({"seconds": elapsed, "rss_kib": rss_kib, "heap": heap,
                      "counts": str(counts)}))


def _measure(redis_url: str, file: Path | None = None, url: str | None = None,
             traced: bool = False) -> dict[str, Any]:
    command = [sys.executable, "-m", "queueserver.booking_sync.bench", "--child",
               "--redis-url", redis_url]
    command += ["--url", url] if url else ["--file", str(file)]
    if traced:
        command.append("--traced")
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --- the private Redis and the loopback feed ------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _redis_server(folder: Path, appendfsync: str | None) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server")
    if not binary:
        sys.exit("the benchmark needs redis-server (Debian: apt-get install redis-server)")
    port = _free_port()
    aof = ["--appendonly", "yes", "--appendfsync", appendfsync] if appendfsync else [
        "--appendonly", "no"]
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", *aof,
         "--dir", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    for _ in range(200):
        try:
            client.ping()
            return proc, url
        except redis.ConnectionError:
            time.sleep(0.02)
    proc.kill()
    sys.exit("the benchmark's redis-server did not start")


def _serve(folder: Path) -> tuple[http.server.ThreadingHTTPServer, int]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: Any, **k: Any) -> None:
            super().__init__(*a, directory=str(folder), **k)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, int(server.server_address[1])


def _rows(sizes: list[int], feed: bool, appendfsync: str | None) -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="queueserver-bench-") as name:
        folder = Path(name)
        proc, redis_url = _redis_server(folder, appendfsync)
        server, port = _serve(folder)
        # Emptying a store of 200,000 bookings takes a while on a busy machine: no time-out.
        r = redis.Redis.from_url(redis_url, socket_timeout=None)
        try:
            for size in sizes:
                path = folder / f"export-{size}.json"
                with path.open("w", encoding="utf-8") as out:
                    write_export(out, size)
                r.flushall(asynchronous=True)  # the private server above: nothing of anyone else's
                whole = command({**os.environ, "REDIS_URL": redis_url,
                                 "QUEUESERVER_SECRET": SECRET.decode(),
                                 "QUEUESERVER_CONFIG": str(config.sample_path())},
                                CENTRES, size, folder)
                r.flushall(asynchronous=True)
                first = _measure(redis_url, file=path)
                again = _measure(redis_url, file=path)
                r.flushall(asynchronous=True)
                heap = _measure(redis_url, file=path, traced=True)["heap"]
                line = (f"| {size:,} | {path.stat().st_size / 2**20:.1f} MiB "
                        f"| {first['seconds']:.1f} s | {size / first['seconds']:,.0f} "
                        f"| {size / again['seconds']:,.0f} ")
                if feed:
                    r.flushall(asynchronous=True)
                    pulled = _measure(redis_url, url=f"http://127.0.0.1:{port}/{path.name}")
                    line += f"| {size / pulled['seconds']:,.0f} "
                yield line + (f"| {first['rss_kib'] / 1024:.0f} MiB "
                              f"| {heap / 2**20:.1f} MiB "
                              f"| {whole['seconds']:.1f} s, {whole['rows_per_s']:,} rows/s, "
                              f"{whole['peak_rss_mib']:.0f} MiB |")
                path.unlink()
        finally:
            server.shutdown()
            r.close()
            proc.terminate()
            proc.wait(10)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m queueserver.booking_sync.bench",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, nargs="+", default=list(SIZES))
    p.add_argument("--feed", action="store_true", help="also pull it over loopback HTTP")
    p.add_argument("--appendfsync", choices=("always", "everysec"),
                   help="Redis keeps an append-only file, synced so (default: none)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--redis-url", help=argparse.SUPPRESS)
    p.add_argument("--file", help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        _child(args)
        return 0
    print(f"booking import benchmark: Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs, redis-server on loopback, "
          f"appendfsync {args.appendfsync or 'off (no append-only file)'}", flush=True)
    header = "| rows | export | first import | rows/s | rows/s again (unchanged) "
    header += "| rows/s over HTTP " if args.feed else ""
    header += "| peak RSS | peak Python heap | `bookings import`, process start included |"
    print(header)
    print("|" + "---|" * header.count(" | ") + "---|")
    for line in _rows(args.rows, args.feed, args.appendfsync):
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
