"""The booking platform's API in-process (CONTRACT §11), against the suite's real Redis: each
refusal where the contract puts it, moves, waiting lists, blocks, withdrawal, the token limits."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import redis
from conftest import bearer
from starlette.testclient import TestClient

from queueserver.appointments.applications import ApplicationStore
from queueserver.platform.clock import Clock
from queueserver.platform.config import Config
from queueserver.store import keys

from .conftest import MONDAY, TUESDAY, book, free, person

People = Callable[..., dict[str, str]]


def test_a_booking_takes_a_place_and_is_a_booking_of_section_2(
        client: TestClient, people: People, r: redis.Redis) -> None:
    t = people("APP1", "APP2")
    assert free(client, t["APP1"])["09:00"] == 6
    done = book(client, t["APP1"])
    assert done.status_code == 201, done.text
    assert done.json() == {"appointment": {"booking_ref": "APP1", "centre": "wan-chai",
                                           "date": MONDAY, "slot_start": "09:00",
                                           "slot_end": "09:30"}, "changes_left": 3}
    assert free(client, t["APP2"])["09:00"] == 5
    stored = r.hgetall(keys.booking("wan-chai", "APP1"))
    assert stored["status"] == "approved" and stored["surname"] == "CHAN"
    assert stored["id_masked"].startswith("A1") and "A123456" not in str(stored)
    assert r.hget(keys.booking_index(), "APP1") == "wan-chai"
    view = client.get(f"/api/v1/book/{t['APP1']}").json()
    assert view["appointment"]["slot_start"] == "09:00"
    assert view["application"] == {"application_type": "first", "name_masked": "CHAN, T*** M***"}


def test_a_move_frees_and_takes_in_one_step_and_counts_a_change(
        client: TestClient, people: People) -> None:
    t = people("APP1", "APP2")
    assert book(client, t["APP1"]).status_code == 201
    moved = book(client, t["APP1"], start="09:30")
    assert moved.status_code == 201 and moved.json()["changes_left"] == 2
    seen = free(client, t["APP2"])
    assert seen["09:00"] == 6 and seen["09:30"] == 5
    # The slot it holds already: nothing changes, no change counted.
    again = book(client, t["APP1"], start="09:30")
    assert again.status_code == 201 and again.json()["changes_left"] == 2


def test_no_changes_left_after_max_changes(client: TestClient, people: People) -> None:
    t = people("APP1")
    assert book(client, t["APP1"]).status_code == 201
    for start in ("09:30", "14:00", "14:30"):
        assert book(client, t["APP1"], start=start).status_code == 201
    refused = book(client, t["APP1"], start="09:00")
    assert (refused.status_code, refused.json()["error"]["code"]) == (422, "no_changes_left")
    assert client.get(f"/api/v1/book/{t['APP1']}").json()["changes_left"] == 0


def test_too_soon_for_a_new_slot_and_for_the_one_held(
        client: TestClient, people: People, clock: Clock) -> None:
    t = people("APP1")
    # Friday 09:20: Monday 09:00 is 71 hours ahead, but today's 09:30 is not 24.
    soon = book(client, t["APP1"], date="2026-11-27", start="14:00")
    assert (soon.status_code, soon.json()["error"]["code"]) == (422, "too_soon")
    assert book(client, t["APP1"]).status_code == 201
    clock.set(dt.datetime(2026, 11, 29, 12, 0, tzinfo=clock.tz))  # Sunday noon
    moving = book(client, t["APP1"], date=TUESDAY)
    assert (moving.status_code, moving.json()["error"]["code"]) == (422, "too_soon")
    cancelling = client.delete(f"/api/v1/book/{t['APP1']}/appointment")
    assert (cancelling.status_code, cancelling.json()["error"]["code"]) == (422, "too_soon")


def test_slot_unavailable_where_the_contract_says(
        client: TestClient, people: People, tokens: dict[str, str]) -> None:
    t = people("APP1")
    for date, start in (("2026-11-28", "09:00"),   # a Saturday: wan-chai does not work it
                        ("2026-12-25", "09:00"),   # a holiday
                        (MONDAY, "09:15"),         # not a slot's start
                        (MONDAY, "11:00"),         # outside the hours
                        ("2026-12-28", "09:00")):  # past the horizon (30 days)
        refused = book(client, t["APP1"], date=date, start=start)
        assert (refused.status_code, refused.json()["error"]["code"]) == \
            (422, "slot_unavailable"), (date, start)
    blocked = client.post("/api/v1/centres/wan-chai/appointments/blocks",
                          headers=bearer(tokens["supervisor"]),
                          json={"date": MONDAY, "start": "09:00", "end": "09:30",
                                "reason_en": "Works", "reason_zh": "維修"})
    assert blocked.status_code == 201, blocked.text
    refused = book(client, t["APP1"])
    assert (refused.status_code, refused.json()["error"]["code"]) == (422, "slot_unavailable")
    assert "09:00" not in free(client, t["APP1"])


def test_a_full_slot_answers_slot_full(client: TestClient, people: People) -> None:
    t = people(*(f"APP{i}" for i in range(7)))
    assert [book(client, t[f"APP{i}"]).status_code for i in range(6)] == [201] * 6
    refused = book(client, t["APP6"])
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "slot_full")
    assert "09:00" not in free(client, t["APP6"])


def test_slot_full_carries_the_days_free_slots_as_a_listing_of_that_day_shows_them(
        client: TestClient, people: People, tokens: dict[str, str]) -> None:
    t = people(*(f"APP{i}" for i in range(9)))
    for i in range(6):
        assert book(client, t[f"APP{i}"]).status_code == 201
    assert book(client, t["APP6"], start="09:30").status_code == 201
    assert client.post("/api/v1/centres/wan-chai/appointments/blocks",
                       headers=bearer(tokens["supervisor"]),
                       json={"date": MONDAY, "start": "14:00", "end": "14:30",
                             "reason_en": "Works", "reason_zh": "維修"}).status_code == 201
    refused = book(client, t["APP7"])
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "slot_full")
    listed = client.get(f"/api/v1/book/{t['APP8']}/slots",
                        params={"centre": "wan-chai", "from": MONDAY, "to": MONDAY}).json()
    # The refusal's fields are unchanged; the day's listing is added beside them.
    assert set(refused.json()) == {"error", "listing"}
    assert refused.json()["listing"] == listed
    assert [(s["start"], s["free"]) for s in listed["slots"]] == [("09:30", 5), ("14:30", 6)]


def test_the_waiting_list_offers_a_freed_place_to_the_first_and_holds_it(
        client: TestClient, people: People, r: redis.Redis) -> None:
    t = people(*(f"APP{i}" for i in range(27)))
    starts = ["09:00", "09:30", "14:00", "14:30"]
    for i in range(24):
        assert book(client, t[f"APP{i}"], start=starts[i // 6]).status_code == 201
    early = client.post(f"/api/v1/book/{t['APP24']}/waitlist",
                        json={"centre": "wan-chai", "date": TUESDAY})
    assert (early.status_code, early.json()["error"]["code"]) == (422, "day_not_full")
    for k in (24, 25):
        joined = client.post(f"/api/v1/book/{t[f'APP{k}']}/waitlist",
                             json={"centre": "wan-chai", "date": MONDAY})
        assert joined.status_code == 201, joined.text
        assert joined.json()["position"] == k - 23
    assert client.delete(f"/api/v1/book/{t['APP3']}/appointment").status_code == 204
    first = client.get(f"/api/v1/book/{t['APP24']}").json()
    assert first["offer"]["date"] == MONDAY and first["offer"]["start"] == "09:00"
    assert "offer" not in client.get(f"/api/v1/book/{t['APP25']}").json()
    # Held against everyone else: the slot shows no free place and refuses another.
    assert "09:00" not in free(client, t["APP26"])
    full = book(client, t["APP26"]).json()
    assert full["error"]["code"] == "slot_full"
    assert full["listing"] == {"centre": "wan-chai", "slots": []}  # a list, though empty
    taken = book(client, t["APP24"])
    assert taken.status_code == 201, taken.text
    assert "offer" not in client.get(f"/api/v1/book/{t['APP24']}").json()
    outbox = [e for e in r.lrange(keys.mail_outbox("wan-chai"), 0, -1) if '"offer"' in e]
    assert len(outbox) == 1 and '"ref":"APP24"' in outbox[0].replace(" ", "")


def test_at_most_three_waiting_lists(client: TestClient, people: People, r: redis.Redis) -> None:
    t = people("APP1")
    # Fill four days' places directly: the script reads only the counts.
    days = [MONDAY, TUESDAY, "2026-12-02", "2026-12-03"]
    for day in days:
        r.hset(keys.slot_places("wan-chai", day),
               mapping={s: 6 for s in ("09:00", "09:30", "14:00", "14:30")})
    for day in days[:3]:
        assert client.post(f"/api/v1/book/{t['APP1']}/waitlist",
                           json={"centre": "wan-chai", "date": day}).status_code == 201
    refused = client.post(f"/api/v1/book/{t['APP1']}/waitlist",
                          json={"centre": "wan-chai", "date": days[3]})
    assert (refused.status_code, refused.json()["error"]["code"]) == (422, "waitlist_limit")
    assert len(client.get(f"/api/v1/book/{t['APP1']}").json()["waitlist"]) == 3


def test_a_block_with_cancel_cancels_hides_and_lets_them_rebook_sooner(
        client: TestClient, people: People, tokens: dict[str, str], r: redis.Redis,
        clock: Clock) -> None:
    t = people(*(f"APP{i}" for i in range(1, 9)))
    assert book(client, t["APP1"]).status_code == 201
    for i in (2, 4, 5, 6, 7, 8):
        assert book(client, t[f"APP{i}"], start="14:00").status_code == 201
    blocked = client.post("/api/v1/centres/wan-chai/appointments/blocks",
                          headers=bearer(tokens["supervisor"]),
                          json={"date": MONDAY, "start": "09:00", "end": "12:00",
                                "reason_en": "Typhoon signal No. 8", "reason_zh": "八號風球",
                                "cancel": True})
    assert blocked.status_code == 201 and blocked.json()["cancelled"] == 1
    assert client.get(f"/api/v1/book/{t['APP1']}").json()["appointment"] is None
    assert client.get(f"/api/v1/book/{t['APP2']}").json()["appointment"] is not None
    assert set(free(client, t["APP3"])) == {"14:30"}
    assert any('"rebook"' in e for e in r.lrange(keys.mail_outbox("wan-chai"), 0, -1))
    day = client.get("/api/v1/centres/wan-chai/appointments", params={"date": MONDAY},
                     headers=bearer(tokens["supervisor"])).json()
    assert [(s["start"], s["booked"], s["blocked"]) for s in day["slots"]] == [
        ("09:00", 0, True), ("09:30", 0, True), ("14:00", 6, False), ("14:30", 0, False)]
    # Sunday evening: Monday 14:00 is inside the notice for all but the one the block cancelled.
    clock.set(dt.datetime(2026, 11, 29, 18, 0, tzinfo=clock.tz))
    assert book(client, t["APP3"], start="14:30").json()["error"]["code"] == "too_soon"
    # A full slot's refusal lists the day as this applicant may book it: inside the notice.
    full = book(client, t["APP1"], start="14:00").json()
    assert full["error"]["code"] == "slot_full"
    assert full["listing"]["slots"] == [{"date": MONDAY, "start": "14:30", "end": "15:00",
                                         "free": 6}]
    assert full["listing"]["slots"] == client.get(
        f"/api/v1/book/{t['APP1']}/slots",
        params={"centre": "wan-chai", "from": MONDAY, "to": MONDAY}).json()["slots"]
    assert book(client, t["APP1"], start="14:30").status_code == 201


def test_a_withdrawn_application_s_link_is_404_and_its_place_free(
        client: TestClient, people: People, r: redis.Redis, cfg: Config, clock: Clock) -> None:
    t = people("APP1", "APP2")
    assert book(client, t["APP1"]).status_code == 201
    ApplicationStore(r, b"test-secret", cfg, "test", clock).apply(
        [person("APP1", 0, status="withdrawn")])
    for path in ("", "/slots?centre=wan-chai"):
        gone = client.get(f"/api/v1/book/{t['APP1']}{path}")
        assert (gone.status_code, gone.json()["error"]["code"]) == (404, "not_found")
    assert client.get(f"/book/{t['APP1']}").status_code == 404
    assert free(client, t["APP2"])["09:00"] == 6
    assert r.hget(keys.booking("wan-chai", "APP1"), "status") == "cancelled"


def test_bad_tokens_are_404_alike_then_429_for_the_address(
        client: TestClient, people: People) -> None:
    t = people("APP1")
    near = t["APP1"][:-1] + ("B" if t["APP1"].endswith("A") else "A")  # one character off
    for bad in ("x" * 43, "short", near):
        answer = client.get(f"/api/v1/book/{bad}")
        assert (answer.status_code, answer.json()["error"]["code"]) == (404, "not_found")
    for _ in range(7):
        assert client.get(f"/api/v1/book/{'y' * 43}").status_code == 404
    # Ten failures: every /book route answers 429 to this address, a valid token too.
    for path in (f"/api/v1/book/{t['APP1']}", f"/book/{t['APP1']}"):
        limited = client.get(path)
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
    assert book(client, t["APP1"]).status_code == 429


def test_the_staff_view_is_for_supervisors(client: TestClient, tokens: dict[str, str]) -> None:
    for role, status in (("supervisor", 200), ("admin", 200), ("desk", 403), ("clerk", 403)):
        answer = client.get("/api/v1/centres/wan-chai/appointments",
                            params={"date": MONDAY}, headers=bearer(tokens[role]))
        assert answer.status_code == status, role


def test_the_view_counts_the_changes_left(client: TestClient, people: People) -> None:
    t = people("APP1")
    assert book(client, t["APP1"]).status_code == 201
    assert book(client, t["APP1"], start="09:30").status_code == 201
    assert client.get(f"/api/v1/book/{t['APP1']}").json()["changes_left"] == 2


def test_an_application_s_personal_fields_go_with_its_booking_s(
        client: TestClient, people: People, r: redis.Redis, cfg: Config) -> None:
    from queueserver.appointments import maintenance

    t = people("APP1", "APP2")
    assert book(client, t["APP1"]).status_code == 201
    assert maintenance.purge_applications(cfg, r) == 0    # nothing purged yet: nothing goes
    # The privacy purge (after collection) or an erasure empties the booking's fields.
    r.hset(keys.booking("wan-chai", "APP1"), mapping={"surname": "", "personal_removed_at": "x"})
    assert maintenance.purge_applications(cfg, r) == 1
    digest = r.hget(keys.application_refs(), "APP1")
    record = r.hgetall(keys.application(str(digest)))
    assert record["email"] == record["surname"] == record["id_hash"] == ""
    other = r.hgetall(keys.application(str(r.hget(keys.application_refs(), "APP2"))))
    assert other["email"] == "applicant1@example.test"
