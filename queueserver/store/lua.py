"""Lua scripts: one file per state change in `scripts/`, registered once per connection and
called through one typed wrapper that turns a script's refusal into an `ApiError`.

Every script runs inside `_collector.lua`, which sets the size of the Lua collector's steps
before it and after it; before the script's own text come, unless it is standalone, the shared
helpers it uses (`_lib.lua`, the estimate's `_estimate.lua`, the rate limit's `_bucket.lua`:
only the statements of them that it needs, `used`); each returns one JSON document: either
`{"ok": ...}` or `{"error": CODE, ...extra}` (`status` and `because`, which words the code for
one case, are not passed on).
Scripts are never built in Python strings.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

import msgspec
import redis
import redis.asyncio

from queueserver.platform.errors import MESSAGES, ApiError, RateLimited
from queueserver.store import generation, scripts
from queueserver.store.multiplexed import Multiplexed

# A script whose first line starts so uses none of the shared helpers and runs without them:
# the prelude is defined anew on every call, which a per-request script should not pay for.
STANDALONE = "-- standalone"


# A script's leading `-- with: NAME` lines name helper files (`NAME.lua`) put before it, after
# the shared prelude: helpers that a few scripts share and the others need not carry.
WITH = re.compile(r"^-- with: (_[a-z_]+)$", re.MULTILINE)


@cache
def source(name: str) -> str:
    # The package itself, imported with this module, not its name: `files("...")` would import
    # it on first use, and a worker's thread first using it while RQ forks a job's process left
    # the child waiting for that import's lock forever (a print job timed out in CI).
    folder = resources.files(scripts)
    own = (folder / f"{name}.lua").read_text(encoding="utf-8")
    helpers = [(folder / f"{helper}.lua").read_text(encoding="utf-8")
               for helper in WITH.findall(own.split("\n\n", 1)[0])]
    before, after = collector()
    if own.startswith(STANDALONE):
        return before + used("\n".join(helpers), own) + own + after
    lib = (folder / "_lib.lua").read_text(encoding="utf-8")
    # The prelude's `context` takes from the acting credential's rate-limit bucket.
    bucket = (folder / "_bucket.lua").read_text(encoding="utf-8")
    # The wait-estimate model: after the prelude (it uses its helpers), before the script.
    model = (folder / "_estimate.lua").read_text(encoding="utf-8")
    return before + used("\n".join([bucket, lib, model, *helpers]), own) + own + after


# The line of `_collector.lua` where the script goes.
SCRIPT_GOES_HERE = "-- the script --\n"


@cache
def collector() -> tuple[str, str]:
    """What goes before and after every script (`_collector.lua`): the collector's settings."""
    text = (resources.files(scripts) / "_collector.lua").read_text(encoding="utf-8")
    before, after = text.split(SCRIPT_GOES_HERE)
    return before, "\n" + after


# A top-level statement of a shared file: each starts a line with `local` (a function, a
# constant, a forward declaration) or with `NAME = function` (a forward-declared function's
# body), and runs to the next one; nothing else stands at a line's start but `end`, comments and
# blank lines (tests/store/test_lua_source.py holds every shared file to that).
STATEMENT = re.compile(r"^(?=local |[A-Za-z_]\w* = function)", re.MULTILINE)
_DEFINES = re.compile(r"\Alocal function (\w+)|\Alocal ([\w, ]+?)\s*(?:=|$)|\A(\w+) = function",
                      re.MULTILINE)
_NAME = re.compile(r"[A-Za-z_]\w*")
_COMMENT_LINE = re.compile(r"^\s*--.*$", re.MULTILINE)


def used(shared: str, own: str) -> str:
    """The statements of `shared` that `own` needs, in their order: those defining a name that
    `own` or another needed statement mentions (any mention outside a comment line counts, so
    nothing used is ever left out). Redis keeps every loaded script's compiled code, and its Lua
    garbage collector walks all of it: the whole prelude in each of forty scripts made each of
    its steps, taken inside every fiftieth script call, cost a few hundred microseconds."""
    statements = STATEMENT.split(shared)[1:]  # [0]: the files' opening comments
    defines = []
    for statement in statements:
        found = _DEFINES.match(statement)
        names = next((g for g in found.groups() if g), "") if found else ""
        defines.append({n.strip() for n in names.split(",")} - {""})
    mentions = [set(_NAME.findall(_COMMENT_LINE.sub("", s))) for s in statements]
    wanted = set(_NAME.findall(_COMMENT_LINE.sub("", own)))
    keep = [False] * len(statements)
    # Each pass keeps at least one more statement, or ends: at most one pass a statement.
    for _ in range(len(statements) + 1):
        more = [i for i, k in enumerate(keep) if not k and defines[i] & wanted]
        if not more:
            break
        for i in more:
            keep[i] = True
            wanted |= mentions[i]
    return "".join(s for s, k in zip(statements, keep, strict=True) if k)


@cache
def k_names(name: str) -> frozenset[str]:
    """The names of `K` (the context's keys, _lib.lua) that a script's text mentions: all it
    can touch, since scripts name them only so (`K.queue`, never `K[...]`)."""
    return frozenset(re.findall(r"\bK\.(\w+)", _COMMENT_LINE.sub("", source(name))))


