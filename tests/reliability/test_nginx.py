"""docs/deploy/nginx-queueserver.conf, run by Debian's nginx on a loopback port in front of two
serve processes: a call reaches a display through it, and a display whose process stops is
carried to the other one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from conftest import Server, free_port, make_booking, server_env, start_server, store
from faults import wait_for
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from queueserver.auth import credentials as auth

SITE = Path(__file__).parents[2] / "docs" / "deploy" / "nginx-queueserver.conf"
C = "/api/v1/centres/wan-chai"

pytestmark = pytest.mark.e2e


def nginx_config(folder: Path, port: int, upstreams: list[Server]) -> Path:
    site = SITE.read_text()
    for example, server in zip(("127.0.0.1:8001", "127.0.0.1:8002"), upstreams, strict=True):
        assert example in site
        site = site.replace(example, server.url.removeprefix("http://"))
    assert "listen 80;" in site
    site = site.replace("listen 80;", f"listen 127.0.0.1:{port};")
    (folder / "site.conf").write_text(site)
    temp = {name: folder / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir()
    main = folder / "nginx.conf"
    main.write_text(
        # As root, nginx's workers would drop to a user who cannot enter the test's folder.
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"daemon off;\nworker_processes 1;\npid {folder}/nginx.pid;\n"
        f"error_log {folder}/error.log info;\nevents {{ worker_connections 512; }}\n"
        f"http {{\n  access_log off;\n  client_body_temp_path {temp['body']};\n"
        f"  proxy_temp_path {temp['proxy']};\n  fastcgi_temp_path {temp['fastcgi']};\n"
        f"  uwsgi_temp_path {temp['uwsgi']};\n  scgi_temp_path {temp['scgi']};\n"
        f"  include {folder}/site.conf;\n}}\n")
    return main


@pytest.fixture
def behind_nginx(r: redis.Redis, redis_url: str,
                 tmp_path: Path) -> Iterator[tuple[str, list[Server]]]:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    assert os.path.exists(binary), "nginx is required (apt-get install nginx)"
    servers = [start_server(server_env(redis_url)) for _ in range(2)]
    port = free_port()
    main = nginx_config(tmp_path, port, servers)
    proc = subprocess.Popen([binary, "-p", str(tmp_path), "-c", str(main), "-e",
                             str(tmp_path / "error.log")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: httpx.get(url + "/healthz", timeout=1).status_code == 200, 20,
                 "nginx answering")
        yield url, servers
    finally:
        proc.terminate()
        proc.wait(10)
        for s in servers:
            s.stop()


def recv(ws: ClientConnection) -> dict[str, Any]:
    return dict(json.loads(ws.recv(timeout=10)))


def test_a_call_reaches_a_display_through_nginx(behind_nginx: tuple[str, list[Server]],
                                               r: redis.Redis) -> None:
    url, servers = behind_nginx
    store(r, [make_booking("MEP1")])
    sup, _ = auth.create_token(r, auth.Role.SUPERVISOR, "wan-chai")
    display, _ = auth.create_token(r, auth.Role.DISPLAY, "wan-chai")
    h = {"Authorization": f"Bearer {sup}"}
    ws_url = url.replace("http://", "ws://") + f"/ws/centres/wan-chai/events?token={display}"
    # A browser's Origin names nginx's host and port: the Host header nginx passes must too.
    origin = {"Origin": url}
    with connect(ws_url, additional_headers=origin) as one, \
            connect(ws_url, additional_headers=origin) as two:
        boards = [recv(one), recv(two)]
        assert [b["type"] for b in boards] == ["board", "board"]
        for path, body in (("/photo-receipts", {"barcode": "PH1"}),
                           ("/tickets", {"booking_ref": "MEP1", "id_number": "A123456(3)",
                                         "photo_barcode": "PH1"}),
                           ("/counters/2/call", {})):
            answer = httpx.post(url + C + path, json=body, headers=h, timeout=10)
            assert answer.status_code < 300, answer.text
        for ws in (one, two):
            got = [recv(ws) for _ in range(3)]
            assert [m["type"] for m in got] == ["ticket.issued", "counter.opened",
                                                "ticket.called"]
        called_id = got[-1]["id"]
        # One process stops (as systemd stops it): nginx sends the next requests to the other
        # (a request that meets the stopped one first is passed on), and the sockets it held
        # close with 1012 through nginx.
        servers[0].stop()
        for _ in range(3):
            answer = httpx.post(url + C + "/counters/2/recall", headers=h, timeout=10)
            assert answer.status_code == 200, answer.text
        for ws in (one, two):
            try:
                assert [recv(ws)["type"] for _ in range(3)] == ["ticket.recalled"] * 3
            except ConnectionClosed as closed:
                assert closed.rcvd is not None and closed.rcvd.code == 1012
    # A closed screen comes back through nginx with after= the call it saw: the process still
    # running sends the recalls it missed.
    with connect(ws_url + f"&after={called_id}", additional_headers=origin) as again:
        assert [recv(again)["type"] for _ in range(3)] == ["ticket.recalled"] * 3
