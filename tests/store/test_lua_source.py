"""What a script sends to Redis (store/lua.py, `source`): its own text after only the shared
statements it uses, directly or through one another, in their order. Redis keeps every loaded
script's compiled code and its Lua garbage collector walks it all, so the shared prelude is not
repeated whole in every script; nothing a script uses may be left out of it."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from importlib import resources

import pytest
import redis

from queueserver.notices import expiry
from queueserver.platform.clock import Clock
from queueserver.store import lua, scripts

FOLDER = resources.files(scripts)
# The shared helpers' files (`_collector.lua` is not one: every script runs inside it whole).
SHARED = sorted(e.name for e in FOLDER.iterdir() if e.name.startswith("_")
                and e.name.endswith(".lua") and e.name != "_collector.lua")
SCRIPTS = sorted(e.name.removesuffix(".lua") for e in FOLDER.iterdir()
                 if e.name.endswith(".lua") and not e.name.startswith("_"))
# How a shared file names what it defines, at a line's start.
DEFINITION = re.compile(r"^local function (\w+)|^local ([\w, ]+?)\s*(?:=|$)|^(\w+) = function",
                        re.MULTILINE)


def defined(text: str) -> set[str]:
    names: set[str] = set()
    for found in DEFINITION.finditer(text):
        names |= {n.strip() for n in (found[1] or found[2] or found[3]).split(",")}
    return names - {""}


def words(text: str) -> set[str]:
    """The names a Lua text mentions outside its comment lines."""
    return set(re.findall(r"[A-Za-z_]\w*", re.sub(r"(?m)^\s*--.*$", "", text)))


def test_a_shared_file_holds_only_statements_at_a_line_start() -> None:
    # What `source` splits on: anything else there would be cut from the statement before it.
    for name in SHARED:
        for number, line in enumerate((FOLDER / name).read_text().splitlines(), 1):
            if line[:1] in ("", " ", "-") or line.startswith("end"):
                continue
            assert lua.STATEMENT.match(line), f"{name}:{number}: {line}"


def shared_files(name: str) -> list[str]:
    """The shared files a script is built on, as `source` reads them: its `-- with:` helpers,
    after the prelude unless it is standalone."""
    own = (FOLDER / f"{name}.lua").read_text()
    helpers = [f"{h}.lua" for h in lua.WITH.findall(own.split("\n\n", 1)[0])]
    if own.startswith(lua.STANDALONE):
        return helpers
    return ["_bucket.lua", "_lib.lua", "_estimate.lua", *helpers]


@pytest.mark.parametrize("name", SCRIPTS)
def test_a_script_defines_every_shared_name_it_mentions(name: str) -> None:
    shared = set().union(*(defined((FOLDER / f).read_text()) for f in shared_files(name)))
    text = lua.source(name)
    missing = (words(text) & shared) - defined(text)
    assert not missing, f"{name} uses {sorted(missing)} without their definitions"


def test_only_the_statements_used_are_kept_in_their_order() -> None:
    shared = ("-- the file's opening comment, about unused_one\n"
              "local LIMIT = 3\n"
              "local helper\n"
              "local function unused_one()\n  return LIMIT\nend\n\n"
              "-- a comment line naming unused_two does not keep it\n"
              "local function first(x)\n  return helper(x) + 1  -- trailing: a mention\nend\n"
              "local function unused_two()\n  return 2\nend\n"
              "helper = function(x)\n  return x * LIMIT\nend\n")
    kept = lua.used(shared, "-- calls unused_two? no\nreturn first(2)\n")
    assert kept == ("local LIMIT = 3\nlocal helper\n"
                    "local function first(x)\n  return helper(x) + 1  -- trailing: a mention\n"
                    "end\n"
                    "helper = function(x)\n  return x * LIMIT\nend\n")
    assert lua.used(shared, "return 1\n") == ""


def test_scripts_carry_what_they_use_and_not_the_rest() -> None:
    assert "estimate_minutes = function" in lua.source("checkin")
    assert "estimate_minutes" not in lua.source("booking_upsert")
    assert "local function take_token" in lua.source("rate_limit")
    prelude = sum(len((FOLDER / f).read_text()) for f in shared_files("booking_upsert"))
    own = len((FOLDER / "booking_upsert.lua").read_text())
    assert len(lua.source("booking_upsert")) < own + prelude / 4


def test_every_script_loads_into_redis(r: redis.Redis) -> None:
    assert lua.names() == SCRIPTS  # what the benchmark loads and names its slow log's entries by
    for name in SCRIPTS:
        assert r.script_load(lua.source(name)) == lua.sha(name)


def test_a_script_is_given_only_the_day_s_keys_it_names() -> None:
    # Centres._day declares of the centre's day only the keys the script's text names (K.x).
    assert {"events", "day_tickets", "queue", "sequence", "issuing", "counter"} <= lua.k_names(
        "checkin")
    assert not {"payments", "recent_calls", "notices", "notice_order"} & lua.k_names("checkin")
    assert not {"events", "queue", "counter"} & lua.k_names("photo_register")
    assert {"recent_calls", "queue", "counter"} <= lua.k_names("call")


WHEN = dt.datetime(2026, 12, 7, 10, 0, tzinfo=zoneinfo.ZoneInfo("Asia/Hong_Kong"))
STEPMUL = re.compile(r"collectgarbage\('setstepmul', (\d+)\)")


def test_every_script_sets_the_collector_s_step_before_and_after_it() -> None:
    # Redis takes fifty steps of Lua's collector at once after every 50th script call,
    # whichever script it is: every script runs with the step of 100, before anything of its
    # own, and leaves it at 10 for those steps, whichever way it returns.
    before, after = lua.collector()
    assert [int(step) for step in STEPMUL.findall(before + after)] == [100, 10]
    assert STEPMUL.search(before) and STEPMUL.search(after)
    for name in SCRIPTS:
        source = lua.source(name)
        assert source.startswith(before) and source.endswith(after), name
        assert source.count("-- the script --") == 0, name


@pytest.mark.parametrize("script", ["rate_limit", "notice_expire"])
def test_running_a_script_sets_the_step_again_after_a_reset(r: redis.Redis,
                                                            script: str) -> None:
    # A restart or SCRIPT FLUSH gives Redis a new Lua state, with Lua's default of 200; the next
    # script of either kind (standalone, or with the shared prelude) sets it again.
    r.script_flush()
    assert r.eval("return collectgarbage('setstepmul', 200)", 0) == 200  # the state's own
    if script == "rate_limit":
        lua.Scripts(r)(script, ["test:lua-source:bucket"], [10, 20])
    else:
        clock = Clock(zoneinfo.ZoneInfo("Asia/Hong_Kong"), WHEN, rate=0)
        names, ctx = expiry.context("wan-chai", clock)
        assert lua.Scripts(r)(script, names, [ctx]) == 0  # no notice was due
    # setstepmul answers the value it replaces: the one the script left.
    assert r.eval("return collectgarbage('setstepmul', 200)", 0) == 10