def decode(raw: str | bytes) -> Any:
    """A script's answer: its `ok` value (Any: each script's own; the caller reads it into its
    model), or its refusal raised as an `ApiError`."""
    result = msgspec.json.decode(raw)
    if isinstance(result, dict) and "error" in result:
        extra = {k: v for k, v in result.items()
                 if k not in ("error", "status", "because", "message_en", "message_zh")}
        # `because` words a general code for one case: `forbidden` because `served_elsewhere`;
        # a script may give the words itself (a closure answers with the supervisor's texts).
        wording = MESSAGES.get(result.get("because") or "")
        raise ApiError(result["error"], status=result.get("status"), extra=extra,
                       message_en=result.get("message_en") or (wording[1] if wording else None),
                       message_zh=result.get("message_zh") or (wording[2] if wording else None))
    return result["ok"] if isinstance(result, dict) and "ok" in result else result


# A script's keys by name: a key, or a group of keys by part (a counter's number, a service's code).
Named = Mapping[str, str | Mapping[str, str]]


# A script's KEYS, and where each name lies in them.
Declared = tuple[list[str], dict[str, int | dict[str, int]]]


def declare(named: Named, after: Declared | None = None) -> Declared:
    """A script's `KEYS` and where each name lies in them: the context's `keys`, from which
    `_lib.lua` makes `K` (`K.events`, `K.queue[code]`), so a script reads its keys and builds
    none, and every key it touches is declared (Redis Cluster routes and checks by them).
    `after`: keys declared already (a centre's day, kept between calls), which it extends."""
    names = list(after[0]) if after else []
    at = dict(after[1]) if after else {}
    for name, value in named.items():
        if isinstance(value, str):
            names.append(value)
            at[name] = len(names)
        else:
            group: dict[str, int] = {}
            at[name] = group
            for part, key in value.items():
                names.append(key)
                group[part] = len(names)
    return names, at


def _args(args: list[Any]) -> list[Any]:
    # msgspec, not json: a counter action's context is a few KiB, 30 times faster to encode
    # (docs/benchmarks.md); the bytes go to Redis as they are.
    return [msgspec.json.encode(a) if isinstance(a, dict | list) else a for a in args]


class Scripts:
    """The scripts, registered on one (sync) connection."""

    def __init__(self, r: redis.Redis) -> None:
        self._r = r
        self._loaded: dict[str, Any] = {}

    def __call__(self, name: str, keys: list[str], args: list[Any]) -> Any:
        script = self._loaded.get(name)
        if script is None:
            script = self._loaded[name] = self._r.register_script(source(name))
        return decode(script(keys=keys, args=_args(args)))


def names() -> list[str]:
    """Every script's name: the files of `scripts/` but the shared ones (`_NAME.lua`)."""
    return sorted(entry.name.removesuffix(".lua") for entry in resources.files(scripts).iterdir()
                  if entry.name.endswith(".lua") and not entry.name.startswith("_"))


@cache
def sha(name: str) -> str:
    """The script's SHA-1, by which `EVALSHA` names it."""
    return hashlib.sha1(source(name).encode()).hexdigest()


class AsyncScripts:
    """The same scripts on an asyncio connection: redis-py's, or the web process's one shared
    connection (`shared`, store/multiplexed.py), which its lifespan opens and closes."""

    def __init__(self, r: redis.asyncio.Redis, shared: Multiplexed | None = None) -> None:
        self._r = r
        self._loaded: dict[str, Any] = {}
        self.shared = shared

    async def _shared_call(self, shared: Multiplexed, name: str, keys: list[str],
                           args: list[Any]) -> Any:
        try:
            return await shared.execute("EVALSHA", sha(name), len(keys), *keys, *args)
        except redis.ResponseError as e:
            if not str(e).startswith("NOSCRIPT"):
                raise
        # Not run: Redis does not know it yet, or lost its scripts (a restart). Loaded, it runs.
        await shared.execute("SCRIPT", "LOAD", source(name))
        return await shared.execute("EVALSHA", sha(name), len(keys), *keys, *args)

    async def execute(self, *args: Any) -> Any:
        """A plain command on the same connection: one a request makes beside its script."""
        if self.shared is not None:
            return await self.shared.execute(*args)
        client: Any = self._r  # execute_command is untyped in redis-py
        return await client.execute_command(*args)

    async def __call__(self, name: str, keys: list[str], args: list[Any]) -> Any:
        try:
            if self.shared is not None:
                answer = await self._shared_call(self.shared, name, keys, _args(args))
            else:
                script = self._loaded.get(name)
                if script is None:
                    script = self._loaded[name] = self._r.register_script(source(name))
                answer = await script(keys=keys, args=_args(args))
        except redis.ResponseError as e:
            acting = generation.ACTING.get()
            if acting is not None and str(e).startswith(generation.STALE_ERROR):
                raise generation.StaleCredential(acting.centre) from None
            if acting is not None and str(e).startswith(generation.LIMITED_ERROR):
                raise RateLimited(int(str(e).split()[1])) from None
            raise
        return decode(answer)
