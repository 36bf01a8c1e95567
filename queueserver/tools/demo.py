"""`queueserver demo`: a centre brought to life in one process tree, with no set-up.

It runs on the embedded default (or, where no `redis-server` is installed, on a fakeredis server
inside this process, keeping nothing), loads today's sample bookings for every centre of the
config, creates a credential for every role, starts the worker and the web server, checks a few
bookings in so that the board has numbers to call, and prints the URL of every screen.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import datetime as dt
import os
import secrets
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from typing import Any

import httpx
import redis
import redis.asyncio
import uvicorn

from queueserver.auth import credentials as auth
from queueserver.bookings.store import Booking, BookingStore
from queueserver.platform import embedded, logs, runtime
from queueserver.platform.clock import Clock, from_environment
from queueserver.platform.config import Centre, Config
from queueserver.rules import identity
from queueserver.store import keys
from queueserver.web.app import create_app

SLOTS = 8                 # half-hour slots from just before now
PER_SLOT = 3              # bookings in each slot
CHECKED_IN_AT_START = 6   # numbers waiting on the board when the demo opens
SURNAMES = ["SMITH", "PATEL", "NGUYEN", "GARCIA", "KHAN", "MÜLLER", "SANTOS", "OKAFOR"]
GIVEN = ["ALEX", "PRIYA", "MINH", "SOFIA", "OMAR", "LENA", "JOÃO", "ADA"]
TYPES = ["first", "renewal", "reissue_lost", "reissue_damaged"]


@dataclass(frozen=True)
class Sample:
    booking: Booking
    barcode: str


def _hkid(n: int) -> str:
    digits = f"{(123457 * n + 100003) % 1_000_000:06d}"
    prefix = "ABCDEGHKMPRVYZ"[n % 14]
    return f"{prefix}{digits}({identity.hkid_check_digit(prefix, digits)})"


def samples(centre: Centre, now: dt.datetime) -> list[Sample]:
    """Today's bookings, in half-hour slots from half an hour ago, never past midnight."""
    start = now.replace(minute=0 if now.minute < 30 else 30, second=0, microsecond=0)
    start -= dt.timedelta(minutes=30)
    if start.date() != now.date():
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    code = "".join(part[0] for part in centre.id.split("-")).upper()
    out = []
    for slot in range(SLOTS):
        begin = start + dt.timedelta(minutes=30 * slot)
        end = begin + dt.timedelta(minutes=30)
        if end.date() != now.date():
            break
        for k in range(PER_SLOT):
            n = slot * PER_SLOT + k + 1
            ref = f"DM{code}{n:04d}"
            out.append(Sample(Booking(
                ref=ref, centre=centre.id, date=now.date().isoformat(),
                slot_start=begin.strftime("%H:%M"), slot_end=end.strftime("%H:%M"),
                application_type=TYPES[n % 4], surname=SURNAMES[n % 8], given_names=GIVEN[n % 8],
                id_kind="hkid", id_number=_hkid(n + len(code) * 97), passport_no=f"X{n:07d}",
                nationality="GBR", status="approved"), barcode=f"PH{code}{n:04d}"))
    return out


def applicant(r: redis.Redis, config: Config, secret: bytes, clock: Clock) -> tuple[str, str]:
    """One approved application of the booking platform (CONTRACT §11), so a newcomer can book
    a visit on its page and check it in at the desk on the day: its booking token and its
    identity number. Its invitation is written to the data folder's outbox/ by the worker."""
    from queueserver.appointments import applications

    person = applications.Application(
        ref="DEMOAPP1", application_type="first", surname="DEMO", given_names="APPLICANT",
        id_kind="hkid", id_number=_hkid(4242), passport_no="D1234567", nationality="GBR",
        email="applicant@demo.invalid", status="approved")
    applications.ApplicationStore(r, secret, config, "demo", clock).apply([person])
    digest: Any = r.hget(keys.application_refs(), person.ref)
    salt: Any = r.hget(keys.application(str(digest)), "salt")
    return applications.token_for(secret, str(salt)), person.id_number


def credentials(r: redis.Redis, config: Config) -> dict[str, str]:
    """A fresh demo credential per role and centre (the previous run's are revoked)."""
    out: dict[str, str] = {}
    wanted = [("admin", None)] + [(role.value, c.id) for c in config.centres
                                  for role in auth.Role if role is not auth.Role.ADMIN]
    for role, centre in wanted:
        name = f"demo-{role}" + (f"-{centre}" if centre else "")
        auth.revoke_token(r, name)
        out[name], _ = auth.create_token(r, auth.Role(role), centre, name=name)
    return out


STAFF_ROLES = (auth.Role.SUPERVISOR, auth.Role.DESK, auth.Role.CLERK, auth.Role.PHOTO)


def logins(url: str, config: Config) -> tuple[list[str], str]:
    """Staff logins for the screens, all with one fresh password printed at start."""
    from queueserver.auth import users

    password = secrets.token_urlsafe(9)
    names = ["demo-admin"] + [f"demo-{role.value}-{c.id}" for c in config.centres
                              for role in STAFF_ROLES]

    async def create() -> None:
        r = redis.asyncio.Redis.from_url(url, decode_responses=True)
        try:
            for name in names:
                await users.revoke_user(r, name)
                _, role, centre = (name.split("-", 2) + [""])[:3]
                await users.create_user(r, name, password, auth.Role(role), centre or None)
        finally:
            await r.aclose()

    asyncio.run(create())
    return names, password


