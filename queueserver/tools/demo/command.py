"""`queueserver demo`: everything started, run and stopped (CONTRACT §3, §8)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import datetime as dt
import logging
import logging.config
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import redis
import redis.asyncio
import uvicorn

from queueserver.auth import credentials as auth
from queueserver.operations import dayclose
from queueserver.platform import embedded, logs, runtime
from queueserver.platform.clock import DEMO_ENV, Clock, from_environment, iso
from queueserver.platform.config import Config
from queueserver.sounds import clips, engines, render
from queueserver.store import keys
from queueserver.tools.demo.console import (
    LIVE_MARK,
    QUIET_MARK,
    Console,
    booking_text,
    screens_text,
)
from queueserver.tools.demo.day import (
    Ready,
    Sample,
    demo_clock,
    samples,
    split_day,
    store_bookings,
)
from queueserver.tools.demo.kiosk import kiosk_or_none
from queueserver.tools.demo.people import Hall, Live, fresh_token, simulation_credentials
from queueserver.tools.demo.serving import Server, listen, serve
from queueserver.web.app import create_app

log = logging.getLogger("queueserver.demo")

# The demo clock's reading is kept this often (real seconds), for a restart to go on from it.
CLOCK_KEPT_EVERY_S = 2.0
# Beyond 100 times (a day in four minutes), the simulated desk alone would be rate-limited.
SPEEDS = (0.1, 100.0)
# The first calls wait this long (real seconds from start) at most for the offline voice.
VOICE_WAIT_S = 5.0
DAY_CHECK_S = 0.5          # how often (real seconds) the demo looks for a new demo day

LOG_NAME = "demo.log"
GTTS_HOST = ("translate.google.com", 443)
# The staff logins printed for the visitor, one of each a centre (and demo-admin).
STAFF_ROLES = (auth.Role.SUPERVISOR, auth.Role.DESK, auth.Role.CLERK, auth.Role.PHOTO)


def credentials(r: redis.Redis, config: Config) -> dict[str, str]:
    """A fresh demo credential per role and centre (the previous run's are revoked)."""
    out = {"demo-admin": fresh_token(r, auth.Role.ADMIN, None, "demo-admin")}
    for c in config.centres:
        for role in auth.Role:
            if role is not auth.Role.ADMIN:
                name = f"demo-{role.value}-{c.id}"
                out[name] = fresh_token(r, role, c.id, name)
    return out


def logins(url: str, config: Config) -> tuple[list[str], str]:
    """Staff logins for the screens, all with one fresh password printed at start."""
    from queueserver.auth import users

    password = secrets.token_urlsafe(9)
    names = ["demo-admin"] + [f"demo-{role.value}-{c.id}" for c in config.centres
                              for role in STAFF_ROLES]
    hashed = users.hash_password(password)  # once: one password for all, and argon2 is slow

    async def create() -> None:
        r = redis.asyncio.Redis.from_url(url, decode_responses=True)
        try:
            for name in names:
                await users.revoke_user(r, name)
                _, role, centre = (name.split("-", 2) + [""])[:3]
                await users.create_user(r, name, password, auth.Role(role), centre or None,
                                        password_hash=hashed)
        finally:
            await r.aclose()

    asyncio.run(create())
    return names, password


def _fakeredis() -> str:
    from fakeredis import TcpFakeServer

    server = TcpFakeServer(("127.0.0.1", 0), server_type="redis")
    # Its connections' threads (the worker's blocking reads among them) must not keep the demo
    # from ending once it has stopped everything.
    server.daemon_threads = True
    server.block_on_close = False
    threading.Thread(target=server.serve_forever, daemon=True, name="fakeredis").start()
    _warn("no redis-server is installed: the demo runs on an in-memory fakeredis server and "
          "NOTHING WILL BE KEPT when it stops (apt-get install redis-server keeps it)")
    return f"redis://127.0.0.1:{server.server_address[1]}/0"


def _warn(text: str) -> None:
    print(f"WARNING: {text}", file=sys.stderr, flush=True)


def _redis_url(config: Config) -> str:
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"]
    try:
        return embedded.ensure(runtime.data_dir(config), long_running=True)
    except embedded.EmbeddedRedisUnavailable:
        return _fakeredis()


def _die_with_parent() -> None:
    # The worker must not outlive the demo, even when the demo is killed outright.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _start_worker(env: dict[str, str], out: IO[bytes]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "queueserver.tools.cli", "worker"], env=env,
                            stdout=out, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)


