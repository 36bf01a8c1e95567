"""Every Redis key name, pinned: a renamed key would strand a running centre's data."""

from __future__ import annotations

import datetime as dt
import hashlib
import inspect
import io
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from conftest import DAY, HKIDS, MORNING, SAMPLE_CONFIG, bearer, make_booking, store
from service_path import C
from service_path import Path as ServicePath
from starlette.testclient import TestClient

from queueserver.bookings.feed_state import FeedLock
from queueserver.notices import expiry
from queueserver.operations import backup, dayclose, privacy
from queueserver.platform import config
from queueserver.platform.clock import Clock
from queueserver.store import keys, lua


def test_centre_keys_carry_the_centre_as_a_hash_tag() -> None:
    c = "wan-chai"
    assert keys.centre_prefix(c) == "qs:{wan-chai}:"
    assert keys.events(c) == "qs:{wan-chai}:events"
    assert keys.booking(c, "MEP1") == "qs:{wan-chai}:booking:MEP1"
    assert keys.booking_history(c, "MEP1") == "qs:{wan-chai}:booking-history:MEP1"
    assert keys.bookings_on(c, "2026-11-27") == "qs:{wan-chai}:bookings:2026-11-27"
    assert keys.bookings_by_id(c, "ab12") == "qs:{wan-chai}:bookings-by-id:ab12"
    assert keys.photo_receipt(c, "PH1") == "qs:{wan-chai}:photo:PH1"
    assert keys.sequence(c, "2026-11-27", "A") == "qs:{wan-chai}:seq:2026-11-27:A"
    assert keys.ticket(c, "2026-11-27", "A001") == "qs:{wan-chai}:ticket:2026-11-27:A001"
    assert keys.queue(c, "2026-11-27", "A") == "qs:{wan-chai}:queue:2026-11-27:A"
    assert keys.day_tickets(c, "2026-11-27") == "qs:{wan-chai}:tickets:2026-11-27"
    assert keys.counter(c, 5) == "qs:{wan-chai}:counter:5"
    assert keys.recent_calls(c, "2026-11-27") == "qs:{wan-chai}:calls:2026-11-27"
    assert keys.service_pace(c, "A") == "qs:{wan-chai}:service-pace:A"
    assert keys.idempotency(c, "ab12") == "qs:{wan-chai}:idem:ab12"
    assert keys.day_close(c, "2026-11-27") == "qs:{wan-chai}:day:2026-11-27"
    assert keys.archive(c, "2026-11-27") == "qs:{wan-chai}:archive:2026-11-27"
    assert keys.payments(c, "2026-11-27") == "qs:{wan-chai}:payments:2026-11-27"
    assert keys.receipt(c, "WC12345678X") == "qs:{wan-chai}:receipt:WC12345678X"
    assert keys.receipts_uncollected(c) == "qs:{wan-chai}:receipts-uncollected"
    assert keys.collection_flags(c) == "qs:{wan-chai}:collection-flags"
    assert keys.booking_requests(c, "MEP1") == "qs:{wan-chai}:booking-requests:MEP1"
    assert keys.notices(c) == "qs:{wan-chai}:notices"
    assert keys.notice_order(c) == "qs:{wan-chai}:notice-order"
    assert keys.notice_expiry(c) == "qs:{wan-chai}:notice-expiry"
    assert keys.notice_sequence(c) == "qs:{wan-chai}:notice-seq"
    assert keys.issuing(c) == "qs:{wan-chai}:issuing-closed"
    assert keys.printer_failed(c, "job1") == "qs:{wan-chai}:printer-failed:job1"
    assert keys.credential_generation(c) == "qs:{wan-chai}:credential-generation"


def test_a_centres_appointments_carry_the_centre_as_a_hash_tag() -> None:
    c, day = "wan-chai", "2026-11-30"
    assert keys.slot_places(c, day) == "qs:{wan-chai}:slots:2026-11-30"
    assert keys.slot_capacity(c) == "qs:{wan-chai}:slot-capacity"
    assert keys.slot_blocks(c, day) == "qs:{wan-chai}:slot-blocks:2026-11-30"
    assert keys.waitlist(c, day) == "qs:{wan-chai}:waitlist:2026-11-30"
    assert keys.offer(c, "APP1") == "qs:{wan-chai}:offer:APP1"
    assert keys.offers(c) == "qs:{wan-chai}:offers"
    assert keys.mail_outbox(c) == "qs:{wan-chai}:mail-outbox"