def _fakeredis() -> str:
    from fakeredis import TcpFakeServer

    server = TcpFakeServer(("127.0.0.1", 0), server_type="redis")
    threading.Thread(target=server.serve_forever, daemon=True, name="fakeredis").start()
    print("WARNING: no redis-server is installed: the demo runs on an in-memory fakeredis "
          "server and NOTHING WILL BE KEPT when it stops. Install redis-server to keep data.",
          file=sys.stderr, flush=True)
    return f"redis://127.0.0.1:{server.server_address[1]}/0"


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


def _start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "queueserver.tools.cli", "worker"], env=env,
                            preexec_fn=_die_with_parent)


def _bring_to_life(base: str, config: Config, tokens: dict[str, str],
                   people: dict[str, list[Sample]]) -> None:
    """Register every sample photo and check the first few in, through the real API."""
    with httpx.Client(base_url=base, timeout=10) as client:
        for centre in config.centres:
            admin = {"Authorization": f"Bearer {tokens['demo-admin']}"}
            for i, s in enumerate(people[centre.id]):
                client.post(f"/api/v1/centres/{centre.id}/photo-receipts", headers=admin,
                            json={"barcode": s.barcode})
                if i < CHECKED_IN_AT_START:
                    client.post(f"/api/v1/centres/{centre.id}/tickets", headers=admin, json={
                        "booking_ref": s.booking.ref, "id_number": s.booking.id_number,
                        "photo_barcode": s.barcode, "override_window": True})


def _print_screens(base: str, config: Config, tokens: dict[str, str],
                   people: dict[str, list[Sample]], staff: tuple[list[str], str],
                   booking: tuple[str, str]) -> None:
    names, password = staff
    lines = [f"\nqueueserver demo is running at {base}\n",
             f"  admin token (API, every centre): {tokens['demo-admin']}",
             f"  supervisor screen: {base}/admin", f"  staff login:       {base}/login",
             f"  staff logins: {', '.join(names)}", f"  password of every staff login: {password}"]
    for c in config.centres:
        t = {role.value: tokens[f"demo-{role.value}-{c.id}"] for role in auth.Role
             if role is not auth.Role.ADMIN}
        lines += [f"\n{c.name_en} / {c.name_zh} ({c.id})",
                  f"  hall display:  {base}/display/{c.id}?token={t['display']}",
                  f"  kiosk:         {base}/kiosk/{c.id}?token={t['kiosk']}",
                  f"  inquiry desk:  {base}/desk/{c.id}",
                  f"  photo booth:   {base}/photo/{c.id}"]
        lines += [f"  counter {n.number}:     {base}/counter/{c.id}/{n.number}"
                  for n in c.counters]
        lines += [f"  board (API):   {base}/api/v1/centres/{c.id}/board",
                  *(f"  {role:<10} token: {token}" for role, token in t.items())]
        s = people[c.id][CHECKED_IN_AT_START]
        lines.append(f"  try the desk with booking {s.booking.ref}, identity number "
                     f"{s.booking.id_number}, photo receipt {s.barcode}")
    token, id_number = booking
    lines += ["\nBooking platform / 預約平台 (a sample applicant's link; emails are written to "
              "the data folder's outbox/)",
              f"  book a visit:  {base}/book/{token}",
              f"  then check it in at the desk with booking DEMOAPP1, identity number "
              f"{id_number}"]
    print("\n".join(lines), flush=True)


def run(config: Config, host: str, port: int) -> int:
    url = _redis_url(config)
    secret = runtime.secret(config)
    env = {**os.environ, "REDIS_URL": url, "QUEUESERVER_SECRET": secret.decode()}
    if config.path:
        env["QUEUESERVER_CONFIG"] = str(config.path)
    r = runtime.connect(url)
    clock: Clock = from_environment(config.tz)
    now = clock.now()
    tokens = credentials(r, config)
    staff = logins(url, config)
    people = {c.id: samples(c, now) for c in config.centres}
    BookingStore(r, secret, "demo", now.isoformat()).apply(
        [s.booking for group in people.values() for s in group])
    booking = applicant(r, config, secret, clock)
    worker = _start_worker(env)
    server = uvicorn.Server(uvicorn.Config(
        create_app(config, url, secret, clock), host=host, port=port, access_log=False,
        log_config=logs.config(), ws_ping_interval=20.0, ws_ping_timeout=20.0))
    base = f"http://{host}:{port}"

    def when_started() -> None:
        while not server.started and not server.should_exit:
            threading.Event().wait(0.05)
        if server.started:
            _bring_to_life(base, config, tokens, people)
            _print_screens(base, config, tokens, people, staff, booking)

    threading.Thread(target=when_started, daemon=True).start()
    try:
        server.run()
    finally:
        worker.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.wait(10)
        if worker.poll() is None:
            worker.kill()
    return 0


