"""Every role against every route, from one expected table (CONTRACT §4)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from conftest import bearer, everything_in
from starlette.testclient import TestClient

from queueserver.auth import credentials as auth
from queueserver.store import keys

C = "/api/v1/centres/wan-chai"
ROLES = ["admin", "supervisor", "desk", "clerk", "display", "kiosk", "photo"]

# route -> the roles that may use it, written out from CONTRACT §4 (not from the code).
EXPECTED: list[tuple[str, str, dict[str, Any] | None, set[str]]] = [
    ("POST", C + "/photo-receipts", {"barcode": "X1"}, {"admin", "supervisor", "photo"}),
    ("POST", C + "/tickets", {"booking_ref": "R", "id_number": "A123456(3)",
                              "photo_barcode": "X"}, {"admin", "supervisor", "desk"}),
    ("POST", C + "/tickets/A001/requeue", None, {"admin", "supervisor", "desk"}),
    ("GET", C + "/tickets/A001", None, {"admin", "supervisor", "desk", "clerk"}),
    *(("POST", f"{C}/counters/1/{a}", None, {"admin", "supervisor", "clerk"})
      for a in ("open", "pause", "resume", "close", "call", "recall", "no-show")),
    ("POST", C + "/counters/1/transfer", {"service": "P"}, {"admin", "supervisor", "clerk"}),
    ("GET", C + "/board", None, {"admin", "supervisor", "desk", "clerk", "display"}),
]


@pytest.mark.parametrize(("method", "path", "body", "allowed"), EXPECTED,
                         ids=[f"{m} {p.removeprefix(C)}" for m, p, _, _ in EXPECTED])
def test_every_role_on_every_route(client: TestClient, tokens: dict[str, str], method: str,
                                   path: str, body: dict[str, Any] | None,
                                   allowed: set[str]) -> None:
    for role in ROLES:
        answer = client.request(method, path, json=body, headers=bearer(tokens[role]))
        if role in allowed:
            assert answer.status_code not in (401, 403), (role, answer.text)
        else:
            assert answer.status_code == 403, (role, answer.text)
            assert answer.json()["error"]["code"] == "forbidden"
    anonymous = client.request(method, path, json=body)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "unauthenticated"
    wrong = client.request(method, path, json=body, headers=bearer("qs_not-a-token"))
    assert wrong.status_code == 401


def test_the_table_in_code_matches_the_contract() -> None:
    by_path = {"/photo-receipts": auth.Action.PHOTO, "/tickets": auth.Action.CHECK_IN,
               "/board": auth.Action.BOARD, "/counters/1/call": auth.Action.COUNTER,
               "/tickets/A001": auth.Action.LOOK_UP}
    for method, path, _, allowed in EXPECTED:
        action = by_path.get(path.removeprefix(C))
        if action and not (method == "GET" and path.endswith("/tickets")):
            assert {r.value for r in auth.PERMISSIONS[action]} == allowed, path


def test_a_centre_bound_credential_stays_in_its_centre(
        client: TestClient, tokens: dict[str, str]) -> None:
    other = "/api/v1/centres/kowloon-bay"
    for role, path in [("supervisor", "/counters/1/open"), ("display", "/board"),
                       ("desk", "/tickets/A001")]:
        method = "GET" if path in ("/board", "/tickets/A001") else "POST"
        answer = client.request(method, other + path, headers=bearer(tokens[role]))
        assert answer.status_code == 403, role
    assert client.get(other + "/board", headers=bearer(tokens["admin"])).status_code == 200


def test_a_clerk_with_a_counter_acts_at_that_counter_only(
        client: TestClient, tokens: dict[str, str], r: Any) -> None:
    clerk = tokens["clerk"]   # bound to counter 1
    assert client.post(C + "/counters/1/open", headers=bearer(clerk)).status_code == 200
    assert client.post(C + "/counters/2/open", headers=bearer(clerk)).status_code == 403
    free_clerk, _ = auth.create_token(r, auth.Role.CLERK, "wan-chai")
    assert client.post(C + "/counters/2/open", headers=bearer(free_clerk)).status_code == 200


def test_a_revoked_token_is_refused_on_the_next_request(
        client: TestClient, r: Any) -> None:
    token, cred = auth.create_token(r, auth.Role.DISPLAY, "wan-chai", name="hall-tv-1")
    assert client.get(C + "/board", headers=bearer(token)).status_code == 200
    # The display's page takes it in the URL (CONTRACT §5), so it is refused there too.
    assert client.get("/display/wan-chai", params={"token": token}).status_code == 200
    assert auth.revoke_token(r, "hall-tv-1")
    assert client.get(C + "/board", headers=bearer(token)).status_code == 401
    assert client.get("/display/wan-chai", params={"token": token}).status_code == 401


def test_a_token_in_the_url_opens_only_the_display_and_kiosk_pages(
        client: TestClient, tokens: dict[str, str], r: Any) -> None:
    """CONTRACT §5: `?token=` is for the display and kiosk pages and the WebSocket only. A
    supervisor's token in any other URL is not looked at: it creates no credential and opens no
    staff page, and the redirect to /login does not carry it along."""
    sup = tokens["supervisor"]
    before = set(r.hkeys(keys.token_names()))
    made = client.post("/api/v1/tokens", params={"token": sup},
                       json={"role": "display", "centre": "wan-chai", "name": "sneaked-in"})
    assert made.status_code == 401 and made.json()["error"]["code"] == "unauthenticated"
    assert set(r.hkeys(keys.token_names())) == before
    assert client.get(C + "/board", params={"token": sup}).status_code == 401
    # Decoded names count as well: Starlette reads `%74oken` as `token`.
    assert client.get(C + "/board?%74oken=" + sup).status_code == 401
    for page in ("/admin", "/desk/wan-chai", "/counter/wan-chai/1", "/photo/wan-chai"):
        answer = client.get(page, params={"token": sup, "lang": "en"}, follow_redirects=False)
        assert answer.status_code == 303, page
        assert answer.headers["location"] == "/login?next=" + quote(f"{page}?lang=en", safe="/")
        assert sup not in answer.headers["location"]
    sneaky = client.get("/admin?%74oken=" + sup, follow_redirects=False)
    assert sneaky.headers["location"] == "/login?next=/admin"
    # Where the contract allows it, the same token works.
    assert client.get("/display/wan-chai", params={"token": sup}).status_code == 200
    assert client.get("/kiosk/wan-chai", params={"token": tokens["kiosk"]}).status_code == 200
    with client.websocket_connect(f"/ws/centres/wan-chai/events?%74oken={sup}") as ws:
        assert ws.receive_json()["type"] == "board"


def test_tokens_are_stored_hashed(client: TestClient, tokens: dict[str, str], r: Any) -> None:
    """Nowhere in Redis, of any key type, under any key: made by the command and by the API,
    whose Idempotency-Key keeps answers for a repeat (the repeat gets the credential, not the
    token again)."""
    token, _ = auth.create_token(r, auth.Role.DESK, "wan-chai")
    made = client.post("/api/v1/tokens", json={"role": "display", "centre": "wan-chai"},
                       headers={**bearer(tokens["admin"]), "Idempotency-Key": "tv-1"})
    assert made.status_code == 201, made.text
    by_api = made.json()["token"]
    assert auth.lookup_token(r, by_api) is not None
    stored = everything_in(r)
    assert "qs:idem:" in stored and auth.hash_token(by_api) in stored  # the scan reaches them
    for plain in (token, by_api, by_api[3:]):
        assert plain not in stored
    again = client.post("/api/v1/tokens", json={"role": "display", "centre": "wan-chai"},
                        headers={**bearer(tokens["admin"]), "Idempotency-Key": "tv-1"})
    assert again.status_code == 201
    assert again.json() == {**made.json(), "token": None}
    assert r.hlen(keys.token_names()) == len(tokens) + 2     # the repeat made none