def test_an_application_s_keys_carry_its_token_s_hash_and_mail_keys_no_tag() -> None:
    assert keys.application("ab12") == "qs:{t:ab12}:application"
    assert keys.application_rate("ab12") == "qs:{t:ab12}:rate"
    assert keys.application_refs() == "qs:application-refs"
    assert keys.token_failures_address("127.0.0.1") == "qs:token-failures:addr:127.0.0.1"
    assert keys.appointment_moves() == "qs:appointment-moves"
    assert keys.mail_outbox_global() == "qs:mail-outbox"
    assert keys.mail("ab12") == "qs:mail:ab12"
    assert keys.mail_sending("ab12") == "qs:mail-sending:ab12"
    assert keys.mail_retries() == "qs:mail-retries"
    assert keys.mail_counts() == "qs:mail-counts"


def test_keys_of_no_centre_have_no_hash_tag() -> None:
    assert keys.token("ab12") == "qs:token:ab12"
    assert keys.token_names() == "qs:token-names"
    assert keys.credential_names() == "qs:credential-names"
    assert keys.privacy_log("wan-chai") == "qs:{wan-chai}:privacy-log"
    assert keys.booking_index() == "qs:booking-index"
    assert keys.credential_centres() == "qs:credential-centres"
    assert keys.receipt_index() == "qs:receipt-index"
    assert keys.idempotency_global("ab12") == "qs:idem:ab12"
    assert keys.lookup_failures("ab12") == "qs:lookup-failures:ab12"
    assert keys.schedule_lock("booking-sync") == "qs:schedule:booking-sync"
    assert keys.demo_clock() == "qs:demo:clock"
    assert keys.import_plan("ab12") == "qs:import-plan:ab12"
    assert keys.booking_feed("ab12") == "qs:booking-feed:ab12"
    assert keys.booking_feed_lock("ab12") == "qs:booking-feed-lock:ab12"


def test_login_and_session_keys() -> None:
    assert keys.user("amy") == "qs:user:amy"
    assert keys.user_names() == "qs:user-names"
    assert keys.user_sessions("amy") == "qs:user-sessions:amy"
    assert keys.session("ab12") == "qs:session:ab12"
    assert keys.login_failures_user("amy") == "qs:login-failures:user:amy"
    assert keys.login_failures_address("127.0.0.1") == "qs:login-failures:addr:127.0.0.1"
    assert keys.login_failures_device("ab12") == "qs:login-failures:device:ab12"
    assert keys.rate_bucket("t_0a1b2c") == "qs:rate:t_0a1b2c"
    assert keys.rate_bucket("t_0a1b2c", "wan-chai") == "qs:{wan-chai}:rate:t_0a1b2c"


def test_announcement_audio_keys_belong_to_no_centre() -> None:
    assert keys.sound_segment("0a1b2c3d4e5f") == "qs:sound:segment:0a1b2c3d4e5f"
    assert keys.sound_segments() == "qs:sound:segments"
    assert keys.sound_clip("c1.0a1b2c3d4e5f") == "qs:sound:clip:c1.0a1b2c3d4e5f"
    assert keys.sound_planned("c1.0a1b2c3d4e5f") == "qs:sound:planned:c1.0a1b2c3d4e5f"


def test_the_follow_pages_keys() -> None:
    c, day = "wan-chai", "2026-11-27"
    assert keys.phones(c, day) == "qs:{wan-chai}:phones:2026-11-27"
    assert keys.feedback(c, day) == "qs:{wan-chai}:feedback:2026-11-27"
    assert keys.notify_delivery(c, day, "A001", "called") == \
        "qs:{wan-chai}:notify:2026-11-27:A001:called"
    assert keys.notify_pending(c) == "qs:{wan-chai}:notify-pending"
    assert keys.notify_cursor(c) == "qs:{wan-chai}:notify-cursor"
    assert keys.notify_sending(c, day, "A001", "near_turn") == \
        "qs:{wan-chai}:notify-sending:2026-11-27:A001:near_turn"
    assert keys.follow_token("ab12") == "qs:follow:ab12"
    assert keys.token_failures_address("127.0.0.1") == "qs:token-failures:addr:127.0.0.1"
    assert keys.notify_counts() == "qs:notify-counts"


def test_the_benchmark_floor_stream_belongs_to_no_centre() -> None:
    assert keys.bench_floor() == "qs:bench:floor"


def test_a_restore_tries_payloads_in_the_centres_slot() -> None:
    assert keys.restore_check("wan-chai") == "qs:{wan-chai}:restore-check"


