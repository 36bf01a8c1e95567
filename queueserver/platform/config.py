"""The centre's configuration: one TOML file, loaded and validated once at start (CONTRACT §1)."""

from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
import urllib.parse
import zoneinfo
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from queueserver.rules import numbering, workdays

APPLICATION_TYPES = ("first", "renewal", "reissue_lost", "reissue_damaged")
# The old permit goes back at collection when it is renewed or replaced because it is damaged.
SURRENDER_TYPES = frozenset({"renewal", "reissue_damaged"})
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
LANGUAGES = ("yue", "cmn", "en")
ENGINES = ("gtts", "espeak", "tone")
DEFAULT_FEES = {"first": 320, "renewal": 320, "reissue_lost": 480, "reissue_damaged": 320}
# Until the day has finished services to measure, an estimate assumes this many minutes each.
DEFAULT_SERVICE_MINUTES = 8
# The day-close job ends the day at this local time unless a centre says otherwise.
DEFAULT_CLOSING_TIME = "18:00"
# Statistics report the share of applicants who waited longer than this (a service pledge).
DEFAULT_WAIT_TARGET_MINUTES = 30


class ConfigError(Exception):
    """A wrong configuration: names the key and why, and stops start-up."""


# --- the booking platform (CONTRACT §11): `[centres.appointments]` and `[mail]` ----------------
# Kept apart from the rest of the file, so that it can be said again as typed models.

DEFAULT_HOURS = ("09:00-12:30", "14:00-16:30")
DEFAULT_SLOT_MINUTES = 30
DEFAULT_CAPACITY = 6
DEFAULT_HORIZON_DAYS = 30
DEFAULT_MIN_NOTICE_HOURS = 24
DEFAULT_MAX_CHANGES = 3
AUTO = "auto"
# Where the worker's emails link to when `public_url` is not set (there is no request to copy).
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class Appointments:
    """A centre's bookable slots: `hours` on its working days, `slot_minutes` each, `capacity`
    people a slot (an int, or AUTO: worked out from the measured service times)."""

    hours: tuple[tuple[int, int], ...] = ((9 * 60, 12 * 60 + 30), (14 * 60, 16 * 60 + 30))
    slot_minutes: int = DEFAULT_SLOT_MINUTES
    capacity: int | str = DEFAULT_CAPACITY
    horizon_days: int = DEFAULT_HORIZON_DAYS
    min_notice_hours: int = DEFAULT_MIN_NOTICE_HOURS
    max_changes: int = DEFAULT_MAX_CHANGES


@dataclass(frozen=True)
class Mail:
    """`[mail]`: where the worker sends the platform's emails. `password_env` names the
    environment variable that holds the password, never the password itself."""

    smtp_url: str
    sender: str
    username: str = ""
    password_env: str = ""


_APPOINTMENT_KEYS = {"hours", "slot_minutes", "capacity", "horizon_days", "min_notice_hours",
                     "max_changes"}
_MAIL_KEYS = {"smtp_url", "from", "username", "password_env"}
_HOURS = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
_ADDRESS = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+$")


