"""`Idempotency-Key`: a repeat returns the first answer and does nothing again."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import redis
from conftest import bearer
from starlette.testclient import TestClient

from queueserver.queue.tickets import Centres
from queueserver.store import keys

C = "/api/v1/centres/wan-chai"


def post(client: TestClient, token: str, path: str, body: dict[str, Any] | None = None,
         key: str = "k1") -> Any:
    return client.post(C + path, json=body or {},
                       headers={**bearer(token), "Idempotency-Key": key})


def events(r: redis.Redis) -> list[str]:
    return [e[1]["type"] for e in r.xrange(keys.events("wan-chai"))]


@pytest.fixture
def ready(client: TestClient, tokens: dict[str, str], seed: Callable[..., Any]) -> None:
    seed("MEP1")
    client.post(C + "/photo-receipts", json={"barcode": "PH1"}, headers=bearer(tokens["photo"]))


CHECK_IN = {"booking_ref": "MEP1", "id_number": "A123456(3)", "photo_barcode": "PH1"}


def test_a_repeated_check_in_records_once(
        client: TestClient, tokens: dict[str, str], ready: None, r: redis.Redis) -> None:
    first = post(client, tokens["desk"], "/tickets", CHECK_IN)
    again = post(client, tokens["desk"], "/tickets", CHECK_IN)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert events(r) == ["ticket.issued"]
    # Without the key, the second try meets the business rule instead.
    plain = client.post(C + "/tickets", json=CHECK_IN, headers=bearer(tokens["desk"]))
    assert plain.json()["error"]["code"] == "already_checked_in"


def test_a_double_click_calls_once(
        client: TestClient, tokens: dict[str, str], ready: None, r: redis.Redis) -> None:
    post(client, tokens["desk"], "/tickets", CHECK_IN)
    answers = [post(client, tokens["clerk"], "/counters/1/call", key="call-1") for _ in range(3)]
    assert {a.status_code for a in answers} == {200}
    assert len({a.text for a in answers}) == 1
    assert events(r).count("ticket.called") == 1


def test_the_same_key_with_another_body_is_refused(
        client: TestClient, tokens: dict[str, str], ready: None, r: redis.Redis) -> None:
    post(client, tokens["photo"], "/photo-receipts", {"barcode": "PH2"})
    other = post(client, tokens["photo"], "/photo-receipts", {"barcode": "PH3"})
    assert (other.status_code, other.json()["error"]["code"]) == (422, "idempotency_mismatch")
    assert not r.exists(keys.photo_receipt("wan-chai", "PH3"))


def test_the_key_is_scoped_to_credential_method_and_path(
        client: TestClient, tokens: dict[str, str], ready: None) -> None:
    one = post(client, tokens["photo"], "/photo-receipts", {"barcode": "PH2"}, key="same")
    two = post(client, tokens["supervisor"], "/photo-receipts", {"barcode": "PH2"}, key="same")
    assert one.status_code == 201
    assert two.json()["error"]["code"] == "photo_receipt_exists"


def test_refusals_are_kept_too(
        client: TestClient, tokens: dict[str, str], seed: Callable[..., Any]) -> None:
    body = {**CHECK_IN, "booking_ref": "LATER"}
    first = post(client, tokens["desk"], "/tickets", body)
    assert first.json()["error"]["code"] == "booking_not_found"
    seed("LATER")
    assert post(client, tokens["desk"], "/tickets", body).json() == first.json()
    # A script's refusal is kept in the same script.
    busy = post(client, tokens["clerk"], "/counters/1/recall", key="r1")
    assert busy.json()["error"]["code"] == "no_current_ticket"
    assert post(client, tokens["clerk"], "/counters/1/recall", key="r1").json() == busy.json()


def test_a_repeat_while_the_first_runs_is_in_progress(
        client: TestClient, tokens: dict[str, str], ready: None, r: redis.Redis) -> None:
    post(client, tokens["photo"], "/photo-receipts", {"barcode": "PH2"}, key="slow")
    (key,) = r.keys("qs:{wan-chai}:idem:*")
    assert 24 * 3600 - 5 < r.ttl(key) <= 24 * 3600
    stored = json.loads(r.get(key) or "{}")
    r.set(key, json.dumps({"state": "in_progress", "fp": stored["fp"]}), ex=60)
    answer = post(client, tokens["photo"], "/photo-receipts", {"barcode": "PH2"}, key="slow")
    assert (answer.status_code, answer.json()["error"]["code"]) == (409, "in_progress")


def test_server_errors_are_not_kept(
        client: TestClient, tokens: dict[str, str], ready: None, r: redis.Redis,
        monkeypatch: pytest.MonkeyPatch) -> None:
    real = Centres.register_photo
    calls = 0

    async def flaky(self: Centres, *args: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("a fault")
        return await real(self, *args)

    monkeypatch.setattr(Centres, "register_photo", flaky)
    first = post(client, tokens["photo"], "/photo-receipts", {"barcode": "PH9"}, key="f")
    assert first.status_code == 500
    assert "fault" not in first.text       # nothing about internals in the answer
    second = post(client, tokens["photo"], "/photo-receipts", {"barcode": "PH9"}, key="f")
    assert second.status_code == 201


def test_an_operation_without_a_script_keeps_its_answer_too(
        client: TestClient, tokens: dict[str, str], r: redis.Redis) -> None:
    body = {"name": "desk-7", "password": "a long enough password", "role": "desk",
            "centre": "wan-chai"}
    headers = {**bearer(tokens["supervisor"]), "Idempotency-Key": "desk-7"}
    first = client.post("/api/v1/users", json=body, headers=headers)
    again = client.post("/api/v1/users", json=body, headers=headers)
    assert first.status_code < 300, first.text
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert r.sismember(keys.user_names(), "desk-7")
    # A token is a secret: its repeat gets the same credential, and the token shown once only.
    body = {"role": "display", "centre": "wan-chai", "name": "hall-tv-7"}
    headers = {**bearer(tokens["supervisor"]), "Idempotency-Key": "tv-7"}
    first = client.post("/api/v1/tokens", json=body, headers=headers)
    again = client.post("/api/v1/tokens", json=body, headers=headers)
    assert first.status_code < 300 and first.json()["token"], first.text
    assert (again.status_code, again.json()) == (first.status_code, {**first.json(),
                                                                      "token": None})
    assert r.hexists(keys.token_names(), "hall-tv-7")