def test_scripts_build_the_same_names(client, tokens, seed, r) -> None:  # type: ignore[no-untyped-def]
    """Scripts derive keys from the centre's prefix: the names they write are these."""
    import hashlib

    from conftest import SECRET, bearer

    from queueserver.rules import identity

    seed("MEP1")
    h = bearer(tokens["admin"])
    client.post("/api/v1/centres/wan-chai/photo-receipts", json={"barcode": "PH1"}, headers=h)
    issued = client.post("/api/v1/centres/wan-chai/tickets", headers=h, json={
        "booking_ref": "MEP1", "id_number": "A123456(3)", "photo_barcode": "PH1"})
    client.post("/api/v1/centres/wan-chai/counters/1/call", headers=h)
    follow_token = issued.json()["ticket"]["follow_url"].rsplit("/", 1)[1]
    day, c = "2026-11-27", "wan-chai"
    # No history list: a booking new from an import keeps its creation on its record.
    expected = {keys.events(c), keys.booking(c, "MEP1"), keys.photo_receipt(c, "PH1"),
                keys.sequence(c, day, "A"), keys.ticket(c, day, "A001"), keys.day_tickets(c, day),
                keys.counter(c, 1), keys.open_counters(c, day), keys.recent_calls(c, day),
                keys.booking_index(), keys.bookings_on(c, day),
                keys.bookings_by_id(c, identity.keyed_hash(SECRET, "hkid", "A123456(3)")),
                keys.follow_token(hashlib.sha256(follow_token.encode()).hexdigest())}
    written = {k for k in r.scan_iter("qs:*")
               if not k.startswith("qs:token")
               and k not in (keys.credential_names(), keys.credential_centres())}
    assert written == expected


def test_a_family_prefix_is_its_name_without_the_last_part() -> None:
    """Scripts name keys they find while they run by appending to a prefix built so."""
    c, day = "wan-chai", "2026-11-27"
    assert keys.ticket(c, day, "") + "A001" == keys.ticket(c, day, "A001")
    assert keys.booking(c, "") + "MEP1" == keys.booking(c, "MEP1")
    assert keys.bookings_on(c, "") + day == keys.bookings_on(c, day)
    assert keys.bookings_by_id(c, "") + "ab12" == keys.bookings_by_id(c, "ab12")


def test_a_centres_day_holds_the_keys_of_its_counters_and_services() -> None:
    day = keys.centre_day("wan-chai", "2026-11-27", [1, 2], ["A", "P"])
    assert day["events"] == keys.events("wan-chai")
    assert day["counter"] == {"1": keys.counter("wan-chai", 1), "2": keys.counter("wan-chai", 2)}
    assert day["open_counters"] == keys.open_counters("wan-chai", "2026-11-27")
    assert day["queue"] == {"A": keys.queue("wan-chai", "2026-11-27", "A"),
                            "P": keys.queue("wan-chai", "2026-11-27", "P")}
    assert day["sequence"]["P"] == keys.sequence("wan-chai", "2026-11-27", "P")


# --- no script builds a key name ------------------------------------------------------------------

SCRIPTS = Path(lua.__file__).parent / "scripts"
# A concatenation that names a key a script finds only while it runs carries this comment on its
# line, saying why; the ones there are, per file (a new one is a decision, made here).
MARK = "-- key from data:"
# personal_erase.lua's second: the day's phone numbers (CONTRACT §9), found by the booking's day.
# _appointments.lua: the day of an appointment held or freed, the next on a waiting list, the
# bookings of a blocked day: found while the script runs, one helper each (its header says).
EXCEPTIONS = {"_lib.lua": 1, "booking_upsert.lua": 4, "personal_erase.lua": 2, "receipt.lua": 1,
              "_appointments.lua": 8}
TOKEN = re.compile(r"""
    (?P<comment>--\[(?P<eq>=*)\[.*?\](?P=eq)\]|--[^\n]*)
  | (?P<string>'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*"|\[(?P<eq2>=*)\[.*?\](?P=eq2)\])
  | (?P<name>[A-Za-z_]\w*)
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<op>\.\.\.|\.\.|==|~=|<=|>=|[^\s\w])
  | (?P<space>\s+)
""", re.S | re.X)
# What holds keys or prefixes in a script: a concatenation on them builds a key name.
KEY_HOLDERS = {"KEYS", "ARGV", "K"}


def families() -> set[str]:
    """The words key names are made of (`ticket`, `bookings-by-id`, ...), read from keys.py."""
    words: set[str] = set()
    for function in vars(keys).values():
        if not inspect.isfunction(function) or function.__module__ != keys.__name__:
            continue
        params = inspect.signature(function).parameters
        args: list[Any] = [["§"] if p == "counters" or p == "services" else "§" for p in params]
        made = function(*args)
        for key in made.values() if isinstance(made, dict) else [made]:
            for key_ in key.values() if isinstance(key, dict) else [key]:
                words |= {w for w in key_.split(":") if w and "§" not in w and "{" not in w}
    return words - {keys.PREFIX}


