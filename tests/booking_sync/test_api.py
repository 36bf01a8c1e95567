"""The bookings API: the day's list and the look-up, for the desk and the supervisor, with
personal data masked (CONTRACT §4 "look up ... today's bookings")."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from conftest import MORNING, bearer
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from queueserver.auth import credentials as auth
from queueserver.bookings.lookup import HISTORY_SHOWN
from queueserver.bookings.store import STORED
from queueserver.rules import identity
from queueserver.store import keys

C = "/api/v1/centres/wan-chai"
LOOKUP = C + "/bookings/lookup"
PERSON = {"surname": "CHEUNG", "given_names": "SIU MING", "id_number": "C668668(9)",
          "passport_no": "H9876543"}


@pytest.fixture
def day_of_bookings(seed: Any) -> None:
    seed("MEP3", slot_start="11:00", slot_end="11:30", id_number="Z683365(A)")
    seed("MEP1", **PERSON)
    seed("MEP2", slot_start="10:00", slot_end="10:30", status="cancelled",
         id_kind="access_notice", id_number="AN 2026/001234")
    seed("MEP9", date="2026-11-28")
    seed("MEPKB", centre="kowloon-bay")


def test_the_days_list_masks_identity_and_passport_numbers(
        client: TestClient, tokens: dict[str, str], day_of_bookings: None) -> None:
    client.post(C + "/photo-receipts", json={"barcode": "PH1"}, headers=bearer(tokens["photo"]))
    client.post(C + "/tickets", headers=bearer(tokens["desk"]), json={
        "booking_ref": "MEP1", "id_number": "C6686689", "photo_barcode": "PH1"})
    answer = client.get(C + "/bookings", headers=bearer(tokens["desk"]))
    assert answer.status_code == 200
    body = answer.json()
    assert (body["centre"], body["date"]) == ("wan-chai", "2026-11-27")  # today, by the clock
    assert [b["booking_ref"] for b in body["bookings"]] == ["MEP1", "MEP2", "MEP3"]
    assert body["totals"] == {"booked": 2, "checked_in": 1, "cancelled": 1}
    first = body["bookings"][0]
    assert first == {
        "booking_ref": "MEP1", "centre": "wan-chai", "date": "2026-11-27",
        "slot_start": "09:30", "slot_end": "10:00", "application_type": "first",
        "surname": "CHEUNG", "given_names": "SIU MING", "id_kind": "hkid",
        "id_masked": "C6****(9)", "passport_masked": "H9****43", "nationality": "GBR",
        "status": "approved", "checked_in": True,
        "ticket": {"number": "A001", "status": "waiting"}, "held_fields": [],
        "updated_at": "2026-11-27T09:20:00+08:00", "source": "test",
    }
    assert body["bookings"][1]["id_masked"] == "AN****34"
    # The full numbers and the stored hashes never leave the server.
    for secret in ("C668668", "C6686689", "H9876543", "id_hash", "id_verifier", "AN 2026"):
        assert secret not in answer.text


def test_another_day_and_a_bad_date(client: TestClient, tokens: dict[str, str],
                                    day_of_bookings: None) -> None:
    h = bearer(tokens["supervisor"])
    tomorrow = client.get(C + "/bookings?date=2026-11-28", headers=h).json()
    assert [b["booking_ref"] for b in tomorrow["bookings"]] == ["MEP9"]
    assert client.get(C + "/bookings?date=2026-12-25", headers=h).json()["bookings"] == []
    for bad in ("27/11/2026", "2026-02-30", "", "2026-1-05"):
        answer = client.get(C + "/bookings", params={"date": bad})  # body shape before credential
        assert (answer.status_code, answer.json()["error"]["code"]) == (400, "bad_request"), bad


@pytest.mark.parametrize("path", [C + "/bookings", LOOKUP])
def test_who_may_look_up_bookings(client: TestClient, tokens: dict[str, str], r: redis.Redis,
                                  path: str) -> None:
    allowed = {r.value for r in auth.PERMISSIONS[auth.Action.LOOK_UP]}
    assert allowed == {"admin", "supervisor", "desk", "clerk"}
    method = "GET" if path.endswith("/bookings") else "POST"
    body = None if method == "GET" else {"booking_ref": "MEP1"}
    for role, token in tokens.items():
        answer = client.request(method, path, headers=bearer(token), json=body)
        assert answer.status_code == (200 if role in allowed else 403), (role, answer.text)
    assert client.request(method, path, json=body).status_code == 401
    elsewhere = path.replace("wan-chai", "kowloon-bay")
    assert client.request(method, elsewhere, json=body,
                          headers=bearer(tokens["desk"])).status_code == 403
    unknown = path.replace("wan-chai", "sha-tin")
    answer = client.request(method, unknown, json=body, headers=bearer(tokens["admin"]))
    assert (answer.status_code, answer.json()["error"]["code"]) == (404, "not_found")


def test_the_look_up_shows_the_latest_history_its_creation_first(
        client: TestClient, tokens: dict[str, str], seed: Any, r: redis.Redis) -> None:
    """A booking's creation is kept on its record (bookings/history.py), shown as its history's
    first entry while it is among the latest HISTORY_SHOWN."""
    seed("MEP1", **PERSON)
    for n in range(HISTORY_SHOWN - 1):
        seed("MEP1", **{**PERSON, "given_names": f"SIU MING {n}"})

    def history() -> list[dict[str, Any]]:
        [found] = client.post(LOOKUP, json={"booking_ref": "MEP1"},
                              headers=bearer(tokens["clerk"])).json()["bookings"]
        return list(found["history"])

    shown = history()
    assert [e["change"] for e in shown] == ["created"] + ["updated"] * (HISTORY_SHOWN - 1)
    assert shown[0] == {"at": MORNING.isoformat(), "change": "created", "source": "test",
                        "fields": list(STORED)}
    assert shown[1]["fields"] == ["given_names"]
    assert r.llen(keys.booking_history("wan-chai", "MEP1")) == HISTORY_SHOWN - 1
    seed("MEP1", **PERSON)
    assert [e["change"] for e in history()] == ["updated"] * HISTORY_SHOWN


def test_look_up_by_reference(client: TestClient, tokens: dict[str, str],
                              day_of_bookings: None) -> None:
    h = bearer(tokens["clerk"])
    [found] = client.post(LOOKUP, json={"booking_ref": "MEP1"}, headers=h).json()["bookings"]
    assert (found["surname"], found["id_masked"]) == ("CHEUNG", "C6****(9)")
    assert [e["change"] for e in found["history"]] == ["created"]
    assert client.post(LOOKUP, json={"booking_ref": "NOPE"}, headers=h).json() == {
        "bookings": []}
    for odd in ("MEP1:x", "MEP-1", "{wan-chai}", "M" * 33):
        assert client.post(LOOKUP, json={"booking_ref": odd}, headers=h).json() == {
            "bookings": []}
    assert client.post(LOOKUP, json={"booking_ref": "MEPKB"}, headers=h).json() == {
        "bookings": [], "other_centre": "kowloon-bay"}


def test_look_up_by_the_full_identity_number_in_the_body(
        client: TestClient, tokens: dict[str, str], seed: Any, day_of_bookings: None) -> None:
    seed("MEP5", date="2026-12-01", **PERSON)
    h = bearer(tokens["desk"])
    for written in ("C668668(9)", "c6686689", " C668668 (9) "):
        answer = client.post(LOOKUP, json={"id_number": written}, headers=h)
        assert [b["booking_ref"] for b in answer.json()["bookings"]] == ["MEP1", "MEP5"]
        assert "C668668" not in answer.text
    notice = client.post(LOOKUP, json={"id_number": "an 2026/001234"}, headers=h).json()
    assert [b["booking_ref"] for b in notice["bookings"]] == ["MEP2"]
    assert client.post(LOOKUP, json={"id_number": "B765432(A)"}, headers=h).json() == {
        "bookings": []}
    wrong = client.post(LOOKUP, json={"id_number": "C668668(8)"}, headers=h)
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (422, "invalid_id_number")
    # Never in a URL: there is no route that takes it there.
    assert client.get(C + "/bookings/lookup?id_number=C6686689", headers=h).status_code == 405


@pytest.mark.parametrize("body", [{}, {"booking_ref": "MEP1", "id_number": "C6686689"},
                                  {"booking_ref": ""}, {"booking_ref": 7}, [1]])
def test_a_lookup_needs_exactly_one_of_reference_or_number(
        client: TestClient, body: Any) -> None:
    answer = client.post(LOOKUP, json=body)  # the body is checked before the credential
    assert (answer.status_code, answer.json()["error"]["code"]) == (400, "bad_request")


def _lookup_failures(client: TestClient, outcome: str) -> float:
    text = client.get("/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if (sample.name == "queueserver_booking_lookup_failures_total"
                    and sample.labels == {"centre": "wan-chai", "outcome": outcome}):
                return float(sample.value)
    return 0.0


def test_another_days_list_is_for_the_supervisor_and_the_admin(
        client: TestClient, tokens: dict[str, str], day_of_bookings: None) -> None:
    """CONTRACT §4: desk and clerk look up today's bookings, names and all; not other days'."""
    for role in ("desk", "clerk"):
        h = bearer(tokens[role])
        assert client.get(C + "/bookings?date=2026-11-27", headers=h).status_code == 200
        for day in ("2026-11-28", "2026-11-26"):
            answer = client.get(C + f"/bookings?date={day}", headers=h)
            assert (answer.status_code, answer.json()["error"]["code"]) == (403, "forbidden")
            assert "MEP9" not in answer.text
    for role in ("supervisor", "admin"):
        answer = client.get(C + "/bookings?date=2026-11-28", headers=bearer(tokens[role]))
        assert [b["booking_ref"] for b in answer.json()["bookings"]] == ["MEP9"], role


def test_one_passport_mask_everywhere(client: TestClient, tokens: dict[str, str],
                                     seed: Any) -> None:
    """Two masks of one number showing different characters would show more together: every
    answer shows the same, at most 4 characters of it."""
    seed("MEP1", **PERSON)
    h = bearer(tokens["supervisor"])
    client.post(C + "/photo-receipts", json={"barcode": "PH1"}, headers=bearer(tokens["photo"]))
    number = client.post(C + "/tickets", headers=bearer(tokens["desk"]), json={
        "booking_ref": "MEP1", "id_number": "C6686689", "photo_barcode": "PH1"},
    ).json()["ticket"]["number"]
    shown = {
        client.get(C + "/bookings", headers=h).json()["bookings"][0]["passport_masked"],
        client.post(LOOKUP, json={"booking_ref": "MEP1"}, headers=h).json()["bookings"][0][
            "passport_masked"],
        client.get(C + f"/tickets/{number}/booking", headers=h).json()["booking"][
            "passport_masked"],
    }
    assert shown == {"H9****43"}
    assert len(shown.pop().replace("*", "")) <= 4


def test_failed_look_ups_are_limited_per_credential_and_counted(
        client: TestClient, tokens: dict[str, str], r: redis.Redis, day_of_bookings: None) -> None:
    """A desk reading identity numbers off their masks misses nearly every try: after 10 misses
    in 15 minutes its look-ups are refused, found or not, until the window ends."""
    desk = bearer(tokens["desk"])
    missed, refused = _lookup_failures(client, "missed"), _lookup_failures(client, "refused")
    found = client.post(LOOKUP, json={"id_number": "C668668(9)"}, headers=desk)
    assert [b["booking_ref"] for b in found.json()["bookings"]] == ["MEP1"]  # no miss
    guesses = [{"id_number": f"C66866{d}({identity.hkid_check_digit('C', f'66866{d}')})"}
               for d in "0123567"] + [{"booking_ref": "NOPE"}, {"id_number": "C668668(8)"},
                                      {"booking_ref": "MEPKB"}]
    for body in guesses:
        answer = client.post(LOOKUP, json=body, headers=desk)
        assert answer.status_code in (200, 422), answer.text
        assert answer.json().get("bookings", []) == []
    assert _lookup_failures(client, "missed") == missed + 10
    for body in ({"id_number": "C668668(9)"}, {"booking_ref": "MEP1"}):
        answer = client.post(LOOKUP, json=body, headers=desk)
        assert (answer.status_code, answer.json()["error"]["code"]) == (429, "rate_limited")
        assert 0 < int(answer.headers["retry-after"]) <= 15 * 60
        assert "CHEUNG" not in answer.text
    assert _lookup_failures(client, "refused") == refused + 2
    # Another credential is not held back by this one; the day's list is no look-up.
    assert client.post(LOOKUP, json={"booking_ref": "MEP1"},
                       headers=bearer(tokens["clerk"])).json()["bookings"]
    assert client.get(C + "/bookings", headers=desk).status_code == 200
    # The window ends (its key expires): the desk looks up again.
    r.delete(keys.lookup_failures(auth.lookup_token(r, tokens["desk"]).id))  # type: ignore[union-attr]
    assert client.post(LOOKUP, json={"booking_ref": "MEP1"}, headers=desk).status_code == 200
