"""A request body is read into its model (web/api/base.parse_body): what is wrong with it is
said in the contract's `bad_request`, naming the field and how it is wrong, and nothing runs."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from conftest import bearer
from starlette.testclient import TestClient

C = "/api/v1/centres/wan-chai"
CHECK_IN = {"booking_ref": "MEP1", "id_number": "A123456(3)", "photo_barcode": "PH1"}

CASES: list[tuple[str, Any, str]] = [
    ("/tickets", {**CHECK_IN, "booking_ref": None}, "Missing field 'booking_ref'."),
    ("/tickets", {"id_number": "A123456(3)", "photo_barcode": "PH1"},
     "Missing field 'booking_ref'."),
    ("/tickets", {**CHECK_IN, "photo_barcode": "  "}, "Field 'photo_barcode' is empty."),
    ("/tickets", {**CHECK_IN, "priority": 1}, "Field 'priority' has the wrong type."),
    ("/tickets", {**CHECK_IN, "id_number": "9" * 257}, "Field 'id_number' is too long."),
    ("/tickets", [CHECK_IN], "The body must be a JSON object."),
    ("/tickets", b"{oops", "The body is not valid JSON."),
    ("/tickets/A001/payment", {"method": "bitcoin", "amount_hkd": 320},
     "Field 'method' must be one of cash, eps, octopus, card."),
    ("/tickets/A001/payment", {"method": "cash", "amount_hkd": 2**60},
     "Field 'amount_hkd' is out of range."),
    ("/tickets/A001/decline", {"reason": "tired"},
     "Field 'reason' must be one of documents_missing, photo_rejected, not_eligible, other."),
    ("/counters/1/call", {"ticket": 23}, "Field 'ticket' has the wrong type."),
]


@pytest.mark.parametrize(("path", "body", "message"), CASES)
def test_a_wrong_body_is_named(client: TestClient, tokens: dict[str, str], r: redis.Redis,
                               path: str, body: Any, message: str) -> None:
    before = r.dbsize()
    kwargs: dict[str, Any] = {"content": body} if isinstance(body, bytes) else {"json": body}
    answer = client.post(C + path, headers=bearer(tokens["supervisor"]), **kwargs)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == {"code": "bad_request", "message_en": message,
                                      "message_zh": "請求格式不正確。"}
    assert r.dbsize() == before


def test_surrounding_spaces_are_dropped_and_null_is_left_out(
        client: TestClient, tokens: dict[str, str], seed: Any) -> None:
    seed("MEP1")
    photo = client.post(C + "/photo-receipts", json={"barcode": " PH1\n"},
                        headers=bearer(tokens["photo"]))
    assert photo.status_code == 201 and photo.json()["barcode"] == "PH1"
    answer = client.post(C + "/tickets", json={**CHECK_IN, "booking_ref": "  MEP1 ",
                                               "priority": None, "override_window": None},
                         headers=bearer(tokens["desk"]))
    assert answer.status_code == 201, answer.text
    assert answer.json()["ticket"]["number"] == "A001"
