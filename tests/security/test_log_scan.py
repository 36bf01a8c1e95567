"""A day against a real `serve` process, with the log it writes captured: every identity number,
name and passport number the day handled — in bodies, refusals and look-ups — must be absent
from it (PDPO; the Privacy Commissioner's code on identity card numbers)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
import redis
from conftest import HKIDS, Server, make_booking, store

from queueserver.auth import credentials as auth

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
    assert '"route": "/api/v1/centres/{centre}/tickets"' in log   # the log was captured
    for _ref, hkid, surname, given, passport in PEOPLE:
        for secret in (*forms(hkid), surname, given, passport):
            assert secret not in log, secret
