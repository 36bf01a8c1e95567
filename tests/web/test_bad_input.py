"""Bad input gets the contract's error and changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis
from conftest import bearer
from starlette.testclient import TestClient

C = "/api/v1/centres/wan-chai"


def snapshot(r: redis.Redis) -> dict[str, Any]:
    return {key: r.dump(key) for key in r.scan_iter("qs:*") if not key.startswith("qs:token")}


@pytest.fixture
def state(client: TestClient, tokens: dict[str, str], seed: Callable[..., Any]) -> None:
    seed("MEP1")
    client.post(C + "/photo-receipts", json={"barcode": "PH1"}, headers=bearer(tokens["photo"]))


CASES: list[tuple[str, str, Any, int, str]] = [
    ("POST", "/tickets", b"{not json", 400, "bad_request"),
    ("POST", "/tickets", b"[1, 2]", 400, "bad_request"),
    ("POST", "/tickets", {"booking_ref": "MEP1", "id_number": "A123456(3)"}, 400, "bad_request"),
    ("POST", "/tickets", {"booking_ref": 5, "id_number": "A123456(3)", "photo_barcode": "PH1"},
     400, "bad_request"),
    ("POST", "/tickets", {"booking_ref": "MEP1", "id_number": "A123456(3)",
                          "photo_barcode": "PH1", "priority": "yes"}, 400, "bad_request"),
    ("POST", "/tickets", {"booking_ref": "", "id_number": "A123456(3)", "photo_barcode": "PH1"},
     400, "bad_request"),
    ("POST", "/tickets", {"booking_ref": "M" * 10_000, "id_number": "A123456(3)",
                          "photo_barcode": "PH1"}, 400, "bad_request"),
    ("POST", "/tickets", b'{"a": "' + b"x" * 70_000 + b'"}', 413, "too_large"),
    ("POST", "/photo-receipts", {"barcode": ["PH2"]}, 400, "bad_request"),
    ("POST", "/counters/1/transfer", {}, 400, "bad_request"),
    ("POST", "/counters/1/call", {"ticket": 23}, 400, "bad_request"),
    ("POST", "/counters/99/open", None, 404, "not_found"),
    ("POST", "/counters/one/open", None, 404, "not_found"),
    ("GET", "/tickets/A404", None, 404, "not_found"),
    ("POST", "/tickets/A404/requeue", None, 404, "not_found"),
    ("GET", "/nowhere", None, 404, "not_found"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "code"), CASES)
def test_bad_input_changes_nothing(client: TestClient, tokens: dict[str, str], state: None,
                                   r: redis.Redis, method: str, path: str, body: Any,
                                   status: int, code: str) -> None:
    before = snapshot(r)
    kwargs: dict[str, Any] = {"content": body} if isinstance(body, bytes) else {"json": body}
    answer = client.request(method, C + path, headers=bearer(tokens["admin"]), **kwargs)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["code"] == code
    assert error["message_en"] and error["message_zh"]
    assert snapshot(r) == before


def test_an_unknown_centre_is_not_found(client: TestClient, tokens: dict[str, str]) -> None:
    answer = client.get("/api/v1/centres/atlantis/board", headers=bearer(tokens["admin"]))
    assert (answer.status_code, answer.json()["error"]["code"]) == (404, "not_found")


def test_the_body_is_checked_before_the_credential(client: TestClient) -> None:
    answer = client.post(C + "/tickets", content=b"{broken")
    assert answer.status_code == 400
    anonymous = client.post(C + "/tickets", json={"booking_ref": "X", "id_number": "Y",
                                                  "photo_barcode": "Z"})
    assert anonymous.status_code == 401
