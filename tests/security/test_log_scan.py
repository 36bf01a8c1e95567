"""A day against a real `serve` process, with the log it writes captured: every identity number,
name and passport number the day handled — in bodies, refusals and look-ups — must be absent
from it (PDPO; the Privacy Commissioner's code on identity card numbers); and so must every
credential that came in a URL, however its name was spelt."""

from __future__ import annotations

import json
import logging
import re
import sys
from typing import Any

import httpx
import pytest
import redis
from conftest import HKIDS, Server, make_booking, store
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from queueserver.auth import credentials as auth
from queueserver.platform.logs import JsonLines, RedactCredentials, redact_query

C = "/api/v1/centres/wan-chai"
pytestmark = pytest.mark.e2e
PEOPLE = [(f"MEP{i:04d}", hkid, f"ZHUANGXQ{i}", f"MEIYUNVW{i}", f"K76543{i:02d}")
          for i, hkid in enumerate(HKIDS)]


def forms(hkid: str) -> set[str]:
    """The ways an identity number could be written into a log."""
    bare = re.sub(r"[^A-Z0-9]", "", hkid.upper())
    return {hkid, bare, bare[:-1], hkid.replace("(", "").replace(")", "")}


def test_no_personal_data_reaches_the_log(server: Server, r: redis.Redis) -> None:
    store(r, [make_booking(ref, id_number=hkid, surname=surname, given_names=given,
                           passport_no=passport)
              for ref, hkid, surname, given, passport in PEOPLE])
    tok = {role: auth.create_token(r, auth.Role(role), None if role == "admin" else "wan-chai")[0]
           for role in ("admin", "supervisor", "desk", "clerk", "kiosk", "photo")}

    def call(role: str, method: str, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        return httpx.request(method, server.url + path, json=body, timeout=10,
                             headers={"Authorization": f"Bearer {tok[role]}"}, **kw)

    receipts = []
    for i, (ref, hkid, *_rest) in enumerate(PEOPLE):
        call("photo", "POST", C + "/photo-receipts", {"barcode": f"PH{i}"})
        # A wrong identity number first (a refusal), then the right one.
        call("desk", "POST", C + "/tickets", {"booking_ref": ref, "id_number": HKIDS[i - 1],
                                              "photo_barcode": f"PH{i}"})
        issued = call("desk", "POST", C + "/tickets", {"booking_ref": ref, "id_number": hkid,
                                                       "photo_barcode": f"PH{i}"})
        assert issued.status_code == 201, issued.text
        call("desk", "POST", C + "/bookings/lookup", {"id_number": hkid})
        number = call("supervisor", "POST", C + "/counters/1/call").json()["ticket"]["number"]
        call("clerk", "GET", C + f"/tickets/{number}/booking")
        call("supervisor", "POST", C + f"/tickets/{number}/acceptance", {"counter": 1})
        call("supervisor", "POST", C + f"/tickets/{number}/payment",
             {"method": "cash", "amount_hkd": 320, "counter": 1})
        done = call("supervisor", "POST", C + f"/tickets/{number}/receipt", {"counter": 1})
        assert done.status_code == 201, done.text
        receipts.append(done.json()["receipt_no"])
    for receipt, (_ref, hkid, *_rest) in zip(receipts, PEOPLE, strict=True):
        call("kiosk", "POST", "/api/v1/collection/eligibility",
             {"receipt_no": receipt, "id_number": hkid})
        call("kiosk", "POST", f"/api/v1/collection/{receipt}/collect", {"id_number": hkid})
        call("clerk", "GET", f"/api/v1/receipts/{receipt}/slip")
    # Malformed and refused requests that carry personal data in their bodies.
    hkid = PEOPLE[0][1]
    call("desk", "POST", C + "/tickets", content=f'{{"id_number": "{hkid}", oops'.encode())
    call("desk", "POST", C + "/tickets", {"booking_ref": 7, "id_number": hkid})
    call("desk", "POST", C + "/bookings/lookup", {"id_number": hkid + "Z"})
    httpx.post(server.url + "/login", data={"username": hkid, "password": PEOPLE[0][2]})
    call("supervisor", "POST", C + "/personal-data/export", {"id_number": PEOPLE[1][1]})
    call("supervisor", "POST", C + "/personal-data/erase", {"id_number": PEOPLE[1][1]})

    server.stop()
    log = server.output()
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    # The log was captured.
    assert any(line.get("route") == "/api/v1/centres/{centre}/tickets" for line in lines)
    for _ref, hkid, surname, given, passport in PEOPLE:
        for secret in (*forms(hkid), surname, given, passport):
            assert secret not in log, secret


def _socket(url: str, query: str) -> str:
    """Opens live events with `query`; what came first, or why it was refused."""
    try:
        with connect(f"{url.replace('http://', 'ws://')}{C.replace('/api/v1', '/ws')}"
                     f"/events?{query}", open_timeout=10) as ws:
            return str(json.loads(ws.recv(timeout=10))["type"])
    except InvalidStatus as refused:
        return str(refused.response.status_code)


def test_no_token_reaches_the_log_however_its_name_is_spelt(server: Server,
                                                            r: redis.Redis) -> None:
    """uvicorn writes each WebSocket's raw query into its line, and Starlette reads
    `%74oken` as `token`: the log is masked by the parsed query, so no spelling gets through,
    on sockets taken or refused and on pages."""
    display = auth.create_token(r, auth.Role.DISPLAY, "wan-chai")[0]
    kiosk = auth.create_token(r, auth.Role.KIOSK, "wan-chai")[0]
    made_up = "qs_" + "m4deup" * 7
    spellings = [f"token={display}", f"%74oken={display}", f"after=1-0&tok%65n={display}",
                 f"%74%6F%6B%65%6E={display}", f"token={made_up}", f"%74oken={made_up}"]
    answers = [_socket(server.url, query) for query in spellings]
    # Taken where the credential is good (whatever the spelling), refused where it is not.
    assert answers == ["board", "board", "resync_required", "board", "403", "403"]
    for page, token in (("/display/wan-chai", display), ("/kiosk/wan-chai", kiosk)):
        assert httpx.get(f"{server.url}{page}?%74oken={token}", timeout=10).status_code == 200
    assert httpx.get(f"{server.url}{C}/board?token={display}", timeout=10).status_code == 401

    server.stop()
    log = server.output()
    lines = [line for line in log.splitlines() if '"WebSocket /ws/centres/' in line]
    assert len(lines) == len(spellings), log[-2000:]   # the socket lines were captured
    assert all("=***" in line for line in lines), lines
    for secret in (display, kiosk, made_up):
        assert secret not in log


def _line(record: logging.LogRecord) -> str:
    RedactCredentials().filter(record)
    return JsonLines().format(record)


def test_access_lines_extra_fields_and_tracebacks_are_masked_too() -> None:
    """The same mask on an HTTP access line as uvicorn writes it (should its access log ever be
    turned on), on `extra=` fields and on an exception's text."""
    secret = "qs_" + "s3cret" * 7
    access = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
                               '%s - "%s %s HTTP/%s" %d', ("10.0.0.9:5000", "GET",
                               f"/display/wan-chai?lang=en&%74oken={secret}", "1.1", 200), None)
    line = json.loads(_line(access))
    assert line["msg"] == ('10.0.0.9:5000 - "GET /display/wan-chai?lang=en&%74oken=*** '
                           'HTTP/1.1" 200')
    extra = logging.LogRecord("queueserver", logging.INFO, __file__, 1, "seen", None, None)
    extra.url = f"/kiosk/x?TOKEN={secret}&after=1-0"
    assert json.loads(_line(extra))["url"] == "/kiosk/x?TOKEN=***&after=1-0"
    try:
        raise ValueError(f"could not open /ws/centres/x/events?t%6Fken={secret}")
    except ValueError:
        failed = logging.LogRecord("queueserver", logging.ERROR, __file__, 1, "failed", None,
                                   sys.exc_info())
    text = _line(failed)
    assert secret not in text and "t%6Fken=***" in text
    # Parameters that only look alike are left as they are.
    assert redact_query("tokens=1&my_token=2&token=3") == "tokens=1&my_token=2&token=***"