def _stop_worker(worker: subprocess.Popen[bytes]) -> None:
    """RQ finishes the job at hand on the first SIGTERM and stops it on the second; the demo's
    jobs (audio, the day close) are all safe to run again, so it waits only a moment."""
    for wait in (2.0, 5.0):
        worker.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.wait(wait)
            return
    worker.kill()
    worker.wait(5)


def _ask_for_voices(config: Config, url: str) -> None:
    """Ask the worker for the offline voice first, so that the first calls already speak;
    gTTS, the centres' own engine, follows when the web server asks for what is missing."""
    if shutil.which(engines.ESPEAK_BINARY) is not None:
        for c in config.centres:
            render.request_render(config, c.id, url, engine="espeak")


def _voice_warning() -> str | None:
    """One line when gTTS cannot be reached (asked while the rest starts)."""
    if os.environ.get("QUEUESERVER_TEST_MODE") == "1":
        reachable = False  # test mode never reaches the network (as engines.Gtts)
    else:
        try:
            socket.create_connection(GTTS_HOST, timeout=3).close()
            reachable = True
        except OSError:
            reachable = False
    if reachable:
        return None
    if shutil.which(engines.ESPEAK_BINARY) is not None:
        return ("gTTS (Google text-to-speech) cannot be reached: calls are announced with "
                "espeak-ng's offline voice")
    return ("gTTS (Google text-to-speech) cannot be reached and espeak-ng is not installed: "
            "calls are announced with the chime only (apt-get install espeak-ng)")


def _voices_ready(config: Config, url: str, deadline: float) -> None:
    """Until the offline voice is rendered for every centre, or the deadline."""
    if shutil.which(engines.ESPEAK_BINARY) is None:
        return
    r = clips.connect(url)
    try:
        store = clips.SegmentStore(r)
        while time.monotonic() < deadline:
            if all(render.missing(store, c, "espeak") == 0 for c in config.centres):
                return
            time.sleep(0.1)
    finally:
        r.close()


@dataclass(frozen=True)
class Start:
    """What `run` prepared before the event loop starts."""

    host: str
    sock: socket.socket
    tokens: dict[str, str]
    staff: concurrent.futures.Future[tuple[list[str], str]]
    log_path: Path
    quiet: bool
    started: float
    voice_warning: concurrent.futures.Future[str | None]
    later: list[Sample]  # the rest of the day's bookings, stored once the centres are at work


def _url_host(host: str) -> str:
    if host in ("", "0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def run(config: Config, host: str, port: int, speed: float = 1.0, quiet: bool = False) -> int:
    started = time.monotonic()
    if not SPEEDS[0] <= speed <= SPEEDS[1]:
        print(f"queueserver: --speed must be from {SPEEDS[0]:g} to {SPEEDS[1]:g}",
              file=sys.stderr)
        return 2
    try:
        sock = listen(host, port)
    except OSError as e:
        print(f"queueserver: cannot listen on {host}:{port}: {e}", file=sys.stderr)
        return 2
    log_path = runtime.data_dir(config) / LOG_NAME
    log_path.write_bytes(b"")
    # Operators' structured logs, whole, in the file; the console is for the person trying it.
    logging.config.dictConfig(logs.config(path=str(log_path)))
    url = _redis_url(config)
    secret = runtime.secret(config)
    r = runtime.connect(url)
    kept = r.get(keys.demo_clock())
    clock = demo_clock(config, from_environment(config.tz).now(), speed,
                       dt.datetime.fromisoformat(str(kept)) if kept else None)
    r.set(keys.demo_clock(), iso(clock.now()))
    # This process's own jobs (the render requests, the day close) and its children alike.
    os.environ.update({"REDIS_URL": url, "QUEUESERVER_SECRET": secret.decode(),
                       DEMO_ENV: clock.to_environment()})
    env = dict(os.environ)
    if config.path:
        env["QUEUESERVER_CONFIG"] = str(config.path)
    with log_path.open("ab") as out:
        worker = _start_worker(env, out)
    # Asking for gTTS and hashing the logins' password take seconds: beside the rest.
    aside = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="demo-start")
    try:
        warning = aside.submit(_voice_warning)
        staff = aside.submit(logins, url, config)
        _ask_for_voices(config, url)
        tokens = credentials(r, config)
        people = simulation_credentials(r, config)
        soon, later = split_day([s for c in config.centres
                                 for s in samples(c, clock.now().date())], clock.now())
        store_bookings(r, secret, soon, clock.now())
        log.info("demo: bookings stored after %.1f s", time.monotonic() - started)
        live = Live(config, clock, url, secret, r, people)
        begin = Start(host, sock, tokens, staff, log_path, quiet, started, warning, later)
        code = asyncio.run(_live(live, begin))
    finally:
        aside.shutdown(wait=False, cancel_futures=True)
        _stop_worker(worker)
        log.info("demo: the worker stopped")
        r.close()
    return code


