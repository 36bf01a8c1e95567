"""The emails in-process, on the suite's Redis: made once per key however often asked, written
as .eml files without [mail], retried for an hour then counted as failed in /metrics, and each
kind in both languages without an identity or passport number."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import icalendar
import redis
from conftest import HKIDS, SECRET
from smtp_server import calendar_of, html_of, text_of
from starlette.testclient import TestClient

from queueserver.appointments import mail
from queueserver.platform.clock import Clock
from queueserver.platform.config import Config, Mail
from queueserver.store import keys

from .conftest import MONDAY, book

People = Callable[..., dict[str, str]]


def dispatch(cfg: Config, r: redis.Redis, clock: Clock) -> list[str]:
    handed: list[str] = []
    mail.dispatch(cfg, r, handed.append, clock.now())
    return handed


def read(path: Path) -> Any:
    return email.message_from_bytes(path.read_bytes(), policy=email.policy.default)


def test_each_email_is_made_once_and_written_as_eml_without_mail_config(
        client: TestClient, people: People, r: redis.Redis, cfg: Config, clock: Clock,
        tmp_path: Path) -> None:
    t = people("APP1")
    assert book(client, t["APP1"]).status_code == 201
    handed = dispatch(cfg, r, clock)
    assert len(handed) == 2   # the invitation and the confirmation
    # The same entry read again (a dispatcher that died before trimming) is the same email.
    r.rpush(keys.mail_outbox("wan-chai"), r.lindex(keys.mail_outbox_global(), 0) or "{}")
    assert mail.create(r, {"kind": "invitation", "key": "k1", "ref": "APP1"}, clock.now())
    assert mail.create(r, {"kind": "invitation", "key": "k1", "ref": "APP1"}, clock.now()) is None
    outcomes = [mail.send(cfg, r, SECRET, clock, ident, tmp_path) for ident in handed]
    assert outcomes == ["sent", "sent"]
    assert [mail.send(cfg, r, SECRET, clock, ident, tmp_path) for ident in handed] == \
        ["skipped", "skipped"]
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 2 and all(oct(f.stat().st_mode)[-3:] == "600" for f in files)
    kinds = {read(f)["Subject"]: read(f) for f in files}
    confirmation = kinds[mail.SUBJECTS["confirmation"]]
    event = next(iter(icalendar.Calendar.from_ical(calendar_of(confirmation)).walk("VEVENT")))
    assert event.decoded("dtstart") == dt.datetime(2026, 11, 30, 9, 0, tzinfo=cfg.tz)
    for message in kinds.values():
        for text in (text_of(message), html_of(message)):
            assert "你好" in text and "Hello" in text
            assert HKIDS[0] not in text and "K7654300" not in text


def test_a_failing_mail_server_is_tried_for_an_hour_then_counted(
        client: TestClient, people: People, r: redis.Redis, cfg: Config, clock: Clock,
        tmp_path: Path, tokens: dict[str, str]) -> None:
    from conftest import free_port

    dead = Config(centres=cfg.centres, timezone=cfg.timezone, fees=cfg.fees,
                  public_url=cfg.public_url,
                  mail=Mail(smtp_url=f"smtp://127.0.0.1:{free_port()}", sender="b@c.test"))
    people("APP1")
    (ident,) = dispatch(dead, r, clock)
    first = clock.now()
    tries = []
    for _ in range(20):
        outcome = mail.send(dead, r, SECRET, clock, ident, tmp_path)
        tries.append((outcome, clock.now()))
        if outcome != "retry":
            break
        due = r.zscore(keys.mail_retries(), ident)
        assert due is not None
        clock.set(dt.datetime.fromtimestamp(due / 1000, cfg.tz))
    assert [o for o, _ in tries][-1] == "failed" and len(tries) > 3
    gaps = [round((b - a).total_seconds()) for (_, a), (_, b) in zip(tries, tries[1:],
                                                                       strict=False)]
    assert gaps[:6] == [30, 60, 120, 240, 480, 900]     # backing off, 15 minutes at most
    assert (tries[-2][1] - first) <= dt.timedelta(hours=1) < tries[-1][1] - first + \
        dt.timedelta(seconds=mail.MAX_RETRY_S)
    assert r.hget(keys.mail(ident), "state") == "failed"
    assert r.zscore(keys.mail_retries(), ident) is None
    metrics = client.get("/metrics").text
    assert 'queueserver_emails_total{kind="invitation",outcome="failed"} 1.0' in metrics


def test_an_offer_and_a_rebook_say_what_to_do_in_both_languages(
        people: People, r: redis.Redis, cfg: Config, clock: Clock) -> None:
    people("APP1")
    until = int((clock.now() + dt.timedelta(hours=2)).timestamp() * 1000)
    for kind, extra in (("offer", {"until_ms": str(until)}), ("rebook", {}),
                        ("cancellation", {}), ("reminder", {"version": "2"})):
        record = {"kind": kind, "ref": "APP1", "centre": "wan-chai", "date": MONDAY,
                  "start": "09:00", "end": "09:30", **extra}
        message = mail.build(cfg, r, SECRET, "id" + kind, record).message
        text = text_of(message)
        assert "http://book.test/book/" in text and "APP1" in text
        assert "灣仔證件服務中心" in text and "Wan Chai Service Centre" in text
        if kind == "offer":
            assert "11:20" in text  # held until two hours on (Friday 09:20 + 2 h)
        if kind == "rebook":
            assert "7 天" in text and "7 days" in text
        assert (calendar_of(message) is not None) == (kind == "reminder")
        assert json.dumps(record)  # a record holds no address
        assert "@" not in "".join(record.values())