FAMILIES = families()


@dataclass
class Token:
    kind: str
    text: str
    line: int


def tokens_of(source: str) -> tuple[list[Token], dict[int, str]]:
    """The code's tokens, and the comments by line."""
    out, comments, line = [], {}, 1
    for m in TOKEN.finditer(source):
        kind = m.lastgroup or ""
        if kind == "comment":
            comments[line] = m.group()
        elif kind not in ("space", "eq", "eq2"):
            out.append(Token(kind, m.group(), line))
        line += m.group().count("\n")
    return out, comments


def literal(token: Token) -> str | None:
    return token.text[1:-1] if token.kind == "string" else None


def keyish(text: str) -> bool:
    """A literal that spells (part of) a key name."""
    if text.startswith(keys.PREFIX + ":") or text in FAMILIES:
        return True
    return ":" in text and any(part in FAMILIES for part in text.split(":"))


def matching(tokens: list[Token], j: int, step: int) -> int:
    """The index of the bracket that closes `tokens[j]`, walking `step` (+1 or -1)."""
    depth = 0
    while True:
        depth += {"[": 1, "]": -1}.get(tokens[j].text, 0) * step
        if depth == 0:
            return j
        j += step


def left_operand(tokens: list[Token], i: int) -> list[Token]:
    """What stands before the `..` at `i`: the names of a chain (`a.b[c].d` gives a, b, d),
    else the one token there (a literal, a `)`)."""
    names, j = [], i - 1
    while j >= 0:
        if tokens[j].text == "]":
            j = matching(tokens, j, -1) - 1
        elif tokens[j].kind == "name":
            names.insert(0, tokens[j])
            if j < 2 or tokens[j - 1].text not in ".:":
                break
            j -= 2
        else:
            break
    return names or [tokens[i - 1]]


def right_operand(tokens: list[Token], i: int) -> list[Token]:
    """What stands after the `..` at `i`, as left_operand."""
    names, j = [], i + 1
    while j < len(tokens) and tokens[j].kind == "name":
        names.append(tokens[j])
        j += 1
        while j < len(tokens) and tokens[j].text == "[":
            j = matching(tokens, j, 1) + 1
        if j + 1 >= len(tokens) or tokens[j].text not in ".:":
            break
        j += 1
    return names or [tokens[i + 1]]


def holds_a_key(chain: list[Token], aliases: set[str]) -> bool:
    """An operand that is a key or a prefix: KEYS, ARGV, K, a context's `*prefix`, or a
    local taken from one."""
    names = [t.text for t in chain if t.kind == "name"]
    if not names:
        return False
    if names[0] in aliases:
        return True
    if names[0] in ("CTX", "ctx"):
        return any("prefix" in n or "key" in n for n in names[1:])
    return len(names) == 1 and ("prefix" in names[0] or "key" in names[0])


def key_building(source: str) -> tuple[list[str], list[int]]:
    """(what builds a key name, as `line: why`; the marked exceptions' lines)."""
    tokens, comments = tokens_of(source)
    found, marked = [], []
    aliases = set(KEY_HOLDERS)
    calls: list[str] = []  # the function of each open parenthesis
    for i, t in enumerate(tokens):
        text = literal(t)
        if t.kind == "name" and tokens[i - 1].text == "local" and i + 2 < len(tokens) \
                and tokens[i + 1].text == "=" \
                and holds_a_key(right_operand(tokens, i + 1), aliases):
            aliases.add(t.text)  # `local prefix = ARGV[1]`
        if t.text == "(":
            j, name = i - 1, []
            while j >= 0 and (tokens[j].kind == "name" or tokens[j].text in ".:"):
                name.insert(0, tokens[j].text)
                j -= 1
            calls.append("".join(name))
        elif t.text == ")" and calls:
            calls.pop()
        if text is not None and text.startswith(keys.PREFIX + ":"):
            found.append(f"{t.line}: the literal {t.text} is a key name")
        elif text is not None and calls and ":" in text and calls[-1] in (
                "table.concat", "string.format"):
            found.append(f"{t.line}: {calls[-1]} joins with {t.text}")
        elif text is not None and keyish(text) and tokens[i - 1].text == "(" and calls \
                and calls[-1] not in ("redis.call", "redis.pcall"):
            found.append(f"{t.line}: {calls[-1]}({t.text}, ...) names a key")
        if t.text != "..":
            continue
        sides = [left_operand(tokens, i), right_operand(tokens, i)]
        spelled = [s[0].text for s in sides if len(s) == 1 and keyish(literal(s[0]) or "")]
        held = [".".join(t.text for t in s) for s in sides if holds_a_key(s, aliases)]
        comment = comments.get(t.line, "")
        why = comment[len(MARK):].strip() if comment.startswith(MARK) else ""
        if spelled:
            found.append(f"{t.line}: .. with {', '.join(spelled)}")
        elif held and len(why.split()) < 2:
            found.append(f"{t.line}: .. on {', '.join(held)} without `{MARK} <why>`")
        elif held:
            marked.append(t.line)
    for line, comment in comments.items():
        if comment.startswith(MARK) and line not in marked:
            found.append(f"{line}: `{MARK}` on a line that names no key from data")
    return found, marked


