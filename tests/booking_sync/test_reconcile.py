"""Reconciliation: what each change of the booking platform does to the centre's bookings, as
the desk and the supervisor then see them (the import's store, the bookings API, check-in)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import redis
from booking_exports import LATER, booking, history, run, write_csv
from conftest import bearer
from starlette.testclient import TestClient

from queueserver.store import keys

C = "/api/v1/centres/wan-chai"
KB = "/api/v1/centres/kowloon-bay"


def check_in(client: TestClient, tokens: dict[str, str], ref: str = "MEP240001",
             id_number: str = "A123456(3)", barcode: str = "PH1") -> Any:
    client.post(C + "/photo-receipts", json={"barcode": barcode},
                headers=bearer(tokens["photo"]))
    return client.post(C + "/tickets", headers=bearer(tokens["desk"]), json={
        "booking_ref": ref, "id_number": id_number, "photo_barcode": barcode})


def day(client: TestClient, tokens: dict[str, str], base: str = C,
        date: str = "2026-11-27") -> list[dict[str, Any]]:
    answer = client.get(f"{base}/bookings?date={date}", headers=bearer(tokens["admin"]))
    assert answer.status_code == 200, answer.text
    bookings: list[dict[str, Any]] = answer.json()["bookings"]
    return bookings


def find(client: TestClient, tokens: dict[str, str], base: str = C, **body: str) -> Any:
    answer = client.post(f"{base}/bookings/lookup", json=body, headers=bearer(tokens["admin"]))
    assert answer.status_code == 200, answer.text
    return answer.json()


def snapshot(r: redis.Redis) -> dict[str, Any]:
    return {k: r.dump(k) for k in r.scan_iter("qs:*") if not k.startswith("qs:token")}


def test_a_new_booking_is_listed_with_where_it_came_from(
        client: TestClient, tokens: dict[str, str], r: redis.Redis, tmp_path: Path) -> None:
    c, _ = run(r, write_csv(tmp_path / "monday.csv", [booking()]))
    assert c.imported == 1
    [listed] = day(client, tokens)
    assert (listed["booking_ref"], listed["status"], listed["checked_in"]) == (
        "MEP240001", "approved", False)
    [found] = find(client, tokens, booking_ref="MEP240001")["bookings"]
    [created] = found["history"]
    assert (created["change"], created["source"], created["at"]) == (
        "created", "monday.csv", "2026-11-26T18:00:00+08:00")


def test_a_moved_slot_updates_the_booking_and_its_place_in_the_day(
        client: TestClient, tokens: dict[str, str], r: redis.Redis, tmp_path: Path) -> None:
    second = booking(booking_ref="MEP2", slot_start="10:00", slot_end="10:30")
    run(r, write_csv(tmp_path / "a.csv", [booking(), second]))
    assert [b["booking_ref"] for b in day(client, tokens)] == ["MEP240001", "MEP2"]
    c, _ = run(r, write_csv(tmp_path / "b.csv", [booking(slot_start="11:00", slot_end="11:30")]),
               at=LATER)
    assert str(c) == "imported=0 updated=1 cancelled=0 unchanged=0 rejected=0"
    listed = day(client, tokens)
    assert [(b["booking_ref"], b["slot_start"]) for b in listed] == [
        ("MEP2", "10:00"), ("MEP240001", "11:00")]
    last = history(r, "wan-chai", "MEP240001")[-1]
    assert (last["change"], last["fields"], last["source"], last["at"]) == (
        "updated", ["slot_start", "slot_end"], "b.csv", LATER)


def test_a_moved_date_leaves_the_old_days_list(
        client: TestClient, tokens: dict[str, str], r: redis.Redis, tmp_path: Path) -> None:
    run(r, write_csv(tmp_path / "a.csv", [booking()]))
    run(r, write_csv(tmp_path / "b.csv", [booking(date="2026-11-30")]))
    assert day(client, tokens) == []
    assert [b["booking_ref"] for b in day(client, tokens, date="2026-11-30")] == ["MEP240001"]
    assert r.zrange(keys.bookings_on("wan-chai", "2026-11-27"), 0, -1) == []


def test_a_moved_centre_is_found_only_at_its_new_centre(
        client: TestClient, tokens: dict[str, str], r: redis.Redis, tmp_path: Path) -> None:
    run(r, write_csv(tmp_path / "a.csv", [booking()]))
    c, _ = run(r, write_csv(tmp_path / "b.csv", [booking(centre="kowloon-bay")]))
    assert c.updated == 1
    assert day(client, tokens) == []
    assert [b["booking_ref"] for b in day(client, tokens, KB)] == ["MEP240001"]
    assert find(client, tokens, booking_ref="MEP240001") == {
        "bookings": [], "other_centre": "kowloon-bay"}
    assert find(client, tokens, id_number="A123456(3)") == {"bookings": []}
    [there] = find(client, tokens, KB, id_number="a1234563")["bookings"]
    assert [e["change"] for e in there["history"]] == ["moved_in"]
    refused = check_in(client, tokens)
    assert (refused.status_code, refused.json()["error"]["code"]) == (422, "wrong_centre")


def test_a_cancelled_booking_is_refused_at_the_desk_from_then_on(
        client: TestClient, tokens: dict[str, str], r: redis.Redis, tmp_path: Path) -> None:
    run(r, write_csv(tmp_path / "a.csv", [booking()]))
    c, _ = run(r, write_csv(tmp_path / "b.csv", [booking(status="cancelled")]))
    assert c.cancelled == 1
    refused = check_in(client, tokens)
    assert (refused.status_code, refused.json()["error"]["code"]) == (422, "booking_cancelled")
    answer = client.get(C + "/bookings", headers=bearer(tokens["desk"])).json()
    assert [b["status"] for b in answer["bookings"]] == ["cancelled"]
    assert answer["totals"] == {"booked": 0, "checked_in": 0, "cancelled": 1}


def test_cancelled_after_check_in_keeps_the_ticket_and_is_reported_not_applied(
        client: TestClient, tokens: dict[str, str], r: redis.Redis, tmp_path: Path) -> None:
    run(r, write_csv(tmp_path / "a.csv", [booking()]))
    assert check_in(client, tokens).json()["ticket"]["number"] == "A001"
    late = write_csv(tmp_path / "late.csv", [booking(status="cancelled")])
    c, lines = run(r, late, at=LATER)
    assert str(c) == "imported=0 updated=0 cancelled=0 unchanged=1 rejected=0"
    assert lines == ["row 2: held: checked in as A001, so the change to status is not applied"]
    stored = r.hgetall(keys.booking("wan-chai", "MEP240001"))
    assert (stored["status"], stored["ticket"], stored["updated_at"]) == (
        "approved", "A001", "2026-11-26T18:00:00+08:00")
    held = history(r, "wan-chai", "MEP240001")[-1]
    assert held == {"at": LATER, "source": "late.csv", "change": "held", "fields": ["status"],
                    "ticket": "A001", "status": "cancelled"}
    [listed] = day(client, tokens)
    assert (listed["status"], listed["checked_in"], listed["ticket"], listed["held_fields"]) == (
        "approved", True, {"number": "A001", "status": "waiting"}, ["status"])

    # The same export again: reported again, nothing written.
    before = snapshot(r)
    c, lines = run(r, late)
    assert (c.unchanged, len(lines)) == (1, 1)
    assert snapshot(r) == before

    # The platform withdraws the cancellation: the hold goes, and the history says so.
    c, lines = run(r, write_csv(tmp_path / "again.csv", [booking()]))
    assert (c.unchanged, lines) == (1, [])
    assert history(r, "wan-chai", "MEP240001")[-1]["change"] == "held_withdrawn"
    assert day(client, tokens)[0]["held_fields"] == []
    assert "held_fp" not in r.hgetall(keys.booking("wan-chai", "MEP240001"))


def test_a_move_of_centre_after_check_in_is_held_where_it_is(
        client: TestClient, tokens: dict[str, str], r: redis.Redis, tmp_path: Path) -> None:
    run(r, write_csv(tmp_path / "a.csv", [booking()]))
    assert check_in(client, tokens).status_code == 201
    c, lines = run(r, write_csv(tmp_path / "b.csv", [
        booking(centre="kowloon-bay", slot_start="14:00", slot_end="14:30")]))
    assert (c.unchanged, c.updated) == (1, 0)
    assert lines == ["row 2: held: checked in as A001, so the change to centre, slot_start, "
                     "slot_end, id_verifier is not applied"]
    assert r.hget(keys.booking_index(), "MEP240001") == "wan-chai"
    assert not r.exists(keys.booking("kowloon-bay", "MEP240001"))
    assert r.hget(keys.booking("wan-chai", "MEP240001"), "status") == "approved"
    assert history(r, "wan-chai", "MEP240001")[-1]["to"] == "kowloon-bay"
    assert [b["booking_ref"] for b in day(client, tokens)] == ["MEP240001"]


def test_a_reference_twice_in_one_file_ends_as_its_last_row(
        client: TestClient, tokens: dict[str, str], r: redis.Redis, tmp_path: Path) -> None:
    twice = write_csv(tmp_path / "twice.csv", [booking(slot_start="10:00", slot_end="10:30"),
                                               booking()])
    c, _ = run(r, twice)
    assert str(c) == "imported=1 updated=1 cancelled=0 unchanged=0 rejected=0"
    assert day(client, tokens)[0]["slot_start"] == "09:30"
    before = snapshot(r)
    assert str(run(r, twice)[0]) == "imported=0 updated=0 cancelled=0 unchanged=2 rejected=0"
    assert snapshot(r) == before

    # Checked in, then an export with two differing rows for it: both held, in row order;
    # the same export again reports the hold once and writes nothing.
    assert check_in(client, tokens).status_code == 201
    late = write_csv(tmp_path / "late.csv", [booking(status="cancelled"),
                                             booking(surname="SMYTH")])
    c, lines = run(r, late)
    assert (c.unchanged, len(lines)) == (2, 2)
    assert lines == ["row 2: held: checked in as A001, so the change to status is not applied",
                     "row 3: held: checked in as A001, so the change to surname is not applied"]
    before = snapshot(r)
    c, lines = run(r, late)
    assert (c.unchanged, len(lines)) == (2, 1)
    assert snapshot(r) == before