async def _live(live: Live, begin: Start) -> int:
    """Serve and simulate until a signal (exit 0) or until the web server stops by itself (1)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    config, clock = live.config, live.clock
    server = Server(uvicorn.Config(
        create_app(config, live.redis_url, live.secret, clock), log_config=None,
        access_log=False, ws_ping_interval=20.0, ws_ping_timeout=20.0, lifespan="on",
        timeout_graceful_shutdown=5))
    # The earlier day's permits are made beside the start-up (their own server, clock and day).
    kiosk = asyncio.create_task(kiosk_or_none(live))
    try:
        serving = await serve(server, begin.sock)
    except BaseException:
        kiosk.cancel()
        raise
    base = f"http://{_url_host(begin.host)}:{begin.sock.getsockname()[1]}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            live.http = http
            # A signal stops the demo at any moment, its start-up included.
            stopping = asyncio.create_task(stop.wait())
            business = asyncio.create_task(_in_business(live, begin, base, kiosk))
            try:
                done, _ = await asyncio.wait([business, stopping, serving],
                                             return_when=asyncio.FIRST_COMPLETED)
                if business in done:
                    business.result()  # its error, if any, ends the demo
                    await asyncio.wait([stopping, serving], return_when=asyncio.FIRST_COMPLETED)
            finally:
                # The simulated people stop before their HTTP client closes.
                log.info("demo: stopping")
                ours = [stopping, business, kiosk, *live.tasks]
                for task in ours:
                    task.cancel()
                await asyncio.gather(*ours, return_exceptions=True)
    finally:
        with contextlib.suppress(redis.RedisError, OSError):
            await asyncio.to_thread(live.r.set, keys.demo_clock(), iso(clock.now()))
        stopped_itself = serving.done()
        server.should_exit = True
        await serving
        log.info("demo: the web server stopped")
    if stopped_itself:
        print("queueserver: the demo's web server stopped; its log says why: "
              f"{begin.log_path}", file=sys.stderr)
        return 1
    return 0


def applicant(r: Any, config: Config, secret: bytes, clock: Clock) -> tuple[str, str]:
    """One approved application of the booking platform (CONTRACT §11), so a newcomer can book
    a visit on its page and, when the demo clock reaches that day, check it in at the desk: its
    booking token and identity number. The worker writes its invitation to the data folder's
    outbox/ (the demo has no [mail])."""
    from queueserver.appointments import applications

    person = applications.Application(
        ref="DEMOAPP1", application_type="first", surname="DEMO", given_names="APPLICANT",
        id_kind="hkid", id_number="A123456(3)", passport_no="D1234567", nationality="GBR",
        email="applicant@demo.invalid", status="approved")
    applications.ApplicationStore(r, secret, config, "demo", clock).apply([person])
    digest = r.hget(keys.application_refs(), person.ref)
    salt = r.hget(keys.application(str(digest)), "salt")
    return applications.token_for(secret, str(salt)), person.id_number


async def _in_business(live: Live, begin: Start, base: str,
                       kiosk_task: asyncio.Task[list[Ready]]) -> None:
    """The centres come to life first (the 15 seconds of CONTRACT §8); the screens are printed
    beside them, and the console's lines start where the centres' event streams stood."""
    config, clock = live.config, live.clock
    log.info("demo: serving after %.1f s", time.monotonic() - begin.started)
    halls = [Hall(live, c, live.people[c.id]) for c in config.centres]
    marks: dict[str, str] = {}
    for hall in halls:
        board = await hall.request("GET", hall.people.desk, "/board")
        marks[hall.centre.id] = (board.json()["last_event_id"]
                                 if board is not None and board.status_code == 200 else "0-0")
    opened = asyncio.Event()
    live.spawn(_days(live, halls, begin, opened))
    warning = await asyncio.wrap_future(begin.voice_warning)
    if warning:
        _warn(warning)
    kiosk = await kiosk_task
    log.info("demo: kiosk permits after %.1f s", time.monotonic() - begin.started)
    await opened.wait()
    tries = {h.centre.id: s for h in halls if (s := await h.suggest()) is not None}
    staff = await asyncio.wrap_future(begin.staff)
    log.info("demo: screens printed after %.1f s", time.monotonic() - begin.started)
    print(screens_text(base, config, clock, begin.tokens, staff, tries, kiosk,
                       begin.log_path), flush=True)
    booking = await asyncio.to_thread(applicant, live.r, config, live.secret, clock)
    print(booking_text(base, *booking), flush=True)
    print("\n" + (QUIET_MARK if begin.quiet else LIVE_MARK), flush=True)
    if not begin.quiet:
        live.out = sys.stdout
        console = Console(config, clock, sys.stdout)
        ws = base.replace("http", "ws", 1)
        for hall in halls:
            live.spawn(console.follow(ws, hall.centre,
                                      begin.tokens[f"demo-display-{hall.centre.id}"],
                                      marks[hall.centre.id]))
    live.spawn(_keep_clock(live))


async def _keep_clock(live: Live) -> None:
    while True:
        await asyncio.sleep(CLOCK_KEPT_EVERY_S)
        await asyncio.to_thread(live.r.set, keys.demo_clock(), iso(live.clock.now()))


async def _days(live: Live, halls: list[Hall], begin: Start, opened: asyncio.Event) -> None:
    """Each demo day: its bookings, people waiting when it opens, clerks at work. The first
    waits a moment for the offline voice; at 17:00 on the demo clock the next working day
    begins at 10:00, and the day just ended is closed (as the worker's day close would)."""
    day: dt.date | None = None
    while True:
        now = live.clock.now()
        if now.date() != day:
            first, day = day is None, now.date()
            for hall in halls:
                hall.ready.clear()
            if not first:
                if live.out is not None:
                    live.out.write(f"──── {now:%A %d %B %Y}: a new day at the centres ────\n")
                    live.out.flush()
                await asyncio.to_thread(dayclose.close_due, live.config, live.r, live.clock)
            # The start stored the first hour of the day it began on; any other day, all of it.
            started_today = bool(begin.later) and begin.later[0].booking.date == day.isoformat()
            if not started_today:
                await asyncio.to_thread(store_bookings, live.r, live.secret,
                                        [s for h in halls for s in samples(h.centre, day)], now)
            for hall in halls:
                hall.open_day(day)
            opened.set()
            if first:
                await asyncio.to_thread(_voices_ready, live.config, live.redis_url,
                                        begin.started + VOICE_WAIT_S)
            await asyncio.gather(*(_open(hall, start_clerks=first) for hall in halls))
            log.info("demo: %s open after %.1f s", day, time.monotonic() - begin.started)
            if first and started_today:
                await asyncio.to_thread(store_bookings, live.r, live.secret, begin.later, now)
        await asyncio.sleep(DAY_CHECK_S)


async def _open(hall: Hall, start_clerks: bool) -> None:
    """A few at the desk, then the clerks go on (or start) while the others check in."""
    first = min(3, hall.seeds())
    await hall.seed(first)
    hall.ready.set()
    if start_clerks:
        hall.start()
    await hall.seed(hall.seeds() - first)
