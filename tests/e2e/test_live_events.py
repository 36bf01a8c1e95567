"""The live events protocol against real `serve` processes and real WebSocket clients."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import threading
import time
from typing import Any

import httpx
import pytest
import redis
from conftest import HKIDS, MORNING, Server, make_booking, server_env, start_server, store
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from queueserver.auth import credentials as auth
from queueserver.store import keys

C = "/api/v1/centres/wan-chai"
pytestmark = pytest.mark.e2e


def ws_url(server: Server, token: str, after: str | None = None) -> str:
    url = server.url.replace("http://", "ws://") + f"/ws/centres/wan-chai/events?token={token}"
    return url + (f"&after={after}" if after is not None else "")


def recv(ws: ClientConnection, timeout: float = 10) -> dict[str, Any]:
    return dict(json.loads(ws.recv(timeout=timeout)))


def read_through(ws: ClientConnection, last_id: str, timeout: float = 10) -> list[str]:
    """Every message up to and including the event `last_id`, as sent (fails after `timeout`)."""
    out: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"event {last_id} never arrived; got {len(out)} messages"
        message = str(ws.recv(timeout=remaining))
        out.append(message)
        if json.loads(message).get("id") == last_id:
            return out


def nothing_more(ws: ClientConnection, wait: float = 0.7) -> bool:
    try:
        ws.recv(timeout=wait)
    except TimeoutError:
        return True
    return False


@pytest.fixture
def creds(r: redis.Redis) -> dict[str, str]:
    return {
        "display": auth.create_token(r, auth.Role.DISPLAY, "wan-chai")[0],
        "supervisor": auth.create_token(r, auth.Role.SUPERVISOR, "wan-chai")[0],
    }


def post(server: Server, token: str, path: str, body: dict[str, Any] | None = None) -> Any:
    answer = httpx.post(server.url + C + path, json=body or {},
                        headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert answer.status_code < 300, answer.text
    return answer.json()


def test_the_protocol_step_by_step(server: Server, creds: dict[str, str],
                                   r: redis.Redis) -> None:
    sup, display = creds["supervisor"], creds["display"]
    with connect(ws_url(server, display)) as ws:
        board = recv(ws)
        assert board["type"] == "board" and "id" not in board
        assert board["data"]["last_event_id"] == "0-0"
        post(server, sup, "/counters/1/open")
        opened = recv(ws)
        assert (opened["type"], opened["data"]) == ("counter.opened", {"counter": 1,
                                                                       "state": "open"})
    # Dropped: 20 actions happen while the screen is away.
    for i in range(20):
        post(server, sup, "/counters/1/" + ("pause" if i % 2 == 0 else "resume"))
    with connect(ws_url(server, display, after=opened["id"])) as ws:
        missed = [recv(ws) for _ in range(20)]
        assert [m["type"] for m in missed] == ["counter.paused", "counter.resumed"] * 10
        ids = [tuple(map(int, m["id"].split("-"))) for m in missed]
        assert ids == sorted(ids) and len(set(ids)) == 20
        assert nothing_more(ws), "an event arrived twice or from nowhere"
        post(server, sup, "/counters/1/pause")
        assert recv(ws)["type"] == "counter.paused"   # and then the live ones
    # The stream was trimmed (as at day close): the old id can no longer be served.
    r.xtrim(keys.events("wan-chai"), maxlen=5, approximate=False)
    with connect(ws_url(server, display, after=opened["id"])) as ws:
        assert recv(ws)["type"] == "resync_required"
        fresh = recv(ws)
        assert fresh["type"] == "board"
        assert fresh["data"]["last_event_id"] == r.xrevrange(keys.events("wan-chai"),
                                                             count=1)[0][0]
    # An id newer than the stream's last event: resync too.
    with connect(ws_url(server, display, after="99999999999999-0")) as ws:
        assert recv(ws)["type"] == "resync_required"
        assert recv(ws)["type"] == "board"
    # Not an event id at all: an error, then close 1008.
    with connect(ws_url(server, display, after="1700000000000-zz")) as ws:
        assert recv(ws) == {"type": "error", "code": "bad_request",
                            "message_en": "after= must be an event id like 1700000000000-0"}
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


def test_ids_compare_as_integers_not_strings(server: Server, creds: dict[str, str],
                                             r: redis.Redis) -> None:
    stream = keys.events("wan-chai")
    for seq in (9, 10):
        r.xadd(stream, {"type": "counter.opened", "at": MORNING.isoformat(),
                        "data": json.dumps({"counter": seq})}, id=f"1700000000000-{seq}")
    with connect(ws_url(server, creds["display"], after="1700000000000-9")) as ws:
        assert recv(ws)["id"] == "1700000000000-10"   # "10" < "9" as strings


def test_credentials_and_origin(server: Server, creds: dict[str, str], r: redis.Redis) -> None:
    kiosk, _ = auth.create_token(r, auth.Role.KIOSK, "wan-chai")
    def refused(url: str, headers: dict[str, str] | None = None) -> None:
        # Refused before the handshake completes: the upgrade is answered 403.
        with pytest.raises(InvalidStatus) as e:
            connect(url, additional_headers=headers)
        assert e.value.response.status_code == 403

    for token in ("nonsense", kiosk):
        refused(ws_url(server, token))
    refused(ws_url(server, creds["display"]), {"Origin": "http://evil.example"})
    host = server.url.removeprefix("http://")
    with connect(ws_url(server, creds["display"]),
                 additional_headers={"Origin": f"http://{host}"}) as ws:
        assert recv(ws)["type"] == "board"


def test_a_revoked_credential_is_closed_within_seconds(server: Server, r: redis.Redis) -> None:
    token, _ = auth.create_token(r, auth.Role.DISPLAY, "wan-chai", name="tv-9")
    with connect(ws_url(server, token)) as ws:
        assert recv(ws)["type"] == "board"
        auth.revoke_token(r, "tv-9")
        started = time.monotonic()
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=15)
        assert time.monotonic() - started < 10


def test_a_call_through_one_process_reaches_displays_on_another(
        two_servers: tuple[Server, Server], creds: dict[str, str], r: redis.Redis) -> None:
    a, b = two_servers
    store(r, [make_booking("MEP1")])
    with connect(ws_url(b, creds["display"])) as ws_b, \
            connect(ws_url(a, creds["display"])) as ws_a:
        assert recv(ws_b)["type"] == recv(ws_a)["type"] == "board"
        post(a, creds["supervisor"], "/photo-receipts", {"barcode": "PH1"})
        post(a, creds["supervisor"], "/tickets", {"booking_ref": "MEP1",
                                                  "id_number": "A123456(3)",
                                                  "photo_barcode": "PH1"})
        post(a, creds["supervisor"], "/counters/2/call")
        for ws in (ws_b, ws_a):
            types = [recv(ws)["type"] for _ in range(3)]
            assert types == ["ticket.issued", "counter.opened", "ticket.called"]


def test_workers_share_the_stream(r: redis.Redis, redis_url: str,
                                  creds: dict[str, str]) -> None:
    server = start_server(server_env(redis_url), "--workers", "2")
    try:
        with contextlib.ExitStack() as stack:
            sockets = [stack.enter_context(connect(ws_url(server, creds["display"])))
                       for _ in range(6)]
            for ws in sockets:
                assert recv(ws)["type"] == "board"
            post(server, creds["supervisor"], "/counters/3/open")
            for ws in sockets:
                assert recv(ws)["type"] == "counter.opened"
    finally:
        server.stop()


def _stuck_screen(server: Server, token: str) -> socket.socket:
    """A screen that opens its socket and then never reads: a raw handshake, a tiny buffer."""
    host, port = server.url.removeprefix("http://").split(":")
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    raw.sendall((f"GET /ws/centres/wan-chai/events?token={token} HTTP/1.1\r\n"
                 f"Host: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    return raw


def _read_until_closed(raw: socket.socket, timeout: float = 60) -> bytes:
    raw.settimeout(timeout)
    data = bytearray()
    with contextlib.suppress(ConnectionResetError):
        while chunk := raw.recv(1 << 16):
            data += chunk
    return bytes(data)


def test_a_socket_that_never_reads_is_cut_off_and_slows_nobody(
        server: Server, creds: dict[str, str], r: redis.Redis) -> None:
    stuck = _stuck_screen(server, creds["display"])
    received: list[dict[str, Any]] = []
    with connect(ws_url(server, creds["display"])) as healthy:
        assert recv(healthy)["type"] == "board"

        def read_all() -> None:
            with contextlib.suppress(ConnectionClosed, TimeoutError):
                while True:
                    received.append(json.loads(healthy.recv(timeout=60)))

        reader = threading.Thread(target=read_all, daemon=True)
        reader.start()
        # Large events, more than the kernel buffers and the socket's queue hold, paced as a
        # busy (if unrealistically wordy) centre would send them.
        stream, pad, total = keys.events("wan-chai"), "x" * 4000, 2500
        for chunk in range(total // 100):
            pipe = r.pipeline()
            for i in range(chunk * 100, chunk * 100 + 100):
                pipe.xadd(stream, {"type": "counter.paused", "at": MORNING.isoformat(),
                                   "data": json.dumps({"counter": 1, "pad": pad, "i": i})})
            pipe.execute()
            time.sleep(0.05)
        # The healthy display keeps up, and a real call right after arrives promptly.
        sup = creds["supervisor"]
        store(r, [make_booking("MEP1")])
        post(server, sup, "/photo-receipts", {"barcode": "PH1"})
        post(server, sup, "/tickets", {"booking_ref": "MEP1", "id_number": "A123456(3)",
                                       "photo_barcode": "PH1"})
        called_at = time.monotonic()
        post(server, sup, "/counters/2/call")
        while time.monotonic() - called_at < 10 and not any(
                m.get("type") == "ticket.called" for m in received):
            time.sleep(0.02)
        assert time.monotonic() - called_at < 5
        assert sum(1 for m in received if m.get("type") == "counter.paused") == total
    # The stuck screen was cut off: its connection ended short of the flood, with the close
    # code 1013 (try again later: it resumes with after=) if the close frame got through.
    data = _read_until_closed(stuck)
    assert data.count(b'"counter.paused"') < total
    if b"\x88\x02" in data:
        assert data.endswith(b"\x88\x02\x03\xf5")
    stuck.close()


def test_a_display_sees_no_personal_data_over_a_whole_day(
        server: Server, creds: dict[str, str], r: redis.Redis) -> None:
    sup = creds["supervisor"]
    desk, _ = auth.create_token(r, auth.Role.DESK, "wan-chai")
    people = [make_booking(f"MEP{i:05d}", id_number=HKIDS[i % 4], surname=f"SURNAME{i}",
                           given_names=f"GIVEN{i}", passport_no=f"K99{i:05d}")
              for i in range(12)]
    store(r, people)
    seen: list[str] = []
    with connect(ws_url(server, creds["display"])) as ws:
        seen.append(ws.recv(timeout=10))  # type: ignore[arg-type]
        for i, p in enumerate(people):
            post(server, sup, "/photo-receipts", {"barcode": f"PH{i}"})
            httpx.post(server.url + C + "/tickets", headers={"Authorization": f"Bearer {desk}"},
                       json={"booking_ref": p.ref, "id_number": p.id_number,
                             "photo_barcode": f"PH{i}", "priority": i % 5 == 0})
        for n in (1, 2, 3):
            post(server, sup, f"/counters/{n}/call")
        post(server, sup, "/counters/1/recall")
        post(server, sup, "/counters/1/no-show")
        post(server, sup, "/tickets/P001/requeue")
        post(server, sup, "/counters/2/transfer", {"service": "P"})
        post(server, sup, "/counters/3/no-show")
        for n in (1, 2, 3):
            post(server, sup, f"/counters/{n}/call")
        post(server, sup, "/counters/1/pause")
        # Everything up to the day's last event, live and replayed from the start: read until
        # that event's id arrives on each socket (not until a silence, which a slow machine
        # could make early).
        last = r.xrevrange(keys.events("wan-chai"), count=1)[0][0]
        total = r.xlen(keys.events("wan-chai"))
        seen += read_through(ws, last)
        with connect(ws_url(server, creds["display"], after="0-0")) as replay:
            replayed = read_through(replay, last)
    assert sum(1 for m in replayed if '"id"' in m) == total  # the replay path carried the day
    assert "\n".join(replayed).count("ticket.called") == 6
    text = "\n".join(seen + replayed)
    assert text.count("ticket.called") == 12
    for p in people:
        for value in (p.ref, p.surname, p.given_names, p.passport_no, p.id_number,
                      p.id_number.replace("(", "").replace(")", "")):
            assert value not in text, value
    assert '"by"' not in text