def test_no_script_builds_a_key_name_outside_the_marked_exceptions() -> None:
    scripts = sorted(SCRIPTS.glob("*.lua"))
    assert len(scripts) > 20
    found, exceptions = {}, {}
    for path in scripts:
        building, marked = key_building(path.read_text(encoding="utf-8"))
        if building:
            found[path.name] = building
        if marked:
            exceptions[path.name] = len(marked)
    assert found == {}
    assert exceptions == EXCEPTIONS


@pytest.mark.parametrize("snippet", [
    "local function k(...)\n  return CTX.prefix .. table.concat({...}, ':')\nend",
    "emit(k('events'), 'ticket.issued', now, data)",
    "local key = CTX.prefix .. 'ticket:' .. CTX.date .. ':' .. number",
    "local q = table.concat({p, 'queue', d}, ':')",
    "redis.call('GET', 'qs:token:' .. h)",
    "redis.call('DEL', 'qs:{wan-chai}:events')",
    "local key = ARGV[7] .. b.date",
    "local key = KEYS[1] .. suffix",
    "local stream = K.events .. x",
    "local prefix = ARGV[1]\nlocal key = prefix .. n",
    "local key = string.format('%s:queue:%s', p, s)",
    "local key = ARGV[7] .. b.date  -- key from data:",
    "local b = hgetall(KEYS[1])  -- key from data: a mark where nothing is built",
    "local calls = x .. ':calls'",
])
def test_the_scan_finds_a_key_built_in_lua(snippet: str) -> None:
    assert key_building(snippet)[0] != []


@pytest.mark.parametrize("snippet", [
    "local id = t.number .. '-' .. seq",
    "parts[#parts + 1] = pair[1] .. '=' .. #value .. ':' .. value",
    "redis.call('XADD', KEYS[3], '*', 'type', 'personal_data.' .. why)",
    "clips[#clips + 1] = voice.prefix .. table.concat(ids, '.') .. voice.suffix",
    "redis.call('HSET', K.counter[tostring(n)], 'counter', n, 'ticket', number)",
    "emit(K.events, 'counter.opened', CTX.now_iso, data)",
    "local key = ARGV[7] .. b.date  -- key from data: the stored record's date",
])
def test_the_scan_lets_ordinary_strings_and_marked_keys_be(snippet: str) -> None:
    assert key_building(snippet)[0] == []


# --- every key a script touches is declared, or under a prefix it was given -----------------------

STOP = b"queueserver-test-keys-watch-stop"
MONITOR_LINE = re.compile(rb"^[\d.]+ \[\d+ ([^\]]*)\] (.*)$", re.S)
MONITOR_ARG = re.compile(rb'"((?:\\.|[^"\\])*)"')
ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"a": b"\a", b"b": b"\b"}


def unquote(raw: bytes) -> bytes:
    """One argument as MONITOR quotes it (sdscatrepr), back to its bytes."""
    def one(m: re.Match[bytes]) -> bytes:
        e = m[1]
        return bytes([int(e[1:], 16)]) if e[:1] == b"x" else ESCAPES.get(e, e)
    return re.sub(rb"\\(x[0-9a-fA-F]{2}|.)", one, raw, flags=re.S)


class Watch:
    """Every command Redis runs while it watches, as MONITOR shows them: (who, args), where
    who is `lua` for a command a script ran."""

    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(url)
        self._monitor = self._client.monitor()
        self._monitor.__enter__()  # MONITOR is on when this returns
        self.raw: list[bytes] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self.raw or STOP not in self.raw[-1]:
            self.raw.append(self._monitor.connection.read_response())

    def stop(self) -> list[tuple[str, list[bytes]]]:
        self._client.echo(STOP)
        self._thread.join(30)
        assert not self._thread.is_alive(), "MONITOR did not show the stop mark"
        self._monitor.__exit__()
        self._client.close()
        out = []
        for line in self.raw:
            m = MONITOR_LINE.match(line)
            assert m, line[:200]
            out.append((m[1].decode(), [unquote(a) for a in MONITOR_ARG.findall(m[2])]))
        return out


