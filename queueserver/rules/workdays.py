"""Working days: the collection date, and the public-holiday calendar a centre reads at start.

`holidays_file` is the calendar as the government publishes it (CONTRACT §1), iCalendar or its
JSON form; either may start with a UTF-8 byte-order mark, and each event's end is exclusive.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WEEKDAY_NUMBERS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
# No public holiday runs longer; a longer event is a broken file, not a holiday.
MAX_HOLIDAY_DAYS = 31
_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})(T[0-9Z]*)?$")


class HolidayFileError(ValueError):
    """A holiday file that cannot be read as either published form."""


@dataclass(frozen=True)
class Calendar:
    """Which days a centre works: its working weekdays, less its holidays."""

    weekdays: frozenset[int]
    holidays: frozenset[dt.date]

    @classmethod
    def of(cls, working_weekdays: Iterable[str], holidays: Iterable[dt.date]) -> Calendar:
        return cls(frozenset(WEEKDAY_NUMBERS[d] for d in working_weekdays), frozenset(holidays))

    def works(self, day: dt.date) -> bool:
        return day.weekday() in self.weekdays and day not in self.holidays

    def add_working_days(self, start: dt.date, days: int) -> dt.date:
        """`start` plus `days` working days (0: `start` itself), counting only days it works."""
        if days < 0:
            raise ValueError("days must not be negative")
        if days and not self.weekdays:
            raise ValueError("a calendar without working weekdays has no working days")
        day, counted = start, 0
        while counted < days:
            day += dt.timedelta(days=1)
            if self.works(day):
                counted += 1
        return day


def _date(value: Any, where: str) -> dt.date:
    text = value[0] if isinstance(value, list) and value else value
    m = _DATE.match(text.strip()) if isinstance(text, str) else None
    if not m:
        raise HolidayFileError(f"{where}: bad date {value!r}")
    try:
        return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        raise HolidayFileError(f"{where}: bad date {value!r}") from None


def _days(start: dt.date, end: dt.date | None, where: str) -> Iterator[dt.date]:
    """The days of one event: `end` is exclusive; an event without one is its start day."""
    stop = end if end is not None else start + dt.timedelta(days=1)
    if stop <= start or (stop - start).days > MAX_HOLIDAY_DAYS:
        raise HolidayFileError(f"{where}: end {stop} does not follow start {start}")
    while start < stop:
        yield start
        start += dt.timedelta(days=1)


def parse_json(text: str) -> list[dt.date]:
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise HolidayFileError(f"not valid JSON: {e}") from None
    calendars = doc.get("vcalendar") if isinstance(doc, dict) else None
    if not isinstance(calendars, list):
        raise HolidayFileError("no \"vcalendar\" list")
    out: list[dt.date] = []
    for ci, cal in enumerate(calendars):
        events = cal.get("vevent", []) if isinstance(cal, dict) else None
        if not isinstance(events, list):
            raise HolidayFileError(f"vcalendar[{ci}].vevent: must be a list")
        for ei, event in enumerate(events):
            where = f"vcalendar[{ci}].vevent[{ei}]"
            if not isinstance(event, dict) or "dtstart" not in event:
                raise HolidayFileError(f"{where}: no dtstart")
            start = _date(event["dtstart"], where + ".dtstart")
            end = _date(event["dtend"], where + ".dtend") if "dtend" in event else None
            out.extend(_days(start, end, where))
    return out


def _unfold(text: str) -> list[str]:
    """RFC 5545 §3.1: a line that starts with a space or tab continues the one before."""
    lines: list[str] = []
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and lines:
            lines[-1] += line[1:]
        else:
            lines.append(line)
    return lines


def parse_ics(text: str) -> list[dt.date]:
    lines = _unfold(text)
    if not lines or lines[0].strip().upper() != "BEGIN:VCALENDAR":
        raise HolidayFileError("does not start with BEGIN:VCALENDAR")
    out: list[dt.date] = []
    event: dict[str, str] | None = None
    for number, line in enumerate(lines, 1):
        name, _, value = line.partition(":")
        name = name.split(";", 1)[0].strip().upper()
        where = f"line {number}"
        if name == "BEGIN" and value.strip().upper() == "VEVENT":
            event = {}
        elif name == "END" and value.strip().upper() == "VEVENT" and event is not None:
            if "DTSTART" not in event:
                raise HolidayFileError(f"{where}: an event without DTSTART")
            start = _date(event["DTSTART"], where + " DTSTART")
            end = _date(event["DTEND"], where + " DTEND") if "DTEND" in event else None
            out.extend(_days(start, end, where))
            event = None
        elif event is not None and name in ("DTSTART", "DTEND"):
            event[name] = value.strip()
    return out


def parse(text: str) -> list[dt.date]:
    """Either published form, told apart by its first character."""
    text = text.removeprefix("\ufeff").lstrip()
    return parse_json(text) if text.startswith(("{", "[")) else parse_ics(text)


def read_holidays(path: Path) -> tuple[dt.date, ...]:
    try:
        # utf-8-sig drops a leading byte-order mark, as the government's files may carry one.
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise HolidayFileError(f"cannot read {str(path)!r}: {e}") from None
    return tuple(sorted(set(parse(text))))
