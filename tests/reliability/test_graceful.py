"""SIGTERM is graceful: the process stops accepting, finishes the requests in flight, and closes
its WebSockets with 1012 (service restart) so screens reconnect at once, elsewhere."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time

import httpx
import pytest
import redis
from conftest import make_booking, server_env, start_server, store
from faults import wait_for
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from queueserver.auth import credentials as auth

C = "/api/v1/centres/wan-chai"
# Redis holds writes this long: the check-in sent meanwhile is in flight when SIGTERM comes.
PAUSE_MS = 3000
SERVICE_RESTART = 1012
# The supervisor of --workers looks at signals twice a second (with room for a busy machine).
STOP_ACCEPTING_S = 1.5

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_finishes_requests_and_closes_sockets_with_1012(
        r: redis.Redis, redis_url: str, workers: int) -> None:
    store(r, [make_booking("MEP1")])
    sup, _ = auth.create_token(r, auth.Role.SUPERVISOR, "wan-chai")
    display, _ = auth.create_token(r, auth.Role.DISPLAY, "wan-chai")
    headers = {"Authorization": f"Bearer {sup}"}
    server = start_server(server_env(redis_url), *(["--workers", "2"] if workers > 1 else []))
    other = start_server(server_env(redis_url))
    try:
        httpx.post(server.url + C + "/photo-receipts", json={"barcode": "PH1"},
                   headers=headers).raise_for_status()
        ws_url = server.url.replace("http://", "ws://") + \
            f"/ws/centres/wan-chai/events?token={display}"
        with connect(ws_url) as ws:
            board = ws.recv(timeout=10)
            assert json.loads(board)["type"] == "board"
            answer: list[httpx.Response] = []

            def check_in() -> None:
                answer.append(httpx.post(server.url + C + "/tickets", headers=headers,
                                         timeout=30, json={"booking_ref": "MEP1",
                                                           "id_number": "A123456(3)",
                                                           "photo_barcode": "PH1"}))

            r.execute_command("CLIENT", "PAUSE", PAUSE_MS, "WRITE")
            in_flight = threading.Thread(target=check_in)
            in_flight.start()
            # In flight means its script is held by the pause (a blocked client running a
            # script); the event reader's XREAD is blocked too, but by its own choice.
            wait_for(lambda: any("b" in c["flags"] and c["cmd"].startswith("eval")
                                 for c in r.client_list()), 10, "the check-in held by Redis")
            assert not answer, "the check-in should be waiting on the paused Redis"
            server.proc.send_signal(signal.SIGTERM)
            # The screen is told at once, long before the request in flight ends...
            sent = time.monotonic()
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=PAUSE_MS / 1000)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == SERVICE_RESTART
            assert time.monotonic() - sent < PAUSE_MS / 1000 / 2
            # ...and the process soon takes no new connection (each of uvicorn's workers
            # closes its copy of the listening socket when it sees the signal, within 0.1 s).
            host, port = server.url.removeprefix("http://").split(":")

            def refused() -> bool:
                try:
                    socket.create_connection((host, int(port)), timeout=1).close()
                except ConnectionRefusedError:
                    return True
                return False

            wait_for(refused, STOP_ACCEPTING_S, "new connections refused")
            assert not answer, "the request in flight should still be waiting on Redis"
            in_flight.join(15)
        # The request in flight was finished, not dropped.
        assert [a.status_code for a in answer] == [201]
        assert answer[0].json()["ticket"]["number"] == "A001"
        # uvicorn re-raises the signal once it has shut down cleanly; systemd counts a
        # SIGTERM exit as a clean one.
        assert server.proc.wait(15) in (0, -signal.SIGTERM)
        assert "Application shutdown complete" in server.output()
        # The screen reconnects elsewhere with after= and finds the ticket it missed.
        after = json.loads(board)["data"]["last_event_id"]
        with connect(other.url.replace("http://", "ws://") +
                     f"/ws/centres/wan-chai/events?token={display}&after={after}") as ws2:
            assert '"ticket.issued"' in str(ws2.recv(timeout=10))
    finally:
        r.execute_command("CLIENT", "UNPAUSE")
        server.stop()
        other.stop()
