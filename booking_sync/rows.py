"""Rows of a booking export (CONTRACT §2), read one at a time and validated field by field.

CSV (UTF-8, a byte-order mark allowed, extra columns ignored) or JSON (an array of objects, or
`{"bookings": [...]}`), streamed: a file is never held in memory whole. A row that fails
validation becomes a `Rejection` naming its first failing field; a file that cannot be read as
bookings at all raises `FileError`. Reasons never quote a value: the value could be someone's
identity number or name, even in a field that should hold none when columns are shifted.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import msgspec

from queueserver.appointments.applications import STATUSES, Application
from queueserver.bookings.store import Booking
from queueserver.platform.config import APPLICATION_TYPES
from queueserver.rules import identity

FIELDS = (
    "booking_ref",
    "centre",
    "date",
    "slot_start",
    "slot_end",
    "application_type",
    "surname",
    "given_names",
    "id_kind",
    "id_number",
    "passport_no",
    "nationality",
    "status",
)
# The booking platform's approved applications (CONTRACT §11), read by the same rules.
APPLICATION_FIELDS = (
    "application_ref",
    "application_type",
    "surname",
    "given_names",
    "id_kind",
    "id_number",
    "passport_no",
    "nationality",
    "email",
    "status",
)
FORMATS = ("csv", "json")
# Text is read in chunks of this size; a JSON item larger than MAX_ITEM_CHARS (a booking is a
# few hundred characters) means a broken file, not a booking worth buffering.
CHUNK_CHARS = 1 << 16
MAX_ITEM_CHARS = 1 << 20
MAX_NAME_CHARS = 100

_REF = re.compile(r"[A-Za-z0-9]{1,32}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIME = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")
_HKID_SHAPE = re.compile(r"[A-Z]{1,2}[0-9]{6}(\([0-9A]\)|[0-9A])")
_PASSPORT = re.compile(r"[A-Za-z0-9]{5,20}")
_NATIONALITY = re.compile(r"[A-Za-z]{3}")
# An address as a person types it: one @, a dot in the domain, no spaces or angle brackets.
_EMAIL = re.compile(r"[^@\s<>\"(),;:]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
MAX_EMAIL_CHARS = 254

Opener = Callable[[], IO[bytes]]


class FileError(Exception):
    """The file cannot be read as a booking export at all; nothing of it is imported."""


@dataclass(frozen=True)
class Shape:
    """What one kind of export holds: its columns, the member of a JSON object that lists its
    rows, its name in messages, and how a row is validated."""

    fields: tuple[str, ...]
    member: str
    noun: str
    build: Callable[[Any, frozenset[str]], Any]


@dataclass(frozen=True)
class Rejection:
    row: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.field}: {self.reason}"


class _Invalid(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def detect(opener: Opener, name: str) -> str:
    """The format from the file name, else from its first character."""
    suffix = Path(name).suffix.lower().lstrip(".")
    if suffix in FORMATS:
        return suffix
    try:
        with opener() as f:
            head = f.read(64).removeprefix(b"\xef\xbb\xbf").lstrip()
    except OSError as e:
        raise FileError(f"cannot read it: {e.strerror or e}") from None
    return "json" if head[:1] in (b"[", b"{") else "csv"


def read(
    opener: Opener, fmt: str, centres: frozenset[str], members: dict[str, Any] | None = None
) -> Iterator[tuple[int, Booking | Rejection]]:
    """(row number, booking or rejection) in file order; rows count as CONTRACT §2 says.

    `members`, if given, receives the other members of a `{"bookings": [...]}` export whose
    values are not arrays or objects (a feed's `next` link, say), once they have been read."""
    return _read(BOOKINGS, opener, fmt, centres, members)


def read_some(opener: Opener, fmt: str, centres: frozenset[str],
              wanted: Callable[[int], bool]) -> Iterator[tuple[int, Booking | Rejection | None]]:
    """As `read`, but only the rows `wanted` (asked with 1 for the file's first row, 2 for
    its second, and so on) are validated; the others come as None. The whole file is still
    read, so an export that cannot be read fails here as in `read`."""
    return _read(BOOKINGS, opener, fmt, centres, None, wanted)


def read_applications(opener: Opener, fmt: str) -> Iterator[tuple[int, Application | Rejection]]:
    """The approved applications (CONTRACT §11): CSV with its header, or JSON (an array, or
    `{"applications": [...]}`), rows counted as a booking export's."""
    return _read(APPLICATIONS, opener, fmt, frozenset(), None)


def _read(shape: Shape, opener: Opener, fmt: str, centres: frozenset[str],
          members: dict[str, Any] | None,
          wanted: Callable[[int], bool] | None = None) -> Iterator[tuple[int, Any]]:
    try:
        with io.TextIOWrapper(opener(), encoding="utf-8-sig", newline="") as text:
            items = (_csv_items(text, shape) if fmt == "csv"
                     else _json_items(_Buffer(text), {} if members is None else members, shape))
            for count, (number, item) in enumerate(items, start=1):
                if wanted is not None and not wanted(count):
                    yield number, None
                    continue
                try:
                    yield number, shape.build(item, centres)
                except _Invalid as e:
                    yield number, Rejection(number, e.field, e.reason)
    except OSError as e:
        raise FileError(f"cannot read it: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise FileError("not UTF-8 text") from None
    except csv.Error as e:
        raise FileError(f"not readable as CSV ({e})") from None


# --- CSV ---------------------------------------------------------------------------------------


def _csv_items(text: IO[str], shape: Shape) -> Iterator[tuple[int, Mapping[str, Any]]]:
    reader = csv.reader(text)
    header = next(reader, None)
    if header is None:
        raise FileError("empty file: a CSV export starts with its header row")
    names = [h.strip().lower() for h in header]
    missing = [f for f in shape.fields if f not in names]
    if missing:
        # Name the missing columns, never the header itself: it may be a row of data.
        raise FileError(f"not {shape.noun}: missing columns {', '.join(missing)}")
    where = {f: names.index(f) for f in shape.fields}
    # The header is row 1, so a row's number is its line in a spreadsheet; blank lines count.
    for number, cells in enumerate(reader, start=2):
        if cells:
            yield number, {f: cells[i] if i < len(cells) else None for f, i in where.items()}


# --- JSON, a window at a time ------------------------------------------------------------------

_DECODER = json.JSONDecoder()
_FAST = msgspec.json.Decoder(list[Any]).decode
# Commas looked at for the end of a run (a booking holds a dozen).
_RUN_END_TRIES = 100


class _Buffer:
    """A sliding window over the text: `raw_decode` reads one value, more text is read when
    a value is cut off at the window's end."""

    def __init__(self, text: IO[str]) -> None:
        self.text = text
        self.buf = ""
        self.pos = 0
        self.eof = False
        # Where `values` reads one item at a time up to, after a run it could not read.
        self.slow_until = 0

    def _more(self) -> bool:
        chunk = "" if self.eof else self.text.read(CHUNK_CHARS)
        self.eof = not chunk
        self.slow_until -= self.pos
        self.buf = self.buf[self.pos :] + chunk
        self.pos = 0
        return bool(chunk)

    def peek(self) -> str:
        """The next character that is not white space ("" at the end), not consumed."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.buf) or not self._more():
                return self.buf[self.pos : self.pos + 1]

    def take(self, expected: str) -> str:
        found = self.peek()
        if found == "" or found not in expected:
            raise FileError(f"not valid JSON: expected one of {expected!r}")
        self.pos += 1
        return found

    def values(self) -> list[Any]:
        """The array's next items, up to a comma (not consumed) after one of them: many at a
        time where the window holds a run of them that msgspec reads as JSON (several times
        faster than `value`), else the next one alone. A run is cut after a `}` that a comma
        follows (`_run_end`); a cut inside a string or a nested value makes the run invalid
        JSON, never other values, so it is read item by item up to there instead, as is
        anything msgspec refuses (NaN, say) and `json` may take."""
        self.peek()
        if len(self.buf) - self.pos < CHUNK_CHARS // 2:
            self._more()
        if self.pos >= self.slow_until:
            end = _run_end(self.buf, self.pos)
            try:
                items: list[Any] | None = (_FAST(f"[{self.buf[self.pos : end]}]") if end > 0
                                           else None)
            except msgspec.DecodeError:
                items = None
            if items is not None:
                self.pos = end
                return items
            self.slow_until = end if end > 0 else len(self.buf)
        return [self.value()]

    def value(self) -> Any:
        self.peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as e:
                if len(self.buf) - self.pos > MAX_ITEM_CHARS or not self._more():
                    raise FileError(f"not valid JSON ({e.msg})") from None
                continue
            # A number at the window's end may go on in the next chunk.
            if end < len(self.buf) or not self._more():
                self.pos = end
                return value


def _run_end(text: str, start: int) -> int:
    """Where a run of whole items may end in `text` after `start`: after its last `}` that a
    comma follows (white space between), or -1. Looked for from the end, a field's comma at a
    time (the window's last item is cut off somewhere among its fields)."""
    comma = len(text)
    for _ in range(_RUN_END_TRIES):
        comma = text.rfind(",", start, comma)
        if comma <= start:
            return -1
        i = comma - 1
        while text[i] in " \t\r\n":
            i -= 1
        if text[i] == "}":
            return i + 1
    return -1


def _json_items(buf: _Buffer, members: dict[str, Any],
                shape: Shape) -> Iterator[tuple[int, Any]]:
    if buf.take("[{") == "[":
        yield from _array(buf)
    else:
        yield from _rows_member(buf, members, shape)
    if buf.peek() != "":
        raise FileError("not valid JSON: text after the end")


def _rows_member(buf: _Buffer, members: dict[str, Any],
                 shape: Shape) -> Iterator[tuple[int, Any]]:
    """The rows' array ("bookings") of an object whose `{` was taken; other members are
    skipped."""
    found = False
    if buf.peek() == "}":
        buf.take("}")
    else:
        while True:
            key = buf.value()
            if not isinstance(key, str):
                raise FileError("not valid JSON: an object's keys are strings")
            buf.take(":")
            if key == shape.member and not found and buf.peek() == "[":
                found = True
                buf.take("[")
                yield from _array(buf)
            else:
                value = buf.value()
                if not isinstance(value, dict | list):
                    members[key] = value
            if buf.take(",}") == "}":
                break
    if not found:
        raise FileError(f'not {shape.noun}: no "{shape.member}" array')


def _array(buf: _Buffer) -> Iterator[tuple[int, Any]]:
    """The items of an array whose `[` was taken, numbered from 1."""
    if buf.peek() == "]":
        buf.take("]")
        return
    number = 0
    while True:
        for value in buf.values():
            number += 1
            yield number, value
        if buf.take(",]") == "]":
            return


# --- validation --------------------------------------------------------------------------------


def _text(item: Mapping[str, Any], field: str) -> str:
    value = item.get(field)
    if isinstance(value, str):
        return value.strip()
    if value is None:
        return ""
    raise _Invalid(field, "must be text")


def _required(item: Mapping[str, Any], field: str) -> str:
    value = item.get(field)
    if isinstance(value, str):
        value = value.strip()
        if value:
            return value
    elif value is not None:
        raise _Invalid(field, "must be text")
    raise _Invalid(field, "missing")


def _check(ok: bool, field: str, reason: str) -> None:
    if not ok:
        raise _Invalid(field, reason)


# Reasons worded once, not for every row.
_NOT_A_TYPE = f"must be one of {', '.join(APPLICATION_TYPES)}"
_TOO_LONG = f"longer than {MAX_NAME_CHARS} characters"
_NOT_A_STATUS = f"must be {' or '.join(STATUSES)}"


def _applicant(item: Mapping[str, Any]) -> dict[str, str]:
    """The fields a booking and an approved application share, checked in the export's order:
    the application type, the names, the identity document, passport and nationality."""
    kind_of_application = _required(item, "application_type")
    _check(kind_of_application in APPLICATION_TYPES, "application_type", _NOT_A_TYPE)
    surname = _required(item, "surname")
    _check(len(surname) <= MAX_NAME_CHARS, "surname", _TOO_LONG)
    given_names = _text(item, "given_names")
    _check(len(given_names) <= MAX_NAME_CHARS, "given_names", _TOO_LONG)
    id_kind = _required(item, "id_kind")
    _check(id_kind in identity.ID_KINDS, "id_kind", "must be hkid or access_notice")
    id_number = _required(item, "id_number")
    _check_id(id_kind, id_number)
    passport_no = _required(item, "passport_no")
    _check(bool(_PASSPORT.fullmatch(passport_no)), "passport_no", "must be 5-20 letters or digits")
    nationality = _required(item, "nationality")
    _check(bool(_NATIONALITY.fullmatch(nationality)), "nationality",
           "must be three letters (ISO 3166 alpha-3)")
    return {"application_type": kind_of_application, "surname": surname,
            "given_names": given_names, "id_kind": id_kind, "id_number": id_number,
            "passport_no": passport_no.upper(), "nationality": nationality.upper()}


# The fast path's one look at the fields with a fixed shape: booking_ref, date, slot_start,
# slot_end, passport_no and nationality, joined by a unit separator (no field's pattern admits
# it, nor white space, so a value that matches needs no strip).
_TIME_TEXT = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]"
_SHAPES = re.compile("\x1f".join([
    r"[A-Za-z0-9]{1,32}", r"[0-9]{4}-[0-9]{2}-[0-9]{2}", _TIME_TEXT, _TIME_TEXT,
    r"[A-Za-z0-9]{5,20}", r"[A-Za-z]{3}"]))
_STATUSES = ("approved", "cancelled")


def _valid_booking(item: Any, centres: frozenset[str]) -> Booking | None:
    """A row every field of which is already as `_booking` would accept it (no surrounding
    white space either), as the Booking `_booking` makes of it; None for any other row, which
    `_booking` then reads field by field for its first failing field. A valid export's rows
    take this path: one pattern for the fixed-shape fields instead of a check a field."""
    if type(item) is not dict:
        return None
    get: Callable[[str], Any] = item.get
    ref, date, start, end = get("booking_ref"), get("date"), get("slot_start"), get("slot_end")
    passport_no, nationality = get("passport_no"), get("nationality")
    centre, kind_of_application, status = get("centre"), get("application_type"), get("status")
    surname, given_names = get("surname"), get("given_names")
    id_kind, id_number = get("id_kind"), get("id_number")
    if given_names is None:
        given_names = ""
    try:
        shaped = _SHAPES.fullmatch("\x1f".join((ref, date, start, end, passport_no,
                                                 nationality)))
    except TypeError:  # a value that is not text
        return None
    if (shaped is None or type(centre) is not str or centre not in centres or end <= start
            or kind_of_application not in APPLICATION_TYPES or status not in _STATUSES
            or id_kind not in identity.ID_KINDS or type(surname) is not str
            or type(given_names) is not str or type(id_number) is not str
            or not surname or surname != surname.strip() or len(surname) > MAX_NAME_CHARS
            or given_names != given_names.strip() or len(given_names) > MAX_NAME_CHARS
            or not id_number or id_number != id_number.strip()
            or not identity.valid(id_kind, id_number) or not _real_date(date)):
        return None
    return Booking(ref=ref, centre=centre, date=date, slot_start=start,
                   slot_end=end, application_type=kind_of_application, surname=surname,
                   given_names=given_names, id_kind=id_kind, id_number=id_number,
                   passport_no=passport_no.upper(), nationality=nationality.upper(),
                   status=status)


def _booking(item: Any, centres: frozenset[str]) -> Booking:
    return _valid_booking(item, centres) or _booking_by_field(item, centres)


def _booking_by_field(item: Any, centres: frozenset[str]) -> Booking:
    """The row checked field by field, in the export's order: the first failing field raises
    `_Invalid` with its reason."""
    if not isinstance(item, Mapping):
        raise _Invalid("booking", "must be an object with the export's fields")
    ref = _required(item, "booking_ref")
    _check(bool(_REF.fullmatch(ref)), "booking_ref", "must be 1-32 letters or digits")
    centre = _required(item, "centre")
    _check(centre in centres, "centre", "not a centre of this configuration")
    date = _required(item, "date")
    _check(
        bool(_DATE.fullmatch(date)) and _real_date(date),
        "date",
        "must be a real date as YYYY-MM-DD",
    )
    start = _required(item, "slot_start")
    _check(bool(_TIME.fullmatch(start)), "slot_start", "must be a time as HH:MM")
    end = _required(item, "slot_end")
    _check(bool(_TIME.fullmatch(end)), "slot_end", "must be a time as HH:MM")
    _check(end > start, "slot_end", "must be after slot_start")
    person = _applicant(item)
    status = _required(item, "status")
    _check(status in _STATUSES, "status", "must be approved or cancelled")
    return Booking(
        ref=ref,
        centre=centre,
        date=date,
        slot_start=start,
        slot_end=end,
        status=status,
        **person,
    )


def _real_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _check_id(id_kind: str, id_number: str) -> None:
    if identity.valid(id_kind, id_number):
        return
    if id_kind == "access_notice":
        raise _Invalid("id_number", "must be at most 64 characters")
    shape = re.sub(r"\s+", "", id_number).upper()
    if _HKID_SHAPE.fullmatch(shape):
        raise _Invalid("id_number", "check digit does not match")
    raise _Invalid(
        "id_number", "not a Hong Kong identity card number (1-2 letters, 6 digits, check digit)"
    )


def _application(item: Any, _centres: frozenset[str]) -> Application:
    """An approved application: the booking export's rules for the fields they share."""
    if not isinstance(item, Mapping):
        raise _Invalid("application", "must be an object with the export's fields")
    ref = _required(item, "application_ref")
    _check(bool(_REF.fullmatch(ref)), "application_ref", "must be 1-32 letters or digits")
    person = _applicant(item)
    email = _required(item, "email")
    _check(len(email) <= MAX_EMAIL_CHARS and bool(_EMAIL.fullmatch(email)), "email",
           "must be an email address, like name@example.com")
    status = _required(item, "status")
    _check(status in STATUSES, "status", _NOT_A_STATUS)
    return Application(ref=ref, email=email, status=status, **person)


BOOKINGS = Shape(FIELDS, "bookings", "a booking export", _booking)
APPLICATIONS = Shape(APPLICATION_FIELDS, "applications", "an export of approved applications",
                     _application)
