"""The audit: a day's staff actions from the event stream, each naming its credential by id and
name (still after revocation), for the centre's supervisor and the admin only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis
from conftest import DAY, bearer
from service_path import Path
from starlette.testclient import TestClient

from queueserver.auth import credentials as auth

AUDIT = "/api/v1/centres/wan-chai/audit"


def test_every_staff_action_names_its_credential(
        client: TestClient, tokens: dict[str, str], seed: Callable[..., Any],
        r: redis.Redis) -> None:
    clerk, clerk_cred = auth.create_token(r, auth.Role.CLERK, "wan-chai", 2, name="amy-at-2")
    path = Path(client, tokens, seed)
    number = path.check_in(id_number="B987654(0)")
    assert path.call(2, token=clerk) == number
    assert auth.revoke_token(r, "amy-at-2")   # she has left; her actions still name her

    answer = client.get(AUDIT, headers=bearer(tokens["supervisor"]))
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["date"] == DAY.isoformat()
    actions = body["actions"]
    assert actions and all(a["at"].startswith(DAY.isoformat()) for a in actions)
    assert all(a["credential"]["id"] and a["credential"]["name"] for a in actions)
    called = [a for a in actions if a["type"] == "ticket.called"]
    assert [a["credential"] for a in called] == [
        {"id": clerk_cred.id, "name": "amy-at-2", "role": "clerk"}]
    assert called[0]["data"]["ticket"] == number and "by" not in called[0]["data"]
    desk = {a["credential"]["role"] for a in actions if a["type"] == "ticket.issued"}
    assert desk == {"desk"}
    # Who did what, never to whom: no personal data of the booking.
    for field in ("B987654", "SMITH", "JOHN", "MEP0001", "K1234567"):
        assert field not in answer.text


def test_a_day_is_chosen_by_date(client: TestClient, tokens: dict[str, str],
                                 seed: Callable[..., Any]) -> None:
    Path(client, tokens, seed).check_in()
    sup = bearer(tokens["supervisor"])
    assert client.get(AUDIT, params={"date": "2026-11-26"}, headers=sup).json()["actions"] == []
    assert client.get(AUDIT, params={"date": DAY.isoformat()}, headers=sup).json()["actions"]
    bad = client.get(AUDIT, params={"date": "yesterday"}, headers=sup)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_request"
    unknown = client.get("/api/v1/centres/atlantis/audit", headers=bearer(tokens["admin"]))
    assert unknown.status_code == 404
