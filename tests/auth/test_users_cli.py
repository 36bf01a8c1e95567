"""`queueserver users create` and `users revoke` as an operator runs them."""

from __future__ import annotations

import asyncio
import subprocess

import redis
import redis.asyncio
from conftest import server_env

from queueserver.auth import users
from queueserver.auth.credentials import Role
from queueserver.store import keys


def run(redis_url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(["queueserver", "users", *args], input=stdin, text=True,
                          capture_output=True, env=server_env(redis_url), timeout=60)


def authenticate(redis_url: str, name: str, password: str) -> users.Credential | None:
    async def go() -> users.Credential | None:
        r = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
        try:
            return await users.authenticate(r, name, password)
        finally:
            await r.aclose()
    return asyncio.run(go())


def test_create_reads_the_password_from_stdin_and_revoke_removes_it(
        r: redis.Redis, redis_url: str) -> None:
    done = run(redis_url, "create", "amy", "--role", "clerk", "--centre", "wan-chai",
               "--counter", "2", stdin="a long enough secret\n")
    assert done.returncode == 0, done.stderr
    assert "created clerk login 'amy'" in done.stdout
    cred = authenticate(redis_url, "amy", "a long enough secret")
    assert cred is not None
    assert (cred.role, cred.centre, cred.counter) == (Role.CLERK, "wan-chai", 2)
    assert authenticate(redis_url, "amy", "a long enough secret!") is None
    assert "a long enough secret" not in str(r.hgetall(keys.user("amy")))
    again = run(redis_url, "create", "amy", "--role", "desk", "--centre", "wan-chai",
                stdin="another long secret\n")
    assert again.returncode != 0 and "already exists" in again.stderr
    gone = run(redis_url, "revoke", "amy")
    assert gone.returncode == 0 and not r.exists(keys.user("amy"))
    assert run(redis_url, "revoke", "amy").returncode == 1


def test_bad_logins_are_refused_and_change_nothing(r: redis.Redis, redis_url: str) -> None:
    cases = [
        (["create", "bo", "--role", "clerk", "--centre", "wan-chai"], "short\n", "password"),
        (["create", "bo", "--role", "desk"], "a long enough secret\n", "needs a centre"),
        (["create", "bo", "--role", "desk", "--centre", "nowhere"], "a long enough secret\n",
         "unknown centre"),
        (["create", "bo", "--role", "desk", "--centre", "wan-chai", "--counter", "1"],
         "a long enough secret\n", "clerk role only"),
        (["create", "Bo Peep", "--role", "admin"], "a long enough secret\n", "login name"),
    ]
    for args, stdin, says in cases:
        done = run(redis_url, *args, stdin=stdin)
        assert done.returncode != 0, args
        assert says in done.stderr, (args, done.stderr)
    assert list(r.scan_iter("qs:user*")) == []
