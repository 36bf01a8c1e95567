"""Lua scripts: one file per state change in `scripts/`, registered once per connection and
called through one typed wrapper that turns a script's refusal into an `ApiError`.

Every script but a standalone one starts with `_lib.lua` (shared helpers); each returns one
JSON document: either `{"ok": ...}` or `{"error": CODE, ...extra}` (`status` and `because`,
which words the code for one case, are not passed on). Scripts are never built in Python strings.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

import redis
import redis.asyncio

from queueserver.platform.errors import MESSAGES, ApiError

# A script whose first line starts so uses none of the shared helpers and runs without them:
# the prelude is defined anew on every call, which a per-request script should not pay for.
STANDALONE = "-- standalone"


# A script's leading `-- with: NAME` lines name helper files (`NAME.lua`) put before it, after
# the shared prelude: helpers that a few scripts share and the others need not carry.
WITH = re.compile(r"^-- with: (_[a-z_]+)$", re.MULTILINE)


@cache
def source(name: str) -> str:
    folder = resources.files("queueserver.store.scripts")
    own = (folder / f"{name}.lua").read_text(encoding="utf-8")
    helpers = [(folder / f"{helper}.lua").read_text(encoding="utf-8")
               for helper in WITH.findall(own.split("\n\n", 1)[0])]
    if own.startswith(STANDALONE):
        return "\n".join([*helpers, own])
    lib = (folder / "_lib.lua").read_text(encoding="utf-8")
    # The wait-estimate model: after the prelude (it uses its helpers), before the script.
    model = (folder / "_estimate.lua").read_text(encoding="utf-8")
    return "\n".join([lib, model, *helpers, own])


def decode(raw: Any) -> Any:
    result = json.loads(raw)
    if isinstance(result, dict) and "error" in result:
        extra = {k: v for k, v in result.items() if k not in ("error", "status", "because")}
        # `because` words a general code for one case: `forbidden` because `served_elsewhere`.
        wording = MESSAGES.get(result.get("because") or "")
        raise ApiError(result["error"], status=result.get("status"), extra=extra,
                       message_en=wording[1] if wording else None,
                       message_zh=wording[2] if wording else None)
    return result["ok"] if isinstance(result, dict) and "ok" in result else result


def _args(args: list[Any]) -> list[Any]:
    return [json.dumps(a, ensure_ascii=False) if isinstance(a, dict | list) else a for a in args]


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


class AsyncScripts:
    """The same scripts on an asyncio connection (the web server's)."""

    def __init__(self, r: redis.asyncio.Redis) -> None:
        self._r = r
        self._loaded: dict[str, Any] = {}

    async def __call__(self, name: str, keys: list[str], args: list[Any]) -> Any:
        script = self._loaded.get(name)
        if script is None:
            script = self._loaded[name] = self._r.register_script(source(name))
        return decode(await script(keys=keys, args=_args(args)))
