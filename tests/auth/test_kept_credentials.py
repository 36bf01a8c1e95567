"""Each web process keeps the tokens it has read (auth/credentials.py, `CredentialCache`): a
counter's action runs on the kept credential, and its script confirms the credential
generation of the centre and takes the rate limit in the same step. A revocation, from the
command line or the API, must still refuse the credential on its very next request, in every
serve process, and change nothing."""

from __future__ import annotations

import hashlib
import subprocess
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import redis
from conftest import Server, bearer, server_env
from starlette.testclient import TestClient

from queueserver.auth import credentials as auth
from queueserver.auth import ratelimit
from queueserver.store import keys, lua

C = "/api/v1/centres/wan-chai"


def act(server: Server, token: str, path: str, **headers: str) -> httpx.Response:
    return httpx.post(server.url + C + path, headers={**bearer(token), **headers}, timeout=10)


def counter_state(server: Server, token: str, n: int) -> str:
    board = httpx.get(server.url + C + "/board", headers=bearer(token), timeout=10).json()
    return str(next(c["state"] for c in board["counters"] if c["number"] == n))


def kept_in_both(a: Server, b: Server, token: str) -> None:
    """Counter actions through both processes: each keeps the credential (the second request
    of each runs on the kept one)."""
    for server, n in ((a, 1), (b, 2)):
        assert act(server, token, f"/counters/{n}/open").status_code == 200
        assert act(server, token, f"/counters/{n}/pause").status_code == 200
        assert act(server, token, f"/counters/{n}/resume").status_code == 200


