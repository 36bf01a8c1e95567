"""The booking platform end to end: `queueserver serve` (two of them), `queueserver worker` and
`queueserver applications import` as processes, the suite's Redis, and a real SMTP server the
test starts (aiosmtpd, loopback): what an applicant's mailbox receives, what a second process
sees, the desk's check-in on the day, the rush for a slot's last places, two workers, a dead
mail server."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import icalendar
import pytest
import redis
from conftest import HKIDS, Server, server_env, start_server
from faults import wait_for
from smtp_server import Mailbox, calendar_of, html_of, smtp_server, text_of

from queueserver.auth import credentials as auth
from queueserver.platform import config
from queueserver.platform.clock import Clock
from queueserver.store import keys

from .conftest import APPOINTMENTS_CONFIG, MONDAY, approve, person

pytestmark = pytest.mark.e2e
HK = config.load(APPOINTMENTS_CONFIG).tz
HEADER = ("application_ref,application_type,surname,given_names,id_kind,id_number,passport_no,"
          "nationality,email,status")
LINK = re.compile(r"http://book\.test/book/([A-Za-z0-9_-]{43})")


def mail_config(tmp: Path, port: int) -> Path:
    text = APPOINTMENTS_CONFIG.read_text(encoding="utf-8")
    text = text.replace("[fees]", f'[mail]\nsmtp_url = "smtp://127.0.0.1:{port}"\n'
                                  f'from = "Booking <booking@centre.test>"\n\n[fees]', 1)
    path = tmp / "appointments-mail.toml"
    path.write_text(text, encoding="utf-8")
    return path


class Worker:
    def __init__(self, env: dict[str, str]) -> None:
        self.log = Path(tempfile.mkstemp(prefix="worker-", suffix=".log")[1])
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(["queueserver", "worker"], env=env, stdout=out,
                                         stderr=subprocess.STDOUT)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    with smtp_server() as found:
        yield found


@pytest.fixture
def env(r: redis.Redis, redis_url: str, tmp_path: Path,
        mailbox: tuple[Mailbox, int]) -> dict[str, str]:
    return server_env(redis_url, QUEUESERVER_CONFIG=str(mail_config(tmp_path, mailbox[1])),
                      QUEUESERVER_DATA=str(tmp_path / "data"))


@pytest.fixture
def servers(env: dict[str, str]) -> Iterator[tuple[Server, Server]]:
    a = start_server(env)
    try:
        b = start_server(env)
    except BaseException:
        a.stop()
        raise
    yield a, b
    a.stop()
    b.stop()


@pytest.fixture
def worker(env: dict[str, str]) -> Iterator[Worker]:
    w = Worker(env)
    yield w
    w.stop()


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["queueserver", *args], env=env, capture_output=True, text=True,
                          timeout=60)


def rows(*lines: str) -> str:
    return "\n".join([HEADER, *lines]) + "\n"


def line(ref: str, n: int, status: str = "approved") -> str:
    return (f"{ref},first,CHAN,TAI MAN,hkid,{HKIDS[n]},K76543{n:02d},GBR,"
            f"applicant{n}@example.test,{status}")


def test_the_applicant_s_visit_from_invitation_to_the_desk(
        env: dict[str, str], servers: tuple[Server, Server], worker: Worker,
        mailbox: tuple[Mailbox, int], tmp_path: Path, r: redis.Redis, redis_url: str) -> None:
    box, _ = mailbox
    export = tmp_path / "approved.csv"
    export.write_text(rows(line("APP1", 0), line("APP2", 1), line("APP3", 2),
                           "APP4,first,CHAN,,hkid,A123456(4),K1,GBR,nobody,approved"))
    done = cli(env, "applications", "import", str(export))
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines() == ["row 5: id_number: check digit does not match",
                                        "imported=3 updated=0 cancelled=0 unchanged=0 rejected=1"]
    again = cli(env, "applications", "import", str(export))
    assert again.stdout.splitlines()[-1] == \
        "imported=0 updated=0 cancelled=0 unchanged=3 rejected=1"

    # One invitation each, with a working link, and no identity or passport number.
    wait_for(lambda: box.count() >= 3, 60, "three invitations")
    tokens = {}
    for n in range(3):
        (invitation,) = box.to(f"applicant{n}@example.test")
        assert invitation["Subject"].startswith("預約") and "Book" in invitation["Subject"]
        found = LINK.search(text_of(invitation))
        assert found and found.group(0) in html_of(invitation)
        tokens[n] = found.group(1)
        raw = box.raw[box.messages.index(invitation)].decode("utf-8", "replace")
        for secret in (HKIDS[n], HKIDS[n].replace("(", "").replace(")", ""), f"K76543{n:02d}"):
            assert secret not in raw
    a, b = servers
    assert httpx.get(f"{a.url}/book/{tokens[0]}").status_code == 200

    # A booking answers 201 and lowers the free count a second process sees.
    def free(server: Server) -> int:
        slots = httpx.get(f"{server.url}/api/v1/book/{tokens[1]}/slots",
                          params={"centre": "wan-chai", "from": MONDAY, "to": MONDAY}).json()
        return next(s["free"] for s in slots["slots"] if s["start"] == "09:00")

    assert free(b) == 6
    started = time.monotonic()
    booked = httpx.post(f"{a.url}/api/v1/book/{tokens[0]}/appointment",
                        json={"centre": "wan-chai", "date": MONDAY, "start": "09:00"})
    assert booked.status_code == 201, booked.text
    assert time.monotonic() - started < 5
    assert free(b) == 5

    # The confirmation carries the visit as an iCalendar event at the right time.
    wait_for(lambda: len(box.to("applicant0@example.test")) == 2, 60, "the confirmation")
    confirmation = box.to("applicant0@example.test")[1]
    assert "APP1" in text_of(confirmation)
    ics = calendar_of(confirmation)
    assert ics is not None
    event = next(c for c in icalendar.Calendar.from_ical(ics).walk("VEVENT"))
    start = event.decoded("dtstart")
    assert start == dt.datetime(2026, 11, 30, 9, 0, tzinfo=HK)
    assert start.utcoffset() == dt.timedelta(hours=8)
    assert "灣仔港灣道" in str(event.get("location"))
    for secret in (HKIDS[0], "K7654300"):
        assert secret not in box.raw[box.messages.index(confirmation)].decode("utf-8", "replace")

    # Monday 09:10: the booked visit checks in at the desk like any booking.
    desk = start_server({**env, "QUEUESERVER_TEST_NOW": "2026-11-30T09:10:00+08:00"})
    try:
        sup, _ = auth.create_token(r, auth.Role.SUPERVISOR, "wan-chai")
        h = {"Authorization": f"Bearer {sup}"}
        c = f"{desk.url}/api/v1/centres/wan-chai"
        assert httpx.post(c + "/photo-receipts", json={"barcode": "PH1"},
                          headers=h).status_code == 201
        ticket = httpx.post(c + "/tickets", headers=h, json={
            "booking_ref": "APP1", "id_number": HKIDS[0], "photo_barcode": "PH1"})
        assert ticket.status_code == 201, ticket.text
        assert ticket.json()["ticket"]["number"] == "A001"
        # Checked in: no more changes.
        moved = httpx.post(f"{desk.url}/api/v1/book/{tokens[0]}/appointment",
                           json={"centre": "wan-chai", "date": "2026-12-02", "start": "09:00"})
        assert (moved.status_code, moved.json()["error"]["code"]) == (409, "already_checked_in")
    finally:
        desk.stop()
    # Nothing personal reached the logs of any process.
    for text in (a.output(), b.output(), worker.output()):
        for secret in ("CHAN", "TAI MAN", "applicant0@example.test", tokens[0], "APP1",
                       HKIDS[0]):
            assert secret not in text, secret


def test_forty_requests_for_six_places_get_six(servers: tuple[Server, Server], r: redis.Redis,
                                                 clock: Clock, cfg: config.Config) -> None:
    tokens = approve(r, cfg, clock, [person(f"RUSH{i}", i) for i in range(40)])
    a, b = servers

    def attempt(i: int) -> tuple[int, str]:
        server = (a, b)[i % 2]
        answer = httpx.post(f"{server.url}/api/v1/book/{tokens[f'RUSH{i}']}/appointment",
                            json={"centre": "wan-chai", "date": MONDAY, "start": "14:00"},
                            timeout=30)
        code = answer.json()["error"]["code"] if answer.status_code >= 400 else ""
        return answer.status_code, code

    with ThreadPoolExecutor(40) as pool:
        answers = list(pool.map(attempt, range(40)))
    assert sorted(answers) == [(201, "")] * 6 + [(409, "slot_full")] * 34
    assert r.hget(keys.slot_places("wan-chai", MONDAY), "14:00") == "6"


def test_two_workers_send_each_email_once(env: dict[str, str], mailbox: tuple[Mailbox, int],
                                         r: redis.Redis, clock: Clock,
                                         cfg: config.Config) -> None:
    box, _ = mailbox
    workers = [Worker(env), Worker(env)]
    try:
        approve(r, cfg, clock, [person(f"TWO{i}", i) for i in range(12)])

        def all_sent() -> bool:
            states = [r.hget(k, "state") for k in r.scan_iter("qs:mail:*")]
            return len(states) == 12 and set(states) == {"sent"}

        wait_for(all_sent, 90, "twelve invitations sent")
        # Sent is written after the SMTP server took the message, and no job sends a sent one.
        assert box.count() == 12
        assert sorted(m["To"] for m in box.messages) == sorted(
            f"applicant{i}@example.test" for i in range(12))
    finally:
        for w in workers:
            w.stop()


def test_a_dead_mail_server_delays_no_booking(r: redis.Redis, redis_url: str, tmp_path: Path,
                                             clock: Clock, cfg: config.Config) -> None:
    from conftest import free_port

    dead = free_port()  # nothing listens there
    env = server_env(redis_url, QUEUESERVER_CONFIG=str(mail_config(tmp_path, dead)),
                     QUEUESERVER_DATA=str(tmp_path / "data"))
    tokens = approve(r, cfg, clock, [person("DEAD1", 0)])
    server, w = start_server(env), Worker(env)
    try:
        started = time.monotonic()
        booked = httpx.post(f"{server.url}/api/v1/book/{tokens['DEAD1']}/appointment",
                            json={"centre": "wan-chai", "date": MONDAY, "start": "09:00"})
        assert booked.status_code == 201 and time.monotonic() - started < 2

        def tried() -> bool:
            attempts = [int(r.hget(k, "attempts") or 0) for k in r.scan_iter("qs:mail:*")]
            return len(attempts) == 2 and min(attempts) >= 1

        wait_for(tried, 60, "both emails tried and waiting to be tried again")
        assert {r.hget(k, "state") for k in r.scan_iter("qs:mail:*")} == {"queued"}
        assert r.zcard(keys.mail_retries()) == 2
    finally:
        server.stop()
        w.stop()


