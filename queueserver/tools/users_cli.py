"""`queueserver users create NAME --role ROLE [--centre ID] [--counter N]` (the password read from
standard input) and `queueserver users revoke NAME`."""

from __future__ import annotations

import asyncio
import getpass
import sys
from typing import TextIO

import redis.asyncio

from queueserver.auth import users
from queueserver.auth.credentials import Role
from queueserver.platform.config import Config


def read_password(stdin: TextIO) -> str:
    """One line from standard input (a pipe or a file), or asked for twice on a terminal."""
    if stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            sys.exit("queueserver: the two passwords differ; nothing was created")
        return first
    return stdin.readline().rstrip("\r\n")


def create(config: Config, url: str, name: str, role: str, centre: str | None,
           counter: int | None, stdin: TextIO = sys.stdin) -> int:
    if centre:
        found = config.centre(centre)
        if found is None:
            sys.exit(f"queueserver: unknown centre {centre!r}")
        if counter is not None and found.counter(counter) is None:
            sys.exit(f"queueserver: centre {centre!r} has no counter {counter}")
    password = read_password(stdin)

    async def go() -> None:
        r = redis.asyncio.Redis.from_url(url, decode_responses=True)
        try:
            await users.create_user(r, name, password, Role(role), centre, counter)
        finally:
            await r.aclose()

    try:
        asyncio.run(go())
    except users.UserError as e:
        sys.exit(f"queueserver: {e}")
    where = f" at {centre}" if centre else ""
    print(f"created {role} login {name!r}{where}" + (f", counter {counter}" if counter else ""))
    return 0


def revoke(url: str, name: str) -> int:
    async def go() -> bool:
        r = redis.asyncio.Redis.from_url(url, decode_responses=True)
        try:
            return await users.revoke_user(r, name)
        finally:
            await r.aclose()

    if not asyncio.run(go()):
        print(f"queueserver: no login named {name!r}", file=sys.stderr)
        return 1
    print(f"revoked {name!r}; its sessions are ended")
    return 0