@pytest.mark.e2e
def test_revoked_from_the_command_line_it_is_refused_at_once_by_every_process(
        two_servers: tuple[Server, Server], r: redis.Redis, redis_url: str) -> None:
    a, b = two_servers
    clerk, _ = auth.create_token(r, auth.Role.CLERK, "wan-chai", name="kept-clerk")
    supervisor, _ = auth.create_token(r, auth.Role.SUPERVISOR, "wan-chai", name="kept-sup")
    kept_in_both(a, b, clerk)
    kept_in_both(a, b, supervisor)
    done = subprocess.run(["queueserver", "tokens", "revoke", "kept-clerk"],
                          env=server_env(redis_url), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for server, n in ((a, 1), (b, 2)):
        refused = act(server, clerk, f"/counters/{n}/pause")
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"]["code"] == "unauthenticated"
        # Nothing changed: the counter is still open.
        assert counter_state(server, supervisor, n) == "open"
        # Another kept credential of the same centre is read again and acts.
        assert act(server, supervisor, f"/counters/{n}/pause").status_code == 200
        assert counter_state(server, supervisor, n) == "paused"


@pytest.mark.e2e
def test_revoked_through_the_api_it_is_refused_at_once_by_the_other_process(
        two_servers: tuple[Server, Server], r: redis.Redis) -> None:
    a, b = two_servers
    clerk, _ = auth.create_token(r, auth.Role.CLERK, "wan-chai", name="api-clerk")
    supervisor, _ = auth.create_token(r, auth.Role.SUPERVISOR, "wan-chai", name="api-sup")
    admin, _ = auth.create_token(r, auth.Role.ADMIN, name="api-admin")
    kept_in_both(a, b, clerk)
    kept_in_both(a, b, admin)
    revoked = httpx.post(a.url + "/api/v1/tokens/api-clerk/revoke", headers=bearer(supervisor),
                         timeout=10)
    assert revoked.status_code == 200, revoked.text
    assert act(b, clerk, "/counters/2/pause").status_code == 401
    assert act(a, clerk, "/counters/1/pause").status_code == 401
    # An admin, bound to no centre, is kept per centre and refused the same way.
    revoked = httpx.post(a.url + "/api/v1/tokens/api-admin/revoke", headers=bearer(admin),
                         timeout=10)
    assert revoked.status_code == 200, revoked.text
    assert act(b, admin, "/counters/2/pause").status_code == 401
    assert counter_state(b, supervisor, 2) == "open"


def test_a_kept_credential_with_an_idempotency_key_is_read_again_when_stale(
        client: TestClient, r: redis.Redis) -> None:
    """The script that finds the generation changed changes nothing and leaves the key free:
    the request runs again on the credential read afresh, and a repeat gets its answer."""
    clerk, _ = auth.create_token(r, auth.Role.CLERK, "wan-chai", name="idem-clerk")
    h = bearer(clerk)
    assert client.post(C + "/counters/1/open", headers=h).status_code == 200
    assert client.post(C + "/counters/1/pause", headers=h).status_code == 200
    auth.create_token(r, auth.Role.DISPLAY, "wan-chai", name="soon-gone")
    assert auth.revoke_token(r, "soon-gone")  # every centre's generation set anew
    first = client.post(C + "/counters/1/resume", headers={**h, "Idempotency-Key": "k1"})
    assert first.status_code == 200, first.text
    again = client.post(C + "/counters/1/resume", headers={**h, "Idempotency-Key": "k1"})
    assert (again.status_code, again.json()) == (200, first.json())
    events = [f["type"] for _, f in r.xrange(keys.events("wan-chai"))]
    assert events.count("counter.resumed") == 1


def test_a_repeat_of_a_kept_credential_s_request_is_refused_once_revoked(
        client: TestClient, r: redis.Redis) -> None:
    """A repeat is answered from its record, without its script: the kept credential is
    checked all the same."""
    clerk, _ = auth.create_token(r, auth.Role.CLERK, "wan-chai", name="repeating-clerk")
    h = {**bearer(clerk), "Idempotency-Key": "k2"}
    assert client.post(C + "/counters/1/open", headers=bearer(clerk)).status_code == 200
    first = client.post(C + "/counters/1/pause", headers=h)
    assert first.status_code == 200
    assert client.post(C + "/counters/1/pause", headers=h).json() == first.json()
    assert auth.revoke_token(r, "repeating-clerk")
    assert client.post(C + "/counters/1/pause", headers=h).status_code == 401


def test_the_script_takes_the_rate_limit_of_a_kept_credential(
        client: TestClient, r: redis.Redis) -> None:
    clerk, cred = auth.create_token(r, auth.Role.CLERK, "wan-chai", name="busy-clerk")
    h = bearer(clerk)
    assert client.post(C + "/counters/1/open", headers=h).status_code == 200
    bucket = keys.rate_bucket(cred.id, cred.centre)
    # The bucket lies in the centre's slot, where the counter's script can take from it.
    assert bucket.startswith(keys.centre_prefix("wan-chai"))
    before = float(r.hget(bucket, "tokens") or 0)
    assert client.post(C + "/counters/1/pause", headers=h).status_code == 200
    assert float(r.hget(bucket, "tokens") or 0) < before  # taken by the pause's script
    # As after a long flood: the bucket owes seconds' worth of requests.
    r.hset(bucket, "tokens", -10 * ratelimit.RATE_PER_S)
    refused = client.post(C + "/counters/1/resume", headers=h)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 10
    board = client.get(C + "/board", headers=bearer(auth.create_token(
        r, auth.Role.SUPERVISOR, "wan-chai")[0])).json()
    assert next(c["state"] for c in board["counters"] if c["number"] == 1) == "paused"


def commands_of(redis_url: str, request: Callable[[], None]) -> list[list[str]]:
    """What the server sends Redis while `request` runs (MONITOR, between two markers), less the
    process's own background work: event readers, socket checks, the notices' sweep (another
    script than the project's request scripts)."""
    seen: list[dict[str, Any]] = []
    watcher = redis.Redis.from_url(redis_url, decode_responses=True)
    ready = threading.Event()

    def watch() -> None:
        with watcher.monitor() as m:
            ready.set()
            for command in m.listen():
                seen.append(command)
                if "request-marker-end" in command["command"]:
                    return

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    assert ready.wait(10)
    watcher.get("request-marker-start")
    request()
    watcher.get("request-marker-end")
    thread.join(10)
    assert not thread.is_alive()
    start = next(i for i, c in enumerate(seen) if "request-marker-start" in c["command"])
    ours = {hashlib.sha1(lua.source(name).encode()).hexdigest(): name
            for name in ("counter_state", "checkin", "rate_limit")}
    during = [c["command"].split()[:2] for c in seen[start + 1:-1]
              if c.get("client_type") != "lua"]
    return [[c[0], ours.get(c[1], c[1])] if c[0] == "EVALSHA" else c for c in during
            if not (c[0].startswith("X") or c[0] == "EXISTS"
                    or (c[0] == "EVALSHA" and c[1] not in ours))]


def test_a_counter_action_on_a_kept_credential_is_one_round_trip(
        client: TestClient, r: redis.Redis, redis_url: str) -> None:
    """What the server sends Redis for a counter's action on a kept credential: its script,
    and nothing else (no token read, no rate-limit script)."""
    clerk, _ = auth.create_token(r, auth.Role.CLERK, "wan-chai", name="one-trip")
    h = bearer(clerk)
    assert client.post(C + "/counters/1/open", headers=h).status_code == 200
    assert client.post(C + "/counters/1/pause", headers=h).status_code == 200

    def resume() -> None:
        assert client.post(C + "/counters/1/resume", headers=h).status_code == 200

    assert commands_of(redis_url, resume) == [["EVALSHA", "counter_state"]]


def test_a_check_in_on_a_kept_credential_is_one_round_trip(
        client: TestClient, r: redis.Redis, redis_url: str, seed: Callable[..., Any]) -> None:
    """A check-in is its script alone (no token read, no rate-limit script, no look-up of the
    booking's centre; on one Redis the script registers the follow token too); a booking
    another centre holds is looked up after it, and is still answered `wrong_centre`; a
    revoked desk learns nothing."""
    desk, _ = auth.create_token(r, auth.Role.DESK, "wan-chai", name="one-trip-desk")
    photo, _ = auth.create_token(r, auth.Role.PHOTO, "wan-chai", name="one-trip-photo")
    seed("MEP1")
    seed("KLN1", centre="kowloon-bay")
    for barcode in ("PH1", "PH2"):
        assert client.post(C + "/photo-receipts", json={"barcode": barcode},
                           headers=bearer(photo)).status_code == 201

    def check_in(ref: str, barcode: str, status: int) -> Callable[[], None]:
        def run() -> None:
            answer = client.post(C + "/tickets", headers=bearer(desk), json={
                "booking_ref": ref, "id_number": "A123456(3)", "photo_barcode": barcode})
            assert answer.status_code == status, answer.text
        return run

    check_in("NONE", "PH1", 422)()  # the credential is read, then kept
    # The script, which wrote the follow token's record (a key of no centre: CONTRACT §9).
    issued = commands_of(redis_url, check_in("MEP1", "PH1", 201))
    assert issued == [["EVALSHA", "checkin"]]
    assert len(r.keys("qs:follow:*")) == 1
    elsewhere = commands_of(redis_url, check_in("KLN1", "PH2", 422))
    assert elsewhere[0] == ["EVALSHA", "checkin"] and ["HGET", keys.booking_index()] in elsewhere
    answer = client.post(C + "/tickets", headers=bearer(desk), json={
        "booking_ref": "KLN1", "id_number": "A123456(3)", "photo_barcode": "PH2"})
    assert answer.json()["error"]["code"] == "wrong_centre"
    assert auth.revoke_token(r, "one-trip-desk")
    answer = client.post(C + "/tickets", headers=bearer(desk), json={
        "booking_ref": "KLN1", "id_number": "A123456(3)", "photo_barcode": "PH2"})
    assert answer.status_code == 401


def test_a_restore_does_not_bring_back_a_revoked_credential_s_generation(
        client: TestClient, r: redis.Redis, redis_url: str) -> None:
    """A backup holds the centre's credential generation of its moment: restoring it would
    make a credential kept then, and revoked since, good again; the restore sets a new one."""
    import io

    from queueserver.operations import backup

    auth.create_token(r, auth.Role.DISPLAY, "wan-chai", name="first-gone")
    assert auth.revoke_token(r, "first-gone")  # the centre has a generation
    clerk, _ = auth.create_token(r, auth.Role.CLERK, "wan-chai", name="restored-clerk")
    h = bearer(clerk)
    assert client.post(C + "/counters/1/open", headers=h).status_code == 200
    assert client.post(C + "/counters/1/pause", headers=h).status_code == 200  # kept
    raw = redis.Redis.from_url(redis_url)
    saved = io.StringIO()
    backup.backup(raw, "wan-chai", saved)
    assert auth.revoke_token(r, "restored-clerk")
    saved.seek(0)
    backup.restore(raw, "wan-chai", saved, replace=True)
    assert client.post(C + "/counters/1/resume", headers=h).status_code == 401