# A script call: the script, its KEYS, its ARGV, the commands it ran.
ScriptCall = tuple[str, list[bytes], list[bytes], list[list[bytes]]]


def script_calls(seen: list[tuple[str, list[bytes]]]) -> list[ScriptCall]:
    """(script, KEYS, ARGV, the commands it ran) for each script call watched. MONITOR shows a
    call before the commands it runs, and nothing in between: a script runs alone."""
    shas = {hashlib.sha1(lua.source(p.stem).encode()).hexdigest().encode(): p.stem
            for p in SCRIPTS.glob("*.lua") if not p.stem.startswith("_")}
    calls: list[ScriptCall] = []
    current = None
    for who, args in seen:
        if who == "lua":
            assert current is not None, f"a script's command with no script call before it: {args}"
            current[3].append(args)
        elif args[0].upper() in (b"EVALSHA", b"EVAL"):
            assert args[0].upper() == b"EVALSHA", "scripts are called by their digest"
            count = int(args[2])
            current = (shas[args[1]], args[3:3 + count], args[3 + count:], [])
            calls.append(current)
        else:
            current = None
    return calls


def given_prefixes(script: str, declared: list[bytes], argv: list[bytes]) -> list[bytes]:
    """The prefixes a script was given for the keys it finds while it runs (see keys.py)."""
    if script == "booking_upsert":
        return declared         # the centre's bookings', histories', day lists', indexes'
    if script == "personal_erase":
        return argv[:1] + argv[5:6]  # the identity indexes' and the day's phone numbers'
    if script in ("centre_backup", "centre_restore"):
        return argv[:1]         # the centre's, for what SCAN finds
    if script in ("rate_limit", "booking_feed_lock", "verifier_shorten", "notify_claim",
                  "notify_settle", "application_gate"):
        return []
    context = json.loads(argv[0])
    found = [context[p].encode() for p in ("ticket_prefix", "booking_prefix") if p in context]
    # The appointment scripts' (store/scripts/_appointments.lua): days, offers, bookings.
    return found + [p.encode() for p in context.get("prefixes", {}).values()]


def follow_day(client: TestClient, tokens: dict[str, str], seed: Callable[..., Any],
               r: redis.Redis, redis_url: str) -> None:
    """The follow page's scripts (CONTRACT §9): its state, a phone's socket, feedback, and a
    text message made and settled."""
    import msgspec

    from queueserver.follow import notify

    served = client.get(f"{C}/tickets/A001", headers=bearer(tokens["desk"])).json()["ticket"]
    token = served["follow_url"].rsplit("/", 1)[1]
    assert client.get(f"/api/v1/follow/{token}").status_code == 200
    with client.websocket_connect(f"/ws/follow/{token}") as ws:
        assert ws.receive_json()["type"] == "follow"
    rated = client.post(f"/api/v1/follow/{token}/feedback", json={"rating": 5})
    assert rated.status_code == 201, rated.text
    seed("MEP0077", id_number=HKIDS[3])
    client.post(f"{C}/photo-receipts", json={"barcode": "PH77"},
                headers=bearer(tokens["photo"]))
    texted = client.post(f"{C}/tickets", headers=bearer(tokens["desk"]), json={
        "booking_ref": "MEP0077", "id_number": HKIDS[3], "photo_barcode": "PH77",
        "phone": "+85291234567"}).json()["ticket"]
    cfg = config.load(SAMPLE_CONFIG)
    with_notify = msgspec.structs.replace(cfg, notify=config.Notify(
        webhook_url="http://127.0.0.1:9/never", secret_env="UNSET_IN_TESTS"))
    rq = redis.Redis.from_url(redis_url)
    try:
        made = notify.Dispatch(with_notify, r, rq).claim(
            "wan-chai", DAY.isoformat(), texted["number"], notify.CALLED, counter=1)
    finally:
        rq.close()
    assert made == 1
    # Text messages turned off since: the message is settled as dropped, unsent.
    assert notify.Delivery(cfg, r, b"secret").send(
        "wan-chai", DAY.isoformat(), texted["number"], notify.CALLED) == "dropped"


