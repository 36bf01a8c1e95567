"""The configuration: the sample loads; a wrong file stops start-up naming the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from queueserver.platform import config

SAMPLE = config.sample_path().read_text(encoding="utf-8")


def test_the_shipped_sample_shows_every_key_and_loads() -> None:
    cfg = config.load(config.sample_path())
    assert [c.id for c in cfg.centres] == ["wan-chai", "kowloon-bay"]
    for key in ["timezone", "data_dir", "[fees]", "[booking_feed]", "url", "interval_seconds",
                "arrival_before_minutes", "arrival_after_minutes", "processing_working_days",
                "working_weekdays", "holidays", "holidays_file", "announcement_languages",
                "announcement_engine", "default_service_minutes", "priority", "application_types",
                "[[centres.counters]]", "services", "[centres.appointments]", "hours",
                "slot_minutes", "capacity", "horizon_days", "min_notice_hours", "max_changes",
                "[mail]", "smtp_url", "from", "username", "password_env", "public_url",
                "address_en", "address_zh"]:
        assert key in SAMPLE, key
    wan_chai = cfg.centre("wan-chai")
    assert wan_chai is not None and wan_chai.counter(1) is not None
    assert wan_chai.counter(1).services == ("P", "A")  # type: ignore[union-attr]


@pytest.mark.parametrize(("change", "message"), [
    (("timezone = \"Asia/Hong_Kong\"", "timezone = \"Mars/Olympus\""), "timezone"),
    (("first = 320", "first = 320\nsecond = 1"), "fees.second: unknown key"),
    (("id = \"kowloon-bay\"", "id = \"wan-chai\""), "duplicate centre id 'wan-chai'"),
    (("  number = 2\n  services = [\"A\", \"P\"]", "  number = 1\n  services = [\"A\", \"P\"]"),
     "duplicate counter number 1"),
    (("services = [\"A\"]\n", "services = [\"Q\"]\n"), "unknown service 'Q'"),
    (("holidays = [\"2026-12-25\",", "holidays = [\"2026-13-25\","), "bad date"),
    (("arrival_before_minutes = 30", "arrival_before_minutes = \"30\""),
     "arrival_before_minutes: wrong type"),
    (("announcement_engine = \"gtts\"", "announcement_engine = \"siri\""), "announcement_engine"),
    (("name_en = \"Wan Chai Service Centre\"", "colour = \"red\""), "colour: unknown key"),
    (("capacity = 6", "capacity = \"lots\""), "appointments.capacity"),
    (("hours = [\"09:00-12:30\",", "hours = [\"12:30-09:00\","), "appointments.hours"),
    (("max_changes = 3", "max_changes = -1"), "max_changes: must be 0 or more"),
    (("# [mail]", "[mail]\nsmtp_url = \"http://x\"\nfrom = \"a@b.c\"\n#"), "mail.smtp_url"),
])
def test_a_wrong_config_names_the_key(tmp_path: Path, change: tuple[str, str],
                                      message: str) -> None:
    old, new = change
    assert old in SAMPLE
    path = tmp_path / "bad.toml"
    path.write_text(SAMPLE.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(config.ConfigError, match=message):
        config.load(path)


PRINTER = '[[centres.printers]]\nname = "desk-1"\nurl = "tcp://127.0.0.1:9100"\n'


@pytest.mark.parametrize(("printer", "message"), [
    ('name = "desk-9"\nurl = "http://127.0.0.1:9100"', "must be tcp://HOST:PORT"),
    ('name = "desk-9"\nurl = "tcp://127.0.0.1:70000"', "must be tcp://HOST:PORT"),
    ('name = "Desk 1"\nurl = "tcp://127.0.0.1"', "must be a slug"),
    ('name = "desk-9"', "url: missing"),
    ('name = "desk-9"\nurl = "tcp://p"\ncolour = "red"', "colour: unknown key"),
])
def test_printers_are_named_and_reached_by_tcp(tmp_path: Path, printer: str,
                                               message: str) -> None:
    assert "[[centres.printers]]" in SAMPLE
    second = SAMPLE.index("[[centres]]", SAMPLE.index("[[centres]]") + 1)
    good = tmp_path / "good.toml"
    good.write_text(SAMPLE[:second] + PRINTER + '[[centres.printers]]\nname = "desk-2"\n'
                    'url = "tcp://printer-2.lan"\n' + SAMPLE[second:], encoding="utf-8")
    centre = config.load(good).centre("wan-chai")
    assert centre is not None and [(p.host, p.port) for p in centre.printers] == [
        ("127.0.0.1", 9100), ("printer-2.lan", 9100)]
    bad = tmp_path / "bad.toml"
    bad.write_text(SAMPLE[:second] + PRINTER + "[[centres.printers]]\n" + printer + "\n"
                   + SAMPLE[second:], encoding="utf-8")
    with pytest.raises(config.ConfigError, match=message):
        config.load(bad)
    twice = tmp_path / "twice.toml"
    twice.write_text(SAMPLE[:second] + PRINTER + PRINTER + SAMPLE[second:], encoding="utf-8")
    with pytest.raises(config.ConfigError, match="duplicate printer name 'desk-1'"):
        config.load(twice)


def test_start_up_stops_with_the_message(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(SAMPLE.replace("services = [\"A\"]\n", "services = [\"Q\"]\n", 1))
    done = subprocess.run([sys.executable, "-m", "queueserver.tools.cli", "--config", str(path),
                           "serve"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode != 0
    assert "centres[wan-chai].counters[2].services: unknown service 'Q'" in done.stderr