def _appointments(raw: Any, where: str) -> Appointments:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a table")
    _unknown(raw, _APPOINTMENT_KEYS, where + ".")
    w = where + "."
    hours: list[tuple[int, int]] = []
    for i, text in enumerate(_get(raw, "hours", list, w, list(DEFAULT_HOURS))):
        m = _HOURS.match(text) if isinstance(text, str) else None
        if not m:
            raise ConfigError(f"{w}hours[{i}]: {text!r} must be HH:MM-HH:MM, like 09:00-12:30")
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if max(h1, h2) > 24 or max(m1, m2) > 59 or end > 24 * 60 or end <= start:
            raise ConfigError(f"{w}hours[{i}]: {text!r} must end after it starts, within a day")
        if hours and start < hours[-1][1]:
            raise ConfigError(f"{w}hours[{i}]: {text!r} must start after the hours before it")
        hours.append((start, end))
    if not hours:
        raise ConfigError(f"{w}hours: at least one period of bookable hours is needed")
    slot = _get(raw, "slot_minutes", int, w, DEFAULT_SLOT_MINUTES)
    if not 5 <= slot <= 240:
        raise ConfigError(f"{w}slot_minutes: {slot} must be 5 to 240 minutes")
    capacity = raw.get("capacity", DEFAULT_CAPACITY)
    if capacity != AUTO and (isinstance(capacity, bool) or not isinstance(capacity, int)
                             or not 1 <= capacity <= 10_000):
        raise ConfigError(f"{w}capacity: {capacity!r} must be a number of people (1 or more) "
                          f'or "{AUTO}"')
    horizon = _get(raw, "horizon_days", int, w, DEFAULT_HORIZON_DAYS)
    if not 1 <= horizon <= 366:
        raise ConfigError(f"{w}horizon_days: {horizon} must be 1 to 366 days")
    return Appointments(
        hours=tuple(hours), slot_minutes=slot, capacity=capacity, horizon_days=horizon,
        min_notice_hours=_non_negative(_get(raw, "min_notice_hours", int, w,
                                            DEFAULT_MIN_NOTICE_HOURS), w + "min_notice_hours"),
        max_changes=_non_negative(_get(raw, "max_changes", int, w, DEFAULT_MAX_CHANGES),
                                  w + "max_changes"),
    )


def _mail(raw: Any) -> Mail:
    if not isinstance(raw, dict):
        raise ConfigError("mail: must be a table")
    _unknown(raw, _MAIL_KEYS, "mail.")
    url = _get(raw, "smtp_url", str, "mail.")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ConfigError(f"mail.smtp_url: {url!r} must be smtp://HOST:PORT (STARTTLS when "
                          "offered) or smtps://HOST:PORT (TLS)")
    try:
        parts.port  # noqa: B018 (a bad port raises here, at start, not at the first email)
    except ValueError:
        raise ConfigError(f"mail.smtp_url: {url!r} has a bad port") from None
    sender = _get(raw, "from", str, "mail.")
    if not _ADDRESS.match(sender.rpartition("<")[2].rstrip(">").strip()):
        raise ConfigError(f"mail.from: {sender!r} must be an email address")
    return Mail(smtp_url=url, sender=sender, username=_get(raw, "username", str, "mail.", ""),
                password_env=_get(raw, "password_env", str, "mail.", ""))


def _public_url(data: dict[str, Any]) -> str | None:
    if "public_url" not in data:
        return None
    url = str(_get(data, "public_url", str, "")).rstrip("/")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"public_url: {url!r} must be an absolute http(s) URL")
    return url


@dataclass(frozen=True)
class Service:
    code: str
    name_en: str
    name_zh: str
    application_types: tuple[str, ...] = ()
    priority: bool = False


@dataclass(frozen=True)
class Counter:
    number: int
    services: tuple[str, ...]


@dataclass(frozen=True)
class Centre:
    id: str
    name_en: str
    name_zh: str
    services: tuple[Service, ...]
    counters: tuple[Counter, ...]
    arrival_before_minutes: int = 30
    arrival_after_minutes: int = 60
    processing_working_days: int = 10
    working_weekdays: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri")
    holidays: tuple[dt.date, ...] = ()
    holidays_file: Path | None = None
    announcement_languages: tuple[str, ...] = LANGUAGES
    announcement_engine: str = "gtts"
    default_service_minutes: int = DEFAULT_SERVICE_MINUTES
    # Starts every receipt number, so the number names its centre (default: the id's initials).
    receipt_prefix: str = ""
    # Local "HH:MM" at which the day-close job ends the day (leftover tickets, statistics).
    closing_time: str = DEFAULT_CLOSING_TIME
    wait_target_minutes: int = DEFAULT_WAIT_TARGET_MINUTES
    # The booking platform (CONTRACT §11): its slots, and the address its emails give.
    appointments: Appointments = field(default_factory=lambda: Appointments())
    address_en: str = ""
    address_zh: str = ""

    def service(self, code: str) -> Service | None:
        return next((s for s in self.services if s.code == code), None)

    def counter(self, number: int) -> Counter | None:
        return next((c for c in self.counters if c.number == number), None)

    @property
    def priority_service(self) -> Service | None:
        return next((s for s in self.services if s.priority), None)