def drive_every_script(client: TestClient, tokens: dict[str, str], seed: Callable[..., Any],
                       r: redis.Redis, redis_url: str, clock: Clock) -> None:
    """A day in which every script runs: the counters' steps, collection, an erasure, a booking
    moving centre, a verifier cut short, the day close, a backup and its restore, a feed's
    lock."""
    path = ServicePath(client, tokens, seed)
    sup = tokens["supervisor"]
    receipt_no = path.served("renewal")["receipt_no"]
    second = path.check_in(id_number=HKIDS[1])
    assert path.call(2) == second
    for step in ("recall", "no-show"):
        assert path.post(f"counters/2/{step}", token=sup).status_code == 200
    assert path.post(f"tickets/{second}/requeue", token=tokens["desk"]).status_code == 200
    assert path.call(2) == second
    assert path.post("counters/2/transfer", {"service": "P"}, token=sup).status_code == 200
    assert path.call(2) == second
    declined = path.post(f"tickets/{second}/decline", {"reason": "photo_rejected"}, token=sup)
    assert declined.status_code == 200, declined.text
    kept = path.post("photo-receipts", {"barcode": "PH-KEPT"}, tokens["photo"], key="photo-1")
    assert kept.status_code == 201, kept.text
    third = path.check_in(id_number=HKIDS[2])
    assert path.post("counters/3/call", {"ticket": third}, token=sup).status_code == 200
    assert path.accept(third, token=sup).status_code == 200
    assert path.pay(third, token=sup).status_code == 200
    voided = path.post(f"tickets/{third}/payment/void", {"reason": "wrong method"}, token=sup)
    assert voided.status_code == 200, voided.text
    assert client.get(f"{C}/tickets/{third}", headers=bearer(sup)).status_code == 200
    assert client.get(f"{C}/board", headers=bearer(sup)).status_code == 200
    for step in ("pause", "resume", "close", "open"):
        assert path.post(f"counters/1/{step}", token=sup).status_code == 200, step
    follow_day(client, tokens, seed, r, redis_url)
    # Notices and closures (CONTRACT §10), their expiry and announcement, a printer's failure.
    until = (clock.now() + dt.timedelta(minutes=5)).isoformat()
    notice = path.post(f"{C}/notices", {"text_en": "Slow", "text_zh": "緩慢", "until": until},
                       sup).json()["notice"]
    other = path.post(f"{C}/notices", {"text_en": "Lunch", "text_zh": "午膳"}, sup).json()
    assert client.get(f"{C}/notices", headers=bearer(sup)).status_code == 200
    for body in ({"open": False, "text_en": "Closed", "text_zh": "停止派籌"}, {"open": True}):
        assert path.post(f"{C}/issuing", body, sup).status_code == 200
    assert client.delete(f"{C}/notices/{other['notice']['id']}",
                         headers=bearer(sup)).status_code == 204
    cfg_now = config.load(SAMPLE_CONFIG)
    clock.set(clock.now() + dt.timedelta(minutes=6))
    expiry.sweep(cfg_now, r, clock)
    names, ctx = expiry.context("wan-chai", clock)
    lua.Scripts(r)("notice_announced", names, [{**ctx, "id": notice["id"],
                                               "announcement": {"text": {}, "clips": []}}])
    names, ctx = expiry.context("wan-chai", clock,
                                printer_failed=keys.printer_failed("wan-chai", "job-1"))
    lua.Scripts(r)("printer_failed", names, [{**ctx, "printer": "front-desk", "ticket": third,
                                             "slip": "ticket"}])

    clock.set(dt.datetime(2026, 12, 11, 10, 0, tzinfo=MORNING.tzinfo))  # its collection day
    collected = path.post(f"/api/v1/collection/{receipt_no}/collect",
                          {"id_number": HKIDS[0], "old_permit_surrendered": True},
                          tokens["kiosk"], key="kiosk-1")
    assert collected.status_code == 200, collected.text
    erased = path.post(f"{C}/personal-data/erase", {"booking_ref": "MEP0001"}, sup)
    assert erased.json() == {"erased": 1}
    seed("MEP0009", id_number=HKIDS[3])
    store(r, [make_booking("MEP0009", id_number=HKIDS[3], centre="kowloon-bay")])
    cfg = config.load(SAMPLE_CONFIG)
    r.hset(keys.booking("wan-chai", "MEP0002"), "id_verifier", "0f" * 32)  # stored in full
    assert privacy.shorten_verifiers(cfg, r) == 1
    centre = cfg.centre("wan-chai")
    assert centre is not None
    assert dayclose.close_day(r, centre, DAY, clock.now())["closed"]
    raw = redis.Redis.from_url(redis_url)
    saved = io.StringIO()
    backup.backup(raw, "wan-chai", saved)
    backup.restore(raw, "wan-chai", io.StringIO(saved.getvalue()), replace=True)
    raw.close()
    with FeedLock(r, "http://127.0.0.1:1/feed.json", MORNING.isoformat()):
        pass
    drive_appointments(client, r, cfg, clock, tokens)


