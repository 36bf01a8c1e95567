"""Backing up one centre and restoring it, without touching the others.

A centre's keys share one hash slot, so one script dumps them all at one moment
(`centre_backup.lua`) and one script puts them back (`centre_restore.lua`); its entries in the
indexes that belong to no centre (booking reference -> centre, receipt number -> centre) are
read and written from here, around the scripts. Credentials, logins and announcement audio are
city-wide and not part of a centre's backup.

The file is JSON Lines: a header, then one line per key (its DUMP payload in base64, its time to
live), then one per index entry. DUMP payloads restore on the same or a newer Redis.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import secrets
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import redis

from queueserver.platform import connections, runtime
from queueserver.platform.config import Config
from queueserver.store import keys, lua

FORMAT = "queueserver-centre-backup/1"
# The indexes of no centre that name a centre, and which a centre's backup carries its part of.
INDEXES = {"booking": keys.booking_index, "receipt": keys.receipt_index}


class BackupError(Exception):
    """The backup cannot be written or restored; the message says why."""


@dataclass(frozen=True)
class Summary:
    keys: int
    index_entries: int
    deleted: int = 0


def _pattern(centre: str) -> str:
    # Glob characters in a centre id would widen the match: escape them.
    prefix = keys.centre_prefix(centre)
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in prefix) + "*"


def _index_entries(r: redis.Redis, centre: str) -> Iterator[tuple[str, str]]:
    for name, index in INDEXES.items():
        for field, value in r.hscan_iter(index()):
            if value == centre.encode():
                yield name, field.decode()


def backup(r: redis.Redis, centre: str, out: IO[str]) -> Summary:
    """`r` must return bytes (DUMP payloads are binary)."""
    dump = r.register_script(lua.source("centre_backup"))
    flat: list[Any] = dump(keys=[keys.events(centre)],
                           args=[keys.centre_prefix(centre), _pattern(centre)])
    info: Any = r.info("server")
    entries = list(_index_entries(r, centre))
    out.write(json.dumps({
        "format": FORMAT, "centre": centre, "keys": len(flat) // 3,
        "index_entries": len(entries), "redis_version": info.get("redis_version"),
        "taken_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}) + "\n")
    for i in range(0, len(flat), 3):
        out.write(json.dumps({"key": flat[i].decode(), "pttl": int(flat[i + 1]),
                              "dump": base64.b64encode(flat[i + 2]).decode()}) + "\n")
    for name, field in entries:
        out.write(json.dumps({"index": name, "field": field}) + "\n")
    return Summary(len(flat) // 3, len(entries))


def restore(r: redis.Redis, centre: str, source: IO[str], replace: bool = False) -> Summary:
    """Put the centre back as the backup holds it. Refuses a centre that has data unless
    `replace`: what it holds now is then deleted, in the same step as the restore."""
    header = json.loads(source.readline() or "{}")
    if header.get("format") != FORMAT:
        raise BackupError("not a queueserver centre backup")
    if header.get("centre") != centre:
        raise BackupError(f"this backup is of centre {header.get('centre')!r}, not {centre!r}")
    # The backup's keys are declared with the script's own; their pttl and payload in ARGV.
    names = [keys.events(centre), keys.restore_check(centre)]
    args: list[Any] = [keys.centre_prefix(centre), _pattern(centre)]
    entries: dict[str, list[str]] = {name: [] for name in INDEXES}
    for line in source:
        item = json.loads(line)
        if "key" in item:
            names.append(item["key"])
            args += [item["pttl"], base64.b64decode(item["dump"])]
        else:
            entries[item["index"]].append(item["field"])
    if len(names) - 2 != header["keys"]:
        raise BackupError("the backup is truncated: fewer keys than its header says")
    if not replace and any(True for _ in r.scan_iter(_pattern(centre), count=1000)):
        raise BackupError(f"centre {centre!r} has data: restore with --replace to put the "
                          "backup in its place")
    had_generation = bool(r.exists(keys.credential_generation(centre)))
    put_back = r.register_script(lua.source("centre_restore"))
    try:
        done = lua.decode(put_back(keys=names, args=args))
    except Exception as e:  # an ApiError from the script's refusal, or Redis's own
        raise BackupError(f"nothing was restored: {e}") from e
    # The backup's credential generation may be one a web process kept a since-revoked
    # credential under: a new one makes every process read its credentials again. (None
    # before and after: no credential was ever revoked since the processes kept theirs.)
    generation = keys.credential_generation(centre)
    if had_generation or r.exists(generation):
        r.set(generation, secrets.token_hex(8))
    # The indexes follow the keys: entries the backup lacks would name bookings now gone.
    for name, index in INDEXES.items():
        kept = set(entries[name])
        stale = [f for n, f in _index_entries(r, centre) if n == name and f not in kept]
        if stale:
            r.hdel(index(), *stale)
        if kept:
            r.hset(index(), mapping=dict.fromkeys(kept, centre))
    return Summary(done["restored"], sum(map(len, entries.values())), done["deleted"])


def _connect(config: Config, centre: str) -> redis.Redis:
    if config.centre(centre) is None:
        raise BackupError(f"unknown centre {centre!r}")
    return connections.connect(runtime.redis_url(config), decode_responses=False)


def run_backup(config: Config, centre: str, path: str) -> int:
    """`queueserver backup CENTRE FILE` (`-` for standard output)."""
    try:
        r = _connect(config, centre)
        with contextlib.ExitStack() as stack:
            out = sys.stdout if path == "-" else stack.enter_context(open(path, "x"))
            done = backup(r, centre, out)
    except (BackupError, FileExistsError) as e:
        print(f"queueserver backup: {e}", file=sys.stderr)
        return 2
    print(f"backed up {centre}: keys={done.keys} index_entries={done.index_entries}",
          file=sys.stderr)
    return 0


def run_restore(config: Config, centre: str, path: str, replace: bool) -> int:
    """`queueserver restore CENTRE FILE [--replace]`."""
    try:
        r = _connect(config, centre)
        with open(path) as source:
            done = restore(r, centre, source, replace)
    except (BackupError, OSError, ValueError) as e:
        print(f"queueserver restore: {e}", file=sys.stderr)
        return 2
    print(f"restored {centre}: keys={done.keys} index_entries={done.index_entries} "
          f"deleted={done.deleted}; restart the serve processes so screens reload the board")
    return 0