@dataclass(frozen=True)
class BookingFeed:
    url: str
    interval_seconds: int = 300


@dataclass(frozen=True)
class Config:
    centres: tuple[Centre, ...]
    timezone: str = "Asia/Hong_Kong"
    fees: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_FEES))
    data_dir: Path | None = None
    booking_feed: BookingFeed | None = None
    path: Path | None = None
    # Days after a permit's collection that its booking's personal fields are kept (PDPO DPP2).
    personal_data_days: int = 30
    # Absolute links (the booking page's in emails) start so; None: the request's scheme and
    # host, and in the worker's emails DEFAULT_PUBLIC_URL.
    public_url: str | None = None
    mail: Mail | None = None

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def centre(self, centre_id: str) -> Centre | None:
        return next((c for c in self.centres if c.id == centre_id), None)


_TOP_KEYS = {"timezone", "fees", "centres", "data_dir", "booking_feed", "personal_data_days",
             "public_url", "mail"}
_CENTRE_KEYS = {
    "id", "name_en", "name_zh", "arrival_before_minutes", "arrival_after_minutes",
    "processing_working_days", "working_weekdays", "holidays", "holidays_file",
    "announcement_languages", "announcement_engine", "default_service_minutes",
    "services", "counters", "receipt_prefix", "closing_time", "wait_target_minutes",
    "appointments", "address_en", "address_zh",
}
_SERVICE_KEYS = {"code", "name_en", "name_zh", "application_types", "priority"}
_COUNTER_KEYS = {"number", "services"}
_FEED_KEYS = {"url", "interval_seconds"}
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}$")


def _unknown(table: dict[str, Any], allowed: set[str], where: str) -> None:
    for key in table:
        if key not in allowed:
            raise ConfigError(f"{where}{key}: unknown key")


def _get(table: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str,
         default: Any = ..., ) -> Any:
    if key not in table:
        if default is ...:
            raise ConfigError(f"{where}{key}: missing (required)")
        return default
    value = table[key]
    if isinstance(value, bool) and kind is int:
        raise ConfigError(f"{where}{key}: must be an integer, not {value!r}")
    if not isinstance(value, kind):
        raise ConfigError(f"{where}{key}: wrong type {type(value).__name__}")
    return value


def _non_negative(value: int, where: str) -> int:
    if value < 0:
        raise ConfigError(f"{where}: must not be negative")
    return value


def _text(table: dict[str, Any], key: str, where: str) -> str:
    value = _get(table, key, str, where)
    if not value.strip():
        raise ConfigError(f"{where}{key}: must not be empty")
    return str(value)


def _service(raw: Any, where: str) -> Service:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a table")
    _unknown(raw, _SERVICE_KEYS, where + ".")
    code = _get(raw, "code", str, where + ".")
    if not re.fullmatch(r"[A-Z]", code):
        raise ConfigError(f"{where}.code: must be one capital letter, not {code!r}")
    types = _get(raw, "application_types", list, where + ".", [])
    for t in types:
        if t not in APPLICATION_TYPES:
            raise ConfigError(f"{where}.application_types: unknown application type {t!r}")
    return Service(
        code=code,
        name_en=_text(raw, "name_en", where + "."),
        name_zh=_text(raw, "name_zh", where + "."),
        application_types=tuple(types),
        priority=_get(raw, "priority", bool, where + ".", False),
    )


def _date(value: Any, where: str) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise ConfigError(f"{where}: bad date {value!r} (use YYYY-MM-DD)")


