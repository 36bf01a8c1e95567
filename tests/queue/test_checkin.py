"""The inquiry desk: every refusal, in the contract's order, and what a check-in issues."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import barcodes
import pytest
import redis
from conftest import DAY, MORNING, bearer
from starlette.testclient import TestClient

from queueserver.platform.clock import Clock
from queueserver.store import keys

URL = "/api/v1/centres/wan-chai/tickets"
PHOTO = "/api/v1/centres/wan-chai/photo-receipts"


def photo(client: TestClient, token: str, barcode: str, centre: str = "wan-chai") -> None:
    answer = client.post(f"/api/v1/centres/{centre}/photo-receipts", json={"barcode": barcode},
                         headers=bearer(token))
    assert answer.status_code == 201, answer.text


def check_in(client: TestClient, token: str, ref: str, id_number: str = "A123456(3)",
             barcode: str = "PH1", **extra: Any) -> Any:
    body = {"booking_ref": ref, "id_number": id_number, "photo_barcode": barcode, **extra}
    return client.post(URL, json=body, headers=bearer(token))


def code(answer: Any) -> str:
    return str(answer.json()["error"]["code"])


def test_a_booking_checks_in_and_gets_the_first_number(
        client: TestClient, tokens: dict[str, str], seed: Callable[..., Any],
        r: redis.Redis) -> None:
    seed("MEP1")
    photo(client, tokens["photo"], "PH1")
    answer = check_in(client, tokens["desk"], "MEP1")
    assert answer.status_code == 201
    ticket = answer.json()["ticket"]
    # The desk's TICKET carries the follow page's URL (CONTRACT §9, tests/follow/).
    assert re.fullmatch(r"http://testserver/t/[A-Za-z0-9_-]{32}", ticket.pop("follow_url"))
    assert ticket == {
        "number": "A001", "service": "A", "status": "waiting",
        "issued_at": MORNING.isoformat(), "position": 0, "estimated_wait_minutes": None,
        "counter": None, "called_at": None, "recalls": 0, "acceptance_no": None,
        "receipt_no": None,
    }
    events = r.xrange(keys.events("wan-chai"))
    assert [e[1]["type"] for e in events] == ["ticket.issued"]
    assert "MEP1" not in str(events) and "A123456" not in str(events)


def test_refusals_come_in_the_contracts_order(
        client: TestClient, tokens: dict[str, str], seed: Callable[..., Any],
        r: redis.Redis, clock: Clock) -> None:
    """Each request fails the check named AND every check after it: the first must win."""
    desk = tokens["desk"]
    tomorrow = (DAY + dt.timedelta(days=1)).isoformat()
    seed("CANC", centre="kowloon-bay", status="cancelled", date=tomorrow)
    seed("KLN", centre="kowloon-bay", date=tomorrow)
    seed("TMRW", date=tomorrow, slot_start="15:00", slot_end="15:30")
    seed("EARLY", slot_start="11:00", slot_end="11:30")
    seed("LATE", slot_start="08:00", slot_end="08:30")
    seed("OK1")
    seed("OK2", id_number="B987654(0)")
    seed("DONE", id_number="C668668(9)")
    photo(client, tokens["photo"], "USED")
    photo(client, tokens["photo"], "FRESH")
    photo(client, tokens["admin"], "ELSEWHERE", centre="kowloon-bay")
    assert check_in(client, desk, "DONE", "C668668(9)", "USED").status_code == 201

    cases = [
        ("NOPE", "A123456(4)", "UNKNOWN", "booking_not_found", 422),
        ("CANC", "A123456(4)", "UNKNOWN", "booking_cancelled", 422),
        ("KLN", "A123456(4)", "UNKNOWN", "wrong_centre", 422),
        ("TMRW", "A123456(4)", "UNKNOWN", "wrong_date", 422),
        ("EARLY", "A123456(4)", "UNKNOWN", "invalid_id_number", 422),
        ("EARLY", "B987654(0)", "UNKNOWN", "id_mismatch", 422),
        ("EARLY", "A123456(3)", "UNKNOWN", "too_early", 422),
        ("LATE", "A123456(3)", "UNKNOWN", "too_late", 422),
        ("OK1", "a123456 (3)", "ELSEWHERE", "photo_receipt_unknown", 422),
        ("OK1", "A1234563", "USED", "photo_receipt_used", 422),
    ]
    before = r.xlen(keys.events("wan-chai"))
    for ref, id_number, barcode, expected, status in cases:
        answer = check_in(client, desk, ref, id_number, barcode)
        assert (code(answer), answer.status_code) == (expected, status), ref
        body = answer.json()["error"]
        assert body["message_en"] and body["message_zh"]
        # No refusal repeats personal data back.
        assert ref not in answer.text and "123456" not in answer.text
    assert r.xlen(keys.events("wan-chai")) == before, "a refusal changed state"

    # Already checked in comes after the identity checks, before the window and photo checks,
    # and carries the existing ticket.
    clock.set(MORNING.replace(hour=16))
    again = check_in(client, desk, "DONE", "C668668(9)", "USED")
    assert (code(again), again.status_code) == ("already_checked_in", 409)
    assert again.json()["ticket"]["number"] == "A001"
    mismatch = check_in(client, desk, "DONE", "A123456(3)", "USED")
    assert code(mismatch) == "id_mismatch"


def test_override_window_is_for_supervisors_only(
        client: TestClient, tokens: dict[str, str], seed: Callable[..., Any]) -> None:
    seed("EARLY", slot_start="11:00", slot_end="11:30")
    photo(client, tokens["photo"], "PH1")
    refused = check_in(client, tokens["desk"], "EARLY", override_window=True)
    assert (refused.status_code, code(refused)) == (403, "forbidden")
    accepted = check_in(client, tokens["supervisor"], "EARLY", override_window=True)
    assert accepted.status_code == 201, accepted.text


def test_priority_tickets_go_to_the_priority_service(
        client: TestClient, tokens: dict[str, str], seed: Callable[..., Any]) -> None:
    seed("OLD", id_number="B987654(0)")
    seed("NEW")
    photo(client, tokens["photo"], "PH1")
    photo(client, tokens["photo"], "PH2")
    assert check_in(client, tokens["desk"], "OLD", "B987654(0)", "PH1",
                    priority=True).json()["ticket"]["number"] == "P001"
    assert check_in(client, tokens["desk"], "NEW", "A123456(3)", "PH2"
                    ).json()["ticket"]["number"] == "A001"


def test_access_notice_matches_its_reference(
        client: TestClient, tokens: dict[str, str], seed: Callable[..., Any]) -> None:
    seed("KID", id_kind="access_notice", id_number="ID(E)123/2026")
    photo(client, tokens["photo"], "PH1")
    assert code(check_in(client, tokens["desk"], "KID", "ID(E)999/2026")) == "id_mismatch"
    ok = check_in(client, tokens["desk"], "KID", "id(e) 123/2026")
    assert ok.status_code == 201, ok.text


def test_numbers_restart_each_local_day(
        client: TestClient, tokens: dict[str, str], seed: Callable[..., Any],
        clock: Clock) -> None:
    seed("D1")
    photo(client, tokens["photo"], "PH1")
    assert check_in(client, tokens["desk"], "D1").json()["ticket"]["number"] == "A001"
    # Just after local midnight (still the previous day in UTC): a new day, a new sequence.
    next_day = dt.datetime.combine(DAY + dt.timedelta(days=1), dt.time(0, 5), MORNING.tzinfo)
    seed("D2", date=next_day.date().isoformat(), slot_start="00:30", slot_end="01:00")
    clock.set(next_day)
    photo(client, tokens["photo"], "PH2")
    assert check_in(client, tokens["desk"], "D2", barcode="PH2"
                    ).json()["ticket"]["number"] == "A001"
    # Yesterday's ticket is not today's.
    old = client.get(URL + "/A001", headers=bearer(tokens["desk"])).json()["ticket"]
    assert old["issued_at"].startswith(next_day.date().isoformat())


def test_a_photo_receipt_is_registered_once(
        client: TestClient, tokens: dict[str, str]) -> None:
    photo(client, tokens["photo"], "PH1")
    again = client.post(PHOTO, json={"barcode": "PH1"}, headers=bearer(tokens["photo"]))
    assert (again.status_code, code(again)) == (409, "photo_receipt_exists")


def test_the_photo_booth_slip_barcode_is_drawn_by_the_server(
        client: TestClient, tokens: dict[str, str]) -> None:
    """The booth's slip carries the barcode as Code 128 from the server's one encoder, for
    those who may register photo receipts; anything a scanner could not give back is refused."""
    url = "/photo/wan-chai/barcode.svg"
    for text in ("PH-2026-0001", "PH1", "20260001", "a b/c?d%e#f"):
        answer = client.get(url, params={"text": text}, headers=bearer(tokens["photo"]))
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "image/svg+xml"
        assert answer.text.startswith("<svg ") and "style=" not in answer.text
        assert barcodes.read(answer.text) == text
    for text in ("", "PH\n1", "相片", "X" * 257):
        refused = client.get(url, params={"text": text}, headers=bearer(tokens["photo"]))
        assert (refused.status_code, code(refused)) == (400, "bad_request"), repr(text)
    assert client.get(url, params={"text": "PH1"}).status_code == 401
    assert client.get(url, params={"text": "PH1"}, headers=bearer(tokens["desk"])).status_code \
        == 403
    assert client.get("/photo/nowhere/barcode.svg", params={"text": "PH1"},
                      headers=bearer(tokens["admin"])).status_code == 404


@pytest.mark.parametrize("number", ["A999", "A1000"])
def test_numbers_grow_past_three_digits(
        client: TestClient, tokens: dict[str, str], seed: Callable[..., Any],
        r: redis.Redis, number: str) -> None:
    r.set(keys.sequence("wan-chai", DAY.isoformat(), "A"), int(number[1:]) - 1)
    seed("BIG")
    photo(client, tokens["photo"], "PH1")
    assert check_in(client, tokens["desk"], "BIG").json()["ticket"]["number"] == number