def drive_appointments(client: TestClient, r: redis.Redis, cfg: config.Config, clock: Clock,
                       tokens: dict[str, str]) -> None:
    """The booking platform's scripts: a booking, a move, a full day's waiting list and its
    offer, a cancellation, the supervisor's day and block, lapsed offers, a withdrawal."""
    from queueserver.appointments import applications, maintenance
    from queueserver.appointments.applications import Application, ApplicationStore

    store_ = ApplicationStore(r, SECRET_, cfg, "test", clock)
    people = [Application(ref=f"APPK{i}", application_type="first", surname="CHAN",
                          given_names="TAI MAN", id_kind="hkid", id_number=HKIDS[i],
                          passport_no="K7654321", nationality="GBR", email=f"k{i}@example.test",
                          status="approved") for i in range(2)]
    store_.apply(people)
    token = {}
    for p in people:
        digest = r.hget(keys.application_refs(), p.ref)
        token[p.ref] = applications.token_for(SECRET_, str(r.hget(keys.application(str(digest)),
                                                                 "salt")))
    book = "/api/v1/book/{}"
    monday, tuesday = "2026-12-14", "2026-12-15"   # after the collection day the clock is on
    assert client.get(book.format(token["APPK0"])).status_code == 200
    assert client.get(book.format(token["APPK0"]) + "/slots",
                      params={"centre": "wan-chai"}).status_code == 200
    for start in ("09:00", "09:30"):
        answer = client.post(book.format(token["APPK0"]) + "/appointment",
                             json={"centre": "wan-chai", "date": monday, "start": start})
        assert answer.status_code == 201, answer.text
    starts = [s for s in ("09:00", "09:30", "10:00", "10:30", "11:00", "11:30", "12:00",
                          "14:00", "14:30", "15:00", "15:30", "16:00")]
    r.hset(keys.slot_places("wan-chai", tuesday), mapping=dict.fromkeys(starts, 6))
    joined = client.post(book.format(token["APPK1"]) + "/waitlist",
                         json={"centre": "wan-chai", "date": tuesday})
    assert joined.status_code == 201, joined.text
    r.hset(keys.booking("wan-chai", "APPK0"), mapping={"date": tuesday})  # so its place offers
    assert client.delete(book.format(token["APPK0"]) + "/appointment").status_code == 204
    assert r.exists(keys.offer("wan-chai", "APPK1"))
    sup = bearer(tokens["supervisor"])
    assert client.get(f"{C}/appointments", params={"date": monday},
                      headers=sup).status_code == 200
    blocked = client.post(f"{C}/appointments/blocks", headers=sup, json={
        "date": tuesday, "start": "09:00", "end": "10:00", "reason_en": "Typhoon",
        "reason_zh": "颱風", "cancel": True})
    assert blocked.status_code == 201, blocked.text
    assert maintenance.lapse_offers(cfg, r, clock.now() + dt.timedelta(hours=3)) >= 0
    store_.apply([replaced(people[1], status="withdrawn")])


SECRET_ = b"test-secret"


def replaced(person: Any, **changes: Any) -> Any:
    import dataclasses

    return dataclasses.replace(person, **changes)


def test_every_key_a_script_touches_is_declared_or_under_a_prefix_it_was_given(
        client: TestClient, tokens: dict[str, str], seed: Callable[..., Any], r: redis.Redis,
        redis_url: str, clock: Clock) -> None:
    """Redis Cluster checks only that a script stays in one slot; this checks, on the commands
    each script ran, that it touched no key it was not given."""
    watch = Watch(redis_url)
    try:
        drive_every_script(client, tokens, seed, r, redis_url, clock)
    finally:
        seen = watch.stop()
    calls = script_calls(seen)
    assert {script for script, *_ in calls} == {
        p.stem for p in SCRIPTS.glob("*.lua") if not p.stem.startswith("_")}
    stray, derived = [], set()
    for script, declared, argv, commands in calls:
        prefixes = given_prefixes(script, declared, argv)
        for command in commands:
            try:
                touched = r.command_getkeys(*command)
            except redis.ResponseError:  # a command without keys (SCAN, TIME)
                touched = []
            for key in touched:
                if key.encode() in declared:
                    continue
                if any(key.encode().startswith(p) for p in prefixes):
                    derived.add((script, key.rsplit(":", 1)[0]))
                else:
                    stray.append(f"{script}: {command[0].decode()} {key}")
    assert stray == []
    # The prefixes were needed: tickets found by the scripts, the ticket's booking, the record's
    # index entries, what SCAN found.
    assert ("call", keys.ticket("wan-chai", DAY.isoformat(), "")[:-1]) in derived
    assert ("receipt", keys.booking("wan-chai", "")[:-1]) in derived