def _centre(raw: Any, index: int, base: Path | None) -> Centre:
    where = f"centres[{index}]."
    if not isinstance(raw, dict):
        raise ConfigError(f"centres[{index}]: must be a table")
    _unknown(raw, _CENTRE_KEYS, where)
    cid = _get(raw, "id", str, where)
    if not _SLUG.match(cid):
        raise ConfigError(f"{where}id: {cid!r} must be a slug (lower-case letters, digits, '-')")
    where = f"centres[{cid}]."
    services_raw = _get(raw, "services", list, where)
    if not services_raw:
        raise ConfigError(f"{where}services: at least one service is needed")
    services = tuple(_service(s, f"{where}services[{i}]") for i, s in enumerate(services_raw))
    codes = [s.code for s in services]
    for code in codes:
        if codes.count(code) > 1:
            raise ConfigError(f"{where}services: duplicate service code {code!r}")
    if sum(s.priority for s in services) > 1:
        raise ConfigError(f"{where}services: at most one service may be the priority service")
    for t in APPLICATION_TYPES:
        owners = [s.code for s in services if t in s.application_types and not s.priority]
        if len(owners) > 1:
            raise ConfigError(f"{where}services: application type {t!r} is in both {owners}")
    counters_raw = _get(raw, "counters", list, where)
    if not counters_raw:
        raise ConfigError(f"{where}counters: at least one counter is needed")
    counters: list[Counter] = []
    for i, c in enumerate(counters_raw):
        cw = f"{where}counters[{i}]."
        if not isinstance(c, dict):
            raise ConfigError(f"{where}counters[{i}]: must be a table")
        _unknown(c, _COUNTER_KEYS, cw)
        number = _get(c, "number", int, cw)
        if number < 1:
            raise ConfigError(f"{cw}number: must be 1 or more")
        if any(other.number == number for other in counters):
            raise ConfigError(f"{cw}number: duplicate counter number {number}")
        served = _get(c, "services", list, cw)
        if not served:
            raise ConfigError(f"{cw}services: a counter serves at least one service")
        for code in served:
            if code not in codes:
                raise ConfigError(f"{cw}services: unknown service {code!r}")
        counters.append(Counter(number=number, services=tuple(served)))
    weekdays = _get(raw, "working_weekdays", list, where, list(WEEKDAYS[:5]))
    for day in weekdays:
        if day not in WEEKDAYS:
            raise ConfigError(f"{where}working_weekdays: unknown weekday {day!r}")
    holidays = tuple(
        _date(d, f"{where}holidays[{i}]")
        for i, d in enumerate(_get(raw, "holidays", list, where, []))
    )
    if not weekdays:
        raise ConfigError(f"{where}working_weekdays: at least one working weekday is needed")
    holidays_file = None
    if "holidays_file" in raw:
        name = _get(raw, "holidays_file", str, where)
        holidays_file = (base / name) if base else Path(name)
        if not holidays_file.is_file():
            raise ConfigError(f"{where}holidays_file: no such file {str(holidays_file)!r}")
        try:
            # Read once, here: the file's days join the listed ones as the centre's holidays.
            holidays = tuple(sorted(set(holidays) | set(workdays.read_holidays(holidays_file))))
        except workdays.HolidayFileError as e:
            raise ConfigError(f"{where}holidays_file: {e}") from None
    languages = _get(raw, "announcement_languages", list, where, list(LANGUAGES))
    for lang in languages:
        if lang not in LANGUAGES:
            raise ConfigError(f"{where}announcement_languages: unknown language {lang!r}")
    engine = _get(raw, "announcement_engine", str, where, "gtts")
    if engine not in ENGINES:
        raise ConfigError(f"{where}announcement_engine: must be one of {', '.join(ENGINES)}")
    return Centre(
        id=cid,
        name_en=_text(raw, "name_en", where),
        name_zh=_text(raw, "name_zh", where),
        services=services,
        counters=tuple(counters),
        arrival_before_minutes=_non_negative(
            _get(raw, "arrival_before_minutes", int, where, 30), where + "arrival_before_minutes"),
        arrival_after_minutes=_non_negative(
            _get(raw, "arrival_after_minutes", int, where, 60), where + "arrival_after_minutes"),
        processing_working_days=_non_negative(
            _get(raw, "processing_working_days", int, where, 10),
            where + "processing_working_days"),
        working_weekdays=tuple(weekdays),
        holidays=holidays,
        holidays_file=holidays_file,
        announcement_languages=tuple(languages),
        announcement_engine=engine,
        default_service_minutes=max(1, _get(raw, "default_service_minutes", int, where,
                                            DEFAULT_SERVICE_MINUTES)),
        receipt_prefix=_receipt_prefix(raw, cid, where),
        closing_time=_clock_time(raw, "closing_time", where, DEFAULT_CLOSING_TIME),
        wait_target_minutes=max(1, _get(raw, "wait_target_minutes", int, where,
                                        DEFAULT_WAIT_TARGET_MINUTES)),
        appointments=_appointments(raw.get("appointments", {}), where + "appointments"),
        address_en=str(_get(raw, "address_en", str, where, "")).strip(),
        address_zh=str(_get(raw, "address_zh", str, where, "")).strip(),
    )


