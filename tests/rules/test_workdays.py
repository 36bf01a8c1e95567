"""Working days against dates worked out by hand, and both published forms of the holiday file."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from queueserver.platform import config
from queueserver.rules import workdays
from queueserver.rules.workdays import Calendar

D = dt.date
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]
CHRISTMAS = [D(2026, 12, 25), D(2026, 12, 26), D(2027, 1, 1)]
# Lunar New Year 2027 in Hong Kong: Saturday the 6th, then Monday 8 and Tuesday 9 February
# (the second day is a Sunday, so the fourth day is the holiday).
LUNAR_NEW_YEAR = [D(2027, 2, 6), D(2027, 2, 8), D(2027, 2, 9)]


@pytest.mark.parametrize(("weekdays", "holidays", "start", "days", "expected"), [
    # Fri 27 Nov: Mon 30 Nov is the 1st, two weeks of five later Fri 11 Dec the 10th.
    (WEEKDAYS, CHRISTMAS, D(2026, 11, 27), 10, D(2026, 12, 11)),
    # Across the year end: 23, 24 | (25 holiday, 26-27 weekend) 28, 29, 30, 31 | (1 Jan holiday,
    # 2-3 weekend) 4, 5, 6, 7 January.
    (WEEKDAYS, CHRISTMAS, D(2026, 12, 22), 10, D(2027, 1, 7)),
    # Lunar New Year: Thu 4, Fri 5 | (Sat 6 to Tue 9 closed) Wed 10, Thu 11, Fri 12.
    (WEEKDAYS, LUNAR_NEW_YEAR, D(2027, 2, 3), 5, D(2027, 2, 12)),
    # The same with Saturdays worked: the 6th is still a holiday, so nothing moves.
    ([*WEEKDAYS, "sat"], LUNAR_NEW_YEAR, D(2027, 2, 3), 5, D(2027, 2, 12)),
    # Saturdays counted: Fri 4, Sat 5, Mon 7 — against Fri 4, Mon 7, Tue 8 without them.
    ([*WEEKDAYS, "sat"], [], D(2026, 12, 3), 3, D(2026, 12, 7)),
    (WEEKDAYS, [], D(2026, 12, 3), 3, D(2026, 12, 8)),
    # Accepted on a Saturday: the next working day is Monday.
    (WEEKDAYS, [], D(2026, 11, 28), 1, D(2026, 11, 30)),
    # 0 days: the same day, whatever day it is.
    (WEEKDAYS, CHRISTMAS, D(2026, 12, 25), 0, D(2026, 12, 25)),
])
def test_working_days(weekdays: list[str], holidays: list[dt.date], start: dt.date, days: int,
                      expected: dt.date) -> None:
    assert Calendar.of(weekdays, holidays).add_working_days(start, days) == expected


def test_a_calendar_without_working_weekdays_refuses_instead_of_looping() -> None:
    with pytest.raises(ValueError, match="no working days"):
        Calendar.of([], []).add_working_days(D(2026, 11, 27), 1)


JSON_FORM = {"vcalendar": [{"prodid": "-//1823//Hong Kong Public Holidays//EN", "version": "2.0",
                            "x-wr-timezone": "Asia/Hong_Kong", "vevent": [
    {"dtstart": ["20270206", {"value": "DATE"}], "dtend": ["20270207", {"value": "DATE"}],
     "uid": "20270206@1823.gov.hk", "summary": "農曆年初一"},
    # One event for two days: dtend is exclusive, so the 10th is a working day.
    {"dtstart": ["20270208", {"value": "DATE"}], "dtend": ["20270210", {"value": "DATE"}],
     "uid": "20270208@1823.gov.hk", "summary": "農曆年初三及初四"},
    {"dtstart": ["20261225", {"value": "DATE"}], "dtend": ["20261226", {"value": "DATE"}],
     "uid": "20261225@1823.gov.hk", "summary": "聖誕節"},
]}]}

ICS_FORM = "\r\n".join([
    "BEGIN:VCALENDAR",
    "PRODID:-//1823//Hong Kong Public Holidays//EN",
    "VERSION:2.0",
    "X-WR-TIMEZONE:Asia/Hong_Kong",
    "BEGIN:VEVENT",
    "DTSTART;VALUE=DATE:20270206",
    "DTEND;VALUE=DATE:20270207",
    "UID:20270206@1823.gov.hk",
    "SUMMARY:Lunar New Year's Day",
    "END:VEVENT",
    "BEGIN:VEVENT",
    "DTSTART;VALUE=DATE:20270208",
    "DTEND;VALUE=DATE:20270210",
    "UID:20270208@1823.gov.hk",
    # A folded line (RFC 5545 §3.1): the leading space joins it to the one before.
    "SUMMARY:The third day and the fourth day of Lunar New",
    "  Year",
    "END:VEVENT",
    "BEGIN:VEVENT",
    "DTSTART;VALUE=DATE:20261225",
    "UID:20261225@1823.gov.hk",
    "SUMMARY:Christmas Day",
    "END:VEVENT",
    "END:VCALENDAR",
    "",
])
EXPECTED = (D(2026, 12, 25), D(2027, 2, 6), D(2027, 2, 8), D(2027, 2, 9))
BOM = b"\xef\xbb\xbf"


@pytest.mark.parametrize(("name", "content"), [
    ("hk.json", BOM + json.dumps(JSON_FORM, ensure_ascii=False).encode()),
    ("hk-no-bom.json", json.dumps(JSON_FORM).encode()),
    ("hk.ics", ICS_FORM.encode()),
    ("hk-bom.ics", BOM + ICS_FORM.encode()),
])
def test_both_forms_of_the_holiday_file(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    assert workdays.read_holidays(path) == EXPECTED


def _config(tmp_path: Path, holidays_file: str) -> Path:
    sample = config.sample_path().read_text(encoding="utf-8")
    old = '# holidays_file = "hk-holidays.json"'
    assert old in sample
    path = tmp_path / "config.toml"
    path.write_text(sample.replace(old, f'holidays_file = "{holidays_file}"'), encoding="utf-8")
    return path


def test_the_config_reads_the_file_once_and_joins_its_days_to_the_list(tmp_path: Path) -> None:
    (tmp_path / "hk.json").write_bytes(BOM + json.dumps(JSON_FORM).encode())
    centre = config.load(_config(tmp_path, "hk.json")).centre("wan-chai")
    assert centre is not None
    # The sample lists 25 and 26 December; the file adds Lunar New Year and repeats Christmas.
    assert centre.holidays == (D(2026, 12, 25), D(2026, 12, 26), *EXPECTED[1:])
    cal = Calendar.of(centre.working_weekdays, centre.holidays)
    assert cal.add_working_days(D(2027, 2, 5), 1) == D(2027, 2, 10)


@pytest.mark.parametrize(("content", "message"), [
    (b'{"vcalendar": [{"vevent": [{"dtstart": ["2027-02-06"]}]}]}', "bad date"),
    (b'{"vcalendar": [{"vevent": [{"dtstart": ["20270210"], "dtend": ["20270206"]}]}]}',
     "does not follow"),
    (b'{"holidays": []}', "vcalendar"),
    (b"{not json", "not valid JSON"),
    (b"BEGIN:VEVENT\r\nEND:VEVENT\r\n", "BEGIN:VCALENDAR"),
    (b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n", "without DTSTART"),
    (b"\xff\xfe not utf-8", "cannot read"),
])
def test_a_broken_holiday_file_stops_start_up_naming_the_key(
        tmp_path: Path, content: bytes, message: str) -> None:
    (tmp_path / "hk.ics").write_bytes(content)
    with pytest.raises(config.ConfigError, match=f"holidays_file: .*{message}"):
        config.load(_config(tmp_path, "hk.ics"))


def test_receipt_prefixes_are_checked(tmp_path: Path) -> None:
    sample = config.sample_path().read_text(encoding="utf-8")
    path = tmp_path / "config.toml"
    path.write_text(sample.replace('receipt_prefix = "WC"', 'receipt_prefix = "KB"'))
    with pytest.raises(config.ConfigError, match="receipt_prefix: 'KB' is also another"):
        config.load(path)
    path.write_text(sample.replace('receipt_prefix = "WC"', 'receipt_prefix = "WO"'))
    with pytest.raises(config.ConfigError, match="other than I, L, O and U"):
        config.load(path)
    path.write_text(sample.replace('receipt_prefix = "WC"\n', ""))
    assert [c.receipt_prefix for c in config.load(path).centres] == ["WC", "KB"]
