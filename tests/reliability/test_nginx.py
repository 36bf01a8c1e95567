"""docs/deploy/nginx-queueserver.conf, run by Debian's nginx on loopback ports in front of two
serve processes, over https with a certificate made for the test: a call reaches a display
through it, a display whose process stops is carried to the other one, plain http is sent to
https, HSTS is set, and the session cookie comes back `Secure`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest
import redis
import redis.asyncio
from conftest import Server, free_port, make_booking, server_env, start_server, store
from faults import wait_for
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from queueserver.auth import credentials as auth
from queueserver.auth import users

SITE = Path(__file__).parents[2] / "docs" / "deploy" / "nginx-queueserver.conf"
C = "/api/v1/centres/wan-chai"
PASSWORD = "correct horse battery"

pytestmark = pytest.mark.e2e


def certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (and its key), made by Debian's openssl."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=30)
    return cert, key


def nginx_config(folder: Path, port: int, http_port: int, upstreams: list[Server]) -> Path:
    site = SITE.read_text()
    for example, server in zip(("127.0.0.1:8001", "127.0.0.1:8002"), upstreams, strict=True):
        assert example in site
        site = site.replace(example, server.url.removeprefix("http://"))
    cert, key = certificate(folder)
    for shipped, ours in (("listen 80;", f"listen 127.0.0.1:{http_port};"),
                          ("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;"),
                          ("/etc/ssl/queueserver/fullchain.pem", str(cert)),
                          ("/etc/ssl/queueserver/privkey.pem", str(key))):
        assert site.count(shipped) == 1, shipped
        site = site.replace(shipped, ours)
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


class Nginx(NamedTuple):
    url: str            # https
    servers: list[Server]
    plain: str          # its port 80's stand-in, plain http


@pytest.fixture
def behind_nginx(r: redis.Redis, redis_url: str, tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[Nginx]:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    assert os.path.exists(binary), "nginx is required (apt-get install nginx)"
    servers: list[Server] = []
    proc: subprocess.Popen[bytes] | None = None
    try:   # whatever fails on the way, the processes started are stopped
        for _ in range(2):
            servers.append(start_server(server_env(redis_url)))
        port, http_port = free_port(), free_port()
        main = nginx_config(tmp_path, port, http_port, servers)
        # httpx and websockets (through OpenSSL's defaults) trust the test's certificate alone.
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "cert.pem"))
        proc = subprocess.Popen([binary, "-p", str(tmp_path), "-c", str(main), "-e",
                                 str(tmp_path / "error.log")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"https://127.0.0.1:{port}"
        wait_for(lambda: httpx.get(url + "/healthz", timeout=1).status_code == 200, 20,
                 "nginx answering")
        yield Nginx(url, servers, f"http://127.0.0.1:{http_port}")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        for s in servers:
            s.stop()


def recv(ws: ClientConnection) -> dict[str, Any]:
    return dict(json.loads(ws.recv(timeout=10)))


def displays_on(server: Server) -> int:
    """Display sockets open at this serve process, asked directly (not through nginx)."""
    text = httpx.get(server.url + "/metrics", timeout=10).text
    found = re.search(r'^queueserver_screens_connected\{role="display"\} (\S+)$', text, re.M)
    return int(float(found.group(1))) if found else 0


def test_a_call_reaches_a_display_through_nginx(behind_nginx: Nginx, r: redis.Redis) -> None:
    url, servers, _plain = behind_nginx
    store(r, [make_booking("MEP1")])
    sup, _ = auth.create_token(r, auth.Role.SUPERVISOR, "wan-chai")
    display, _ = auth.create_token(r, auth.Role.DISPLAY, "wan-chai")
    h = {"Authorization": f"Bearer {sup}"}
    ws_url = url.replace("https://", "wss://") + f"/ws/centres/wan-chai/events?token={display}"
    # A browser's Origin names nginx's host and port: the Host header nginx passes must too.
    origin = {"Origin": url}
    # One screen on each process (nginx takes turns; which one comes first is its choice), so
    # that what happens to each when one process stops is known, not either of two outcomes.
    with contextlib.ExitStack() as sockets:
        one = sockets.enter_context(connect(ws_url, additional_headers=origin))
        assert recv(one)["type"] == "board"
        held = [displays_on(s) for s in servers]
        assert sorted(held) == [0, 1], held
        first = held.index(1)
        for _ in range(4):
            two = sockets.enter_context(connect(ws_url, additional_headers=origin))
            assert recv(two)["type"] == "board"
            if displays_on(servers[1 - first]) == 1:
                break
        else:
            raise AssertionError("nginx sent four screens in a row to the same process")
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
        # The process holding `one` stops (as systemd stops it): its socket closes with 1012
        # through nginx, nginx sends the next requests to the other process (a request that
        # meets the stopped one first is passed on), and `two`, there, sees every recall.
        servers[first].stop()
        with pytest.raises(ConnectionClosed) as closed:
            one.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
        for _ in range(3):
            answer = httpx.post(url + C + "/counters/2/recall", headers=h, timeout=10)
            assert answer.status_code == 200, answer.text
        assert [recv(two)["type"] for _ in range(3)] == ["ticket.recalled"] * 3
    # A closed screen comes back through nginx with after= the call it saw: the process still
    # running sends the recalls it missed.
    with connect(ws_url + f"&after={called_id}", additional_headers=origin) as again:
        assert [recv(again)["type"] for _ in range(3)] == ["ticket.recalled"] * 3


def _sign_in(http: httpx.Client, name: str) -> httpx.Response:
    page = http.get("/login")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text
    return http.post("/login", follow_redirects=False, data={
        "username": name, "password": PASSWORD, "csrf_token": found.group(1)})


def _cookie(answer: httpx.Response, name: str) -> str:
    found = [v for k, v in answer.headers.multi_items()
             if k == "set-cookie" and v.startswith(name + "=")]
    assert len(found) == 1, answer.headers
    return found[0]


def test_https_only_with_hsts_and_secure_cookies(behind_nginx: Nginx, redis_url: str) -> None:
    """Plain http is sent to https; every https answer, errors too, carries HSTS; and the
    cookies the login sets through nginx are `Secure` (uvicorn believes the X-Forwarded-Proto
    of a proxy in FORWARDED_ALLOW_IPS), while the same login made straight to a process over
    plain http gets them without (a browser would not send a Secure cookie back there)."""
    url, servers, plain = behind_nginx
    moved = httpx.get(plain + "/display/wan-chai?lang=en", follow_redirects=False, timeout=10)
    assert moved.status_code == 301
    assert moved.headers["location"] == "https://127.0.0.1/display/wan-chai?lang=en"
    for path, status in (("/healthz", 200), ("/login", 200), ("/nowhere", 404),
                         (C + "/board", 401)):
        answer = httpx.get(url + path, timeout=10)
        assert answer.status_code == status, path
        assert answer.headers["strict-transport-security"] == "max-age=63072000", path

    async def make() -> None:
        ar = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
        try:
            await users.create_user(ar, "sue", PASSWORD, auth.Role.SUPERVISOR, "wan-chai")
        finally:
            await ar.aclose()
    asyncio.run(make())
    with httpx.Client(base_url=url, timeout=10) as browser:
        assert "; secure" in _cookie(browser.get("/login"), "qs_login").lower()
        signed = _sign_in(browser, "sue")
        assert signed.status_code == 303, signed.text
        for name in (users.COOKIE, users.DEVICE_COOKIE):
            assert "; secure" in _cookie(signed, name).lower(), name
        assert browser.get("/admin").status_code == 200   # the cookie came back over https
    with httpx.Client(base_url=servers[1].url, timeout=10) as direct:
        signed = _sign_in(direct, "sue")
        assert signed.status_code == 303, signed.text
        assert "; secure" not in _cookie(signed, users.COOKIE).lower()