def _clock_time(raw: dict[str, Any], key: str, where: str, default: str) -> str:
    value = str(_get(raw, key, str, where, default))
    m = re.fullmatch(r"(\d{2}):(\d{2})", value)
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise ConfigError(f"{where}{key}: {value!r} must be a local time HH:MM, like 18:00")
    return value


def _receipt_prefix(raw: dict[str, Any], cid: str, where: str) -> str:
    default = "".join(word[0] for word in cid.split("-") if word).upper()
    prefix = str(_get(raw, "receipt_prefix", str, where, default))
    if not 1 <= len(prefix) <= 4 or not set(prefix) <= numbering.PREFIX_LETTERS:
        raise ConfigError(f"{where}receipt_prefix: {prefix!r} must be 1 to 4 capital letters "
                          "other than I, L, O and U (set receipt_prefix for this centre)")
    return prefix


def parse(data: dict[str, Any], path: Path | None = None) -> Config:
    _unknown(data, _TOP_KEYS, "")
    tz = _get(data, "timezone", str, "", "Asia/Hong_Kong")
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"timezone: unknown time zone {tz!r}") from None
    fees_raw = _get(data, "fees", dict, "", {})
    _unknown(fees_raw, set(APPLICATION_TYPES), "fees.")
    fees = dict(DEFAULT_FEES)
    for key in fees_raw:
        fees[key] = _non_negative(_get(fees_raw, key, int, "fees."), f"fees.{key}")
    base = path.parent if path else None
    centres_raw = _get(data, "centres", list, "")
    if not centres_raw:
        raise ConfigError("centres: at least one centre is needed")
    centres = tuple(_centre(c, i, base) for i, c in enumerate(centres_raw))
    ids = [c.id for c in centres]
    for cid in ids:
        if ids.count(cid) > 1:
            raise ConfigError(f"centres: duplicate centre id {cid!r}")
    prefixes = [c.receipt_prefix for c in centres]
    for c in centres:
        if prefixes.count(c.receipt_prefix) > 1:
            raise ConfigError(f"centres[{c.id}].receipt_prefix: {c.receipt_prefix!r} is also "
                              "another centre's; set a distinct receipt_prefix")
    feed = None
    if "booking_feed" in data:
        raw_feed = _get(data, "booking_feed", dict, "")
        _unknown(raw_feed, _FEED_KEYS, "booking_feed.")
        feed = BookingFeed(
            url=_get(raw_feed, "url", str, "booking_feed."),
            interval_seconds=max(1, _get(raw_feed, "interval_seconds", int, "booking_feed.", 300)),
        )
    data_dir = None
    if "data_dir" in data:
        data_dir = Path(_get(data, "data_dir", str, ""))
        if base and not data_dir.is_absolute():
            data_dir = base / data_dir
    keep_days = _get(data, "personal_data_days", int, "", 30)
    if isinstance(keep_days, bool) or keep_days < 0:
        raise ConfigError("personal_data_days: a whole number of days, 0 or more")
    return Config(centres=centres, timezone=tz, fees=fees, data_dir=data_dir,
                  booking_feed=feed, path=path, personal_data_days=keep_days,
                  public_url=_public_url(data),
                  mail=_mail(data["mail"]) if "mail" in data else None)


def load(path: str | Path) -> Config:
    p = Path(path)
    try:
        with p.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {str(p)!r} not found") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {str(p)!r} is not valid TOML: {e}") from None
    return parse(data, p.resolve())


def sample_path() -> Path:
    """The sample config shipped in the package: every key, two centres."""
    return Path(str(resources.files("queueserver") / "sample_config.toml"))


def load_default(explicit: str | None = None) -> Config:
    """`--config`, else `QUEUESERVER_CONFIG`, else the shipped sample."""
    path = explicit or os.environ.get("QUEUESERVER_CONFIG")
    return load(path) if path else load(sample_path())
