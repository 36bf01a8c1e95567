"""The centre's configuration: one TOML file, loaded and validated once at start (CONTRACT §1).

The file's shape is the model below: every key with its type, its range and its default, as
msgspec Structs, which are also what the rest of the server reads. What one key cannot say alone
(a counter naming an unknown service, two centres with one id, a time zone that does not exist)
is checked after it, in `_check`. Either way a wrong file stops start-up with a message that names
the key and why: `centres[wan-chai].counters[2].services: unknown service 'Q'`.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
import types
import zoneinfo
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints

import msgspec
from msgspec import Meta, Struct

from queueserver.rules import numbering, workdays
from queueserver.rules.vocab import ApplicationType

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Language = Literal["yue", "cmn", "en"]
Engine = Literal["gtts", "espeak", "tone"]
APPLICATION_TYPES: tuple[ApplicationType, ...] = tuple(ApplicationType)
WEEKDAYS: tuple[Weekday, ...] = get_args(Weekday)
LANGUAGES: tuple[Language, ...] = get_args(Language)
ENGINES: tuple[Engine, ...] = get_args(Engine)
DEFAULT_FEES: dict[ApplicationType, int] = {
    ApplicationType.FIRST: 320, ApplicationType.RENEWAL: 320,
    ApplicationType.REISSUE_LOST: 480, ApplicationType.REISSUE_DAMAGED: 320}
# Until the day has finished services to measure, an estimate assumes this many minutes each.
DEFAULT_SERVICE_MINUTES = 8
# The day-close job ends the day at this local time unless a centre says otherwise.
DEFAULT_CLOSING_TIME = "18:00"
# Statistics report the share of applicants who waited longer than this (a service pledge).
DEFAULT_WAIT_TARGET_MINUTES = 30

# A centre's id, in every URL of the centre.
SLUG = r"^[a-z0-9][a-z0-9-]{0,40}$"
NonNegative = Annotated[int, Meta(ge=0)]
Text = Annotated[str, Meta(pattern=r"\S")]
# Why a value does not match its key's pattern, by key (the message says it with the value).
_PATTERNS = {
    "code": "must be one capital letter",
    "id": "must be a slug (lower-case letters, digits, '-')",
    "name_en": "must not be empty",
    "name_zh": "must not be empty",
    "receipt_prefix": "must be 1 to 4 capital letters other than I, L, O and U (set "
                      "receipt_prefix for this centre)",
    "closing_time": "must be a local time HH:MM, like 18:00",
    "webhook_url": "must be an http:// or https:// URL",
    "secret_env": "must name an environment variable (the key itself is never written here)",
    "name": "must be a slug (lower-case letters, digits, '-'), like desk-1",
    "url": "must be tcp://HOST:PORT, like tcp://192.0.2.10:9100",
    "smtp_url": "must be smtp://HOST:PORT (STARTTLS when offered) or smtps://HOST:PORT (TLS)",
    "from": "must be an email address",
    "public_url": "must be an absolute http(s) URL",
}


class ConfigError(Exception):
    """A wrong configuration: names the key and why, and stops start-up."""


# --- the booking platform (CONTRACT §11): `[centres.appointments]` and `[mail]` ----------------

DEFAULT_HOURS = ("09:00-12:30", "14:00-16:30")
AUTO = "auto"
# Where the worker's emails link to when `public_url` is not set (there is no request to copy).
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
_HOURS = r"^([01][0-9]|2[0-3]):[0-5][0-9]-(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"


class Appointments(Struct, frozen=True, forbid_unknown_fields=True):
    """A centre's bookable slots: `hours` on its working days, `slot_minutes` each, `capacity`
    people a slot (a number, or AUTO: worked out from the measured service times)."""

    hours: Annotated[tuple[Annotated[str, Meta(pattern=_HOURS)], ...],
                     Meta(min_length=1)] = DEFAULT_HOURS
    slot_minutes: Annotated[int, Meta(ge=5, le=240)] = 30
    capacity: Annotated[int, Meta(ge=1, le=10_000)] | Literal["auto"] = 6
    horizon_days: Annotated[int, Meta(ge=1, le=366)] = 30
    min_notice_hours: NonNegative = 24
    max_changes: NonNegative = 3

    @property
    def periods(self) -> tuple[tuple[int, int], ...]:
        """`hours` as (start, end) minutes of the day."""
        out = []
        for text in self.hours:
            begin, end = text.split("-")
            out.append((int(begin[:2]) * 60 + int(begin[3:]), int(end[:2]) * 60 + int(end[3:])))
        return tuple(out)


class Mail(Struct, frozen=True, forbid_unknown_fields=True):
    """`[mail]`: where the worker sends the booking platform's emails. `password_env` names the
    environment variable that holds the password, never the password itself."""

    smtp_url: Annotated[str, Meta(pattern=r"^smtps?://[^/\s:@]+(:[0-9]{1,5})?/?$")]
    sender: Annotated[str, Meta(pattern=r"^([^<>]*<)?[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+>?$")] = \
        msgspec.field(name="from")
    username: str = ""
    password_env: str = ""


class Service(Struct, frozen=True, forbid_unknown_fields=True):
    code: Annotated[str, Meta(pattern=r"^[A-Z]$")]
    name_en: Text
    name_zh: Text
    application_types: tuple[ApplicationType, ...] = ()
    priority: bool = False


class Counter(Struct, frozen=True, forbid_unknown_fields=True):
    number: Annotated[int, Meta(ge=1)]
    # Call order: the first listed service with a waiting ticket.
    services: Annotated[tuple[str, ...], Meta(min_length=1)]


# --- thermal printers (CONTRACT §10) -------------------------------------------------------------

# ESC/POS network printers listen here unless their URL says otherwise.
DEFAULT_PRINTER_PORT = 9100
PRINTER_URL = r"^tcp://([A-Za-z0-9.\-]+|\[[0-9a-fA-F:]+\])(?::([0-9]{1,5}))?/?$"


class Printer(Struct, frozen=True, forbid_unknown_fields=True):
    """`[[centres.printers]]`: an ESC/POS network printer the worker prints slips on."""

    name: Annotated[str, Meta(pattern=SLUG)]  # what the desk screen offers, `"printer"` names
    url: Annotated[str, Meta(pattern=PRINTER_URL)]  # tcp://HOST:PORT

    def _parts(self) -> tuple[str, int]:
        found = re.match(PRINTER_URL, self.url)
        assert found is not None  # the pattern was checked on load
        return found.group(1).strip("[]"), int(found.group(2) or DEFAULT_PRINTER_PORT)

    @property
    def host(self) -> str:
        return self._parts()[0]

    @property
    def port(self) -> int:
        return self._parts()[1]


class Centre(Struct, frozen=True, forbid_unknown_fields=True):
    id: Annotated[str, Meta(pattern=SLUG)]
    name_en: Text
    name_zh: Text
    services: Annotated[tuple[Service, ...], Meta(min_length=1)]
    counters: Annotated[tuple[Counter, ...], Meta(min_length=1)]
    arrival_before_minutes: NonNegative = 30
    arrival_after_minutes: NonNegative = 60
    processing_working_days: NonNegative = 10
    working_weekdays: Annotated[tuple[Weekday, ...], Meta(min_length=1)] = WEEKDAYS[:5]
    # The listed days and, once loaded, those of `holidays_file` (relative to the config file).
    holidays: tuple[dt.date, ...] = ()
    holidays_file: str | None = None
    announcement_languages: tuple[Language, ...] = LANGUAGES
    announcement_engine: Engine = "gtts"
    default_service_minutes: int = DEFAULT_SERVICE_MINUTES
    # Starts every receipt number, so the number names its centre (default: the id's initials).
    receipt_prefix: Annotated[
        str, Meta(pattern=f"^[{''.join(sorted(numbering.PREFIX_LETTERS))}]{{1,4}}$")] = ""
    # Local "HH:MM" at which the day-close job ends the day (leftover tickets, statistics).
    closing_time: Annotated[
        str, Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")] = DEFAULT_CLOSING_TIME
    wait_target_minutes: int = DEFAULT_WAIT_TARGET_MINUTES
    printers: tuple[Printer, ...] = ()
    # The booking platform (CONTRACT §11): its slots, and the address its emails give.
    appointments: Appointments = msgspec.field(default_factory=Appointments)
    address_en: str = ""
    address_zh: str = ""

    def printer(self, name: str) -> Printer | None:
        return next((p for p in self.printers if p.name == name), None)

    def service(self, code: str) -> Service | None:
        return next((s for s in self.services if s.code == code), None)

    def counter(self, number: int) -> Counter | None:
        return next((c for c in self.counters if c.number == number), None)

    @property
    def priority_service(self) -> Service | None:
        return next((s for s in self.services if s.priority), None)


class BookingFeed(Struct, frozen=True, forbid_unknown_fields=True):
    url: str
    interval_seconds: int = 300


# --- the follow page and text messages (CONTRACT §9) --------------------------------------------

# A text message goes out when this many people are ahead of the ticket (CONTRACT §9's default).
DEFAULT_WHEN_AHEAD = 3
HttpUrl = Annotated[str, Meta(pattern=r"^https?://[^/\s?#]+(/[^\s?#]*)?$")]


class Notify(Struct, frozen=True, forbid_unknown_fields=True):
    """`[notify]`: text messages through the centre's own gateway, a signed webhook."""

    webhook_url: HttpUrl
    # The name of the environment variable that holds the signing key (never the key itself).
    secret_env: Annotated[str, Meta(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
    when_ahead: Annotated[int, Meta(ge=1)] = DEFAULT_WHEN_AHEAD


class Config(Struct, frozen=True, forbid_unknown_fields=True):
    centres: Annotated[tuple[Centre, ...], Meta(min_length=1)]
    timezone: str = "Asia/Hong_Kong"
    # HK$ per application type; the file's fees are laid over these.
    fees: dict[ApplicationType, NonNegative] = msgspec.field(
        default_factory=lambda: dict(DEFAULT_FEES))
    data_dir: Path | None = None
    booking_feed: BookingFeed | None = None
    # Where the file was read from: set by `load`, never a key of the file.
    path: Path | None = None
    # Days after a permit's collection that its booking's personal fields are kept (PDPO DPP2).
    personal_data_days: NonNegative = 30
    # Absolute links (the booking page's, in emails) start so; None: the request's scheme and
    # host, and in the worker's emails DEFAULT_PUBLIC_URL. The follow page's too (CONTRACT §9):
    # ticket QR codes, text messages.
    public_url: Annotated[str, Meta(pattern=r"^https?://[^/\s]+(/\S*)?$")] | None = None
    mail: Mail | None = None
    notify: Notify | None = None

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def centre(self, centre_id: str) -> Centre | None:
        # Asked several times a request: by id from an index of the centres (held with them,
        # so a config made with other centres gets its own).
        known = _CENTRES.get(id(self.centres))
        if known is None or known[0] is not self.centres:
            if len(_CENTRES) >= _KEPT_INDEXES:
                _CENTRES.clear()
            known = _CENTRES[id(self.centres)] = (self.centres, {c.id: c for c in self.centres})
        return known[1].get(centre_id)


# Configs' centres by id (Config.centre): a process has one config, tests a few at a time.
_CENTRES: dict[int, tuple[tuple[Centre, ...], dict[str, Centre]]] = {}
_KEPT_INDEXES = 16


# --- the messages -------------------------------------------------------------------------------

# msgspec says "<why> - at `$.centres[0].counters[2].services`" (or "- at `key` in `$.fees`").
_FINDING = re.compile(r"(?s)(.*?)(?: - at (`key` in )?`\$(.*)`)?")
_STEP = re.compile(r"\.(\w+)|\[(\d+|\.\.\.)\]")
_KEY_FIELD = re.compile(r"Object (contains unknown|missing required) field `(\w+)`")


def _path_hook(kind: type, value: Any) -> Any:
    if kind is Path and isinstance(value, str):
        return Path(value)
    raise TypeError(f"Expected `str`, got `{type(value).__name__}`")


def _bare(kind: Any) -> Any:
    """The type without its constraints and without `| None`."""
    while True:
        if get_origin(kind) is Annotated:
            kind = get_args(kind)[0]
        elif isinstance(kind, types.UnionType):
            kind = next(a for a in get_args(kind) if a is not type(None))
        else:
            return kind


def _walk(data: Any, steps: list[str | int]) -> tuple[Any, Any]:
    """The file's value and the model's type at a key."""
    kind: Any = Config
    for step in steps:
        kind = _bare(kind)
        if isinstance(kind, type) and issubclass(kind, Struct):
            kind = get_type_hints(kind, include_extras=True).get(str(step))
        else:  # tuple[X, ...] or dict[K, X]
            kind = get_args(kind)[-1] if get_origin(kind) is dict else get_args(kind)[0]
        if isinstance(data, dict):
            data = data.get(step)
        elif isinstance(data, list) and isinstance(step, int) and step < len(data):
            data = data[step]
        else:
            data = None
    return data, _bare(kind)


def _name(data: Any, steps: list[str | int]) -> str:
    """`centres[wan-chai].counters[2].services`: a centre by its id once it has one."""
    out = ""
    for i, step in enumerate(steps):
        if isinstance(step, str):
            out += ("." if out else "") + step
            continue
        item, _ = _walk(data, steps[:i + 1])
        cid = item.get("id") if isinstance(item, dict) and steps[:i] == ["centres"] else None
        out += f"[{cid if isinstance(cid, str) and re.match(SLUG, cid) else step}]"
    return out


def _fits(value: Any, kind: Any) -> bool:
    try:
        msgspec.convert(value, kind)
    except msgspec.ValidationError:
        return False
    return True


def _explain(error: msgspec.ValidationError, data: dict[str, Any]) -> str:
    """msgspec's finding in this file's words: the key, then why."""
    found = _FINDING.fullmatch(str(error))
    assert found is not None  # the pattern matches any text
    reason, in_key, where = found.groups()
    steps: list[str | int] = []
    for name, index in _STEP.findall(where or ""):
        if index == "...":  # a value in a table such as [fees]: name the entry that is wrong
            table, kind = _walk(data, steps)
            wrong = [k for k, v in table.items() if not _fits(v, get_args(kind)[-1])]
            steps.append(str(wrong[0]))
        else:
            steps.append(name or int(index))
    if m := _KEY_FIELD.match(reason):
        why = "unknown key" if m.group(1) == "contains unknown" else "missing (required)"
        return f"{_name(data, [*steps, m.group(2)])}: {why}"
    key = _name(data, steps)
    value, kind = _walk(data, steps)
    if in_key:
        return f"{key}.{reason.split(' ')[-1].strip(chr(39))}: unknown key"
    if reason.startswith("Invalid enum value"):
        allowed: list[str]
        if get_origin(kind) is Union:  # a number, or a word (capacity: 6 or "auto")
            allowed = [str(a) for arg in get_args(kind) if get_origin(arg) is Literal
                       for a in get_args(arg)] + ["a number"]
        elif get_origin(kind) is Literal:
            allowed = [str(a) for a in get_args(kind)]
        else:
            allowed = [k.value for k in kind]
        return f"{key}: {value!r} is not one of {', '.join(allowed)}"
    if "RFC3339" in reason or reason.startswith("Expected `date`"):
        return f"{key}: bad date {value!r} (use YYYY-MM-DD)"
    if m := re.match(r"Expected `(.+?)`, got `(\w+)`", reason):
        return f"{key}: wrong type {m.group(2)} (expected {m.group(1)})"
    if "matching regex" in reason:
        return f"{key}: {value!r} {_PATTERNS.get(str(steps[-1]), 'is not allowed')}"
    if "of length >= 1" in reason:
        return f"{key}: at least one is needed"
    if m := re.match(r"Expected `int` >= (\d+)", reason):
        return f"{key}: must be {m.group(1)} or more"
    return f"{key}: {reason}"


# --- what one key cannot say alone ------------------------------------------------------------

def _check_centre(c: Centre) -> None:
    where = f"centres[{c.id}]."
    codes = [s.code for s in c.services]
    for code in codes:
        if codes.count(code) > 1:
            raise ConfigError(f"{where}services: duplicate service code {code!r}")
    if sum(s.priority for s in c.services) > 1:
        raise ConfigError(f"{where}services: at most one service may be the priority service")
    for t in APPLICATION_TYPES:
        owners = [s.code for s in c.services if t in s.application_types and not s.priority]
        if len(owners) > 1:
            raise ConfigError(f"{where}services: application type {t.value!r} is in both "
                              f"{owners}")
    last = -1
    for i, (begin, end) in enumerate(c.appointments.periods):
        if end <= begin or begin < last:
            raise ConfigError(f"{where}appointments.hours[{i}]: {c.appointments.hours[i]!r} "
                              "must end after it starts, and start after the hours before it")
        last = end
    seen: set[int] = set()
    for i, counter in enumerate(c.counters):
        if counter.number in seen:
            raise ConfigError(f"{where}counters[{i}].number: duplicate counter number "
                              f"{counter.number}")
        seen.add(counter.number)
        for code in counter.services:
            if code not in codes:
                raise ConfigError(f"{where}counters[{i}].services: unknown service {code!r}")
    names: set[str] = set()
    for i, printer in enumerate(c.printers):
        if printer.name in names:
            raise ConfigError(f"{where}printers[{i}].name: duplicate printer name "
                              f"{printer.name!r}")
        names.add(printer.name)
        if not 0 < printer.port < 65536:
            raise ConfigError(f"{where}printers[{i}].url: {printer.url!r} "
                              f"{_PATTERNS['url']}")


def _check(cfg: Config) -> None:
    try:
        zoneinfo.ZoneInfo(cfg.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"timezone: unknown time zone {cfg.timezone!r}") from None
    for c in cfg.centres:
        _check_centre(c)
    ids = [c.id for c in cfg.centres]
    for cid in ids:
        if ids.count(cid) > 1:
            raise ConfigError(f"centres: duplicate centre id {cid!r}")
    prefixes = [c.receipt_prefix for c in cfg.centres]
    for c in cfg.centres:
        if prefixes.count(c.receipt_prefix) > 1:
            raise ConfigError(f"centres[{c.id}].receipt_prefix: {c.receipt_prefix!r} is also "
                              "another centre's; set a distinct receipt_prefix")


def _holidays(c: Centre, base: Path | None) -> Centre:
    """The file's days join the listed ones as the centre's holidays, read once, here."""
    if c.holidays_file is None:
        return c
    where = f"centres[{c.id}].holidays_file"
    path = (base / c.holidays_file) if base else Path(c.holidays_file)
    if not path.is_file():
        raise ConfigError(f"{where}: no such file {str(path)!r}")
    try:
        days = workdays.read_holidays(path)
    except workdays.HolidayFileError as e:
        raise ConfigError(f"{where}: {e}") from None
    return msgspec.structs.replace(c, holidays=tuple(sorted(set(c.holidays) | set(days))))


def _with_defaults(data: dict[str, Any]) -> dict[str, Any]:
    """Defaults that depend on another key: a centre's receipt prefix is its id's initials."""
    centres = data.get("centres")
    if not isinstance(centres, list):
        return data
    filled = []
    for raw in centres:
        if isinstance(raw, dict) and "receipt_prefix" not in raw and isinstance(raw.get("id"),
                                                                                 str):
            initials = "".join(word[0] for word in raw["id"].split("-") if word).upper()
            raw = {**raw, "receipt_prefix": initials}
        filled.append(raw)
    return {**data, "centres": filled}


def parse(data: dict[str, Any], path: Path | None = None) -> Config:
    if "path" in data:  # where the file lies is for `load` to say, not the file
        raise ConfigError("path: unknown key")
    data = _with_defaults(data)
    try:
        cfg = msgspec.convert(data, Config, dec_hook=_path_hook)
    except msgspec.ValidationError as e:
        raise ConfigError(_explain(e, data)) from None
    _check(cfg)
    base = path.parent if path else None
    data_dir = cfg.data_dir
    if data_dir is not None and base and not data_dir.is_absolute():
        data_dir = base / data_dir
    feed = cfg.booking_feed
    if feed is not None:
        feed = msgspec.structs.replace(feed, interval_seconds=max(1, feed.interval_seconds))
    centres = tuple(msgspec.structs.replace(
        _holidays(c, base), default_service_minutes=max(1, c.default_service_minutes),
        wait_target_minutes=max(1, c.wait_target_minutes)) for c in cfg.centres)
    public_url = cfg.public_url.rstrip("/") if cfg.public_url else None
    return msgspec.structs.replace(cfg, centres=centres, fees={**DEFAULT_FEES, **cfg.fees},
                                   data_dir=data_dir, booking_feed=feed, path=path,
                                   public_url=public_url)


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
