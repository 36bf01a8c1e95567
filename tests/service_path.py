"""The applicant's path through the HTTP API, step by step, for the counter and kiosk tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from conftest import bearer
from starlette.testclient import TestClient

C = "/api/v1/centres/wan-chai"
FEES = {"first": 320, "renewal": 320, "reissue_lost": 480, "reissue_damaged": 320}


@dataclass
class Path:
    """Drives one centre's API as its staff do; `token` is whoever acts by default."""

    client: TestClient
    tokens: dict[str, str]
    seed: Callable[..., Any]
    issued: int = 0

    def post(self, path: str, body: dict[str, Any] | None = None, token: str | None = None,
             key: str | None = None) -> httpx.Response:
        headers = bearer(token or self.tokens["clerk"])
        if key:
            headers["Idempotency-Key"] = key
        return self.client.post(path if path.startswith("/") else f"{C}/{path}",
                                json=body or {}, headers=headers)

    def check_in(self, application_type: str = "first", id_number: str = "A123456(3)",
                 **booking: Any) -> str:
        self.issued += 1
        ref, barcode = f"MEP{self.issued:04d}", f"PH{self.issued}"
        self.seed(ref, application_type=application_type, id_number=id_number, **booking)
        self.post("photo-receipts", {"barcode": barcode}, self.tokens["photo"])
        answer = self.post("tickets", {"booking_ref": ref, "id_number": id_number,
                                       "photo_barcode": barcode}, self.tokens["desk"])
        assert answer.status_code == 201, answer.text
        return str(answer.json()["ticket"]["number"])

    def call(self, counter: int = 1, token: str | None = None) -> str:
        answer = self.post(f"counters/{counter}/call", token=token or self.tokens["supervisor"])
        assert answer.status_code == 200, answer.text
        return str(answer.json()["ticket"]["number"])

    def accept(self, number: str, **kw: Any) -> httpx.Response:
        return self.post(f"tickets/{number}/acceptance", **kw)

    def pay(self, number: str, amount: int = 320, method: str = "cash",
            **kw: Any) -> httpx.Response:
        return self.post(f"tickets/{number}/payment", {"method": method, "amount_hkd": amount},
                         **kw)

    def receipt(self, number: str, **kw: Any) -> httpx.Response:
        return self.post(f"tickets/{number}/receipt", **kw)

    def served(self, application_type: str = "first", id_number: str = "A123456(3)",
               counter: int = 1) -> dict[str, Any]:
        """Check in, call, accept, pay and take the receipt: the receipt's answer."""
        number = self.check_in(application_type, id_number)
        assert self.call(counter) == number
        token = self.tokens["supervisor"]
        assert self.accept(number, token=token).status_code == 200
        assert self.pay(number, FEES[application_type], token=token).status_code == 200
        answer = self.receipt(number, token=token)
        assert answer.status_code == 201, answer.text
        return dict(answer.json())
