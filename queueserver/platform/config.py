"""The centre's configuration: one TOML file, loaded and validated once at start (CONTRACT §1)."""

from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
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


# --- thermal printers (CONTRACT §10): kept apart so they read as one model --------------------

# ESC/POS network printers listen here unless their URL says otherwise.
DEFAULT_PRINTER_PORT = 9100


@dataclass(frozen=True)
class Printer:
    """`[[centres.printers]]`: an ESC/POS network printer, `tcp://HOST:PORT`."""

    name: str
    host: str
    port: int = DEFAULT_PRINTER_PORT

    @property
    def url(self) -> str:
        return f"tcp://{self.host}:{self.port}"


_PRINTER_KEYS = {"name", "url"}
_PRINTER_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}$")


def _printers(raw: dict[str, Any], where: str) -> tuple[Printer, ...]:
    out: list[Printer] = []
    for i, p in enumerate(_get(raw, "printers", list, where, [])):
        pw = f"{where}printers[{i}]."
        if not isinstance(p, dict):
            raise ConfigError(f"{where}printers[{i}]: must be a table")
        _unknown(p, _PRINTER_KEYS, pw)
        name = _get(p, "name", str, pw)
        if not _PRINTER_NAME.match(name):
            raise ConfigError(f"{pw}name: {name!r} must be a slug (lower-case letters, digits, "
                              "'-'), like desk-1")
        if any(other.name == name for other in out):
            raise ConfigError(f"{pw}name: duplicate printer name {name!r}")
        url = _get(p, "url", str, pw)
        m = re.fullmatch(r"tcp://([A-Za-z0-9.\-]+|\[[0-9a-fA-F:]+\])(?::(\d{1,5}))?/?", url)
        if not m or not 0 < int(m.group(2) or DEFAULT_PRINTER_PORT) < 65536:
            raise ConfigError(f"{pw}url: {url!r} must be tcp://HOST:PORT, like "
                              "tcp://192.0.2.10:9100")
        out.append(Printer(name=name, host=m.group(1).strip("[]"),
                           port=int(m.group(2) or DEFAULT_PRINTER_PORT)))
    return tuple(out)


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
    printers: tuple[Printer, ...] = ()

    def printer(self, name: str) -> Printer | None:
        return next((p for p in self.printers if p.name == name), None)

    def service(self, code: str) -> Service | None:
        return next((s for s in self.services if s.code == code), None)

    def counter(self, number: int) -> Counter | None:
        return next((c for c in self.counters if c.number == number), None)

    @property
    def priority_service(self) -> Service | None:
        return next((s for s in self.services if s.priority), None)

    def service_for_type(self, application_type: str) -> Service | None:
        return next(
            (s for s in self.services
             if application_type in s.application_types and not s.priority),
            None,
        )


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

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def centre(self, centre_id: str) -> Centre | None:
        return next((c for c in self.centres if c.id == centre_id), None)


_TOP_KEYS = {"timezone", "fees", "centres", "data_dir", "booking_feed", "personal_data_days"}
_CENTRE_KEYS = {
    "id", "name_en", "name_zh", "arrival_before_minutes", "arrival_after_minutes",
    "processing_working_days", "working_weekdays", "holidays", "holidays_file",
    "announcement_languages", "announcement_engine", "default_service_minutes",
    "services", "counters", "receipt_prefix", "closing_time", "wait_target_minutes",
    "printers",
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
        printers=_printers(raw, where),
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
                  booking_feed=feed, path=path, personal_data_days=keep_days)


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
