"""Personal data under the PDPO: a supervisor's export and erasure of one person's data (by
booking reference, or by identity number in the body), the purge a configured number of days
after collection, and the audit of each; the anonymous statistics survive all of them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import redis
from conftest import MORNING, SECRET, bearer, everything_in
from service_path import Path
from starlette.testclient import TestClient

from queueserver.operations import privacy, stats
from queueserver.platform import config as config_mod
from queueserver.platform.clock import Clock
from queueserver.store import keys
from queueserver.tools.worker import SCHEDULE

C = "/api/v1/centres/wan-chai"
PERSONAL = ("surname", "given_names", "id_hash", "id_masked", "id_verifier", "passport_no",
            "nationality")
KEPT = ("ref", "centre", "date", "slot_start", "application_type", "status")


def figures(r: redis.Redis) -> dict[str, Any]:
    return stats.compute(stats.read_events(r, keys.events("wan-chai")), MORNING.date().isoformat(),
                         15)


def audit(client: TestClient, token: str) -> list[dict[str, Any]]:
    answer = client.get(C + "/audit", headers=bearer(token))
    assert answer.status_code == 200, answer.text
    return list(answer.json()["actions"])


def test_export_by_reference_gives_what_is_held_and_is_audited(
        client: TestClient, tokens: dict[str, str], seed: Callable[..., Any]) -> None:
    seed("MEP0042", id_number="C668668(9)")
    sup = bearer(tokens["supervisor"])
    answer = client.post(C + "/personal-data/export", json={"booking_ref": "MEP0042"},
                         headers=sup)
    assert answer.status_code == 200, answer.text
    (booking,) = answer.json()["bookings"]
    assert booking["surname"] == "SMITH" and booking["passport_no"] == "K1234567"
    assert booking["id_masked"] and "id_hash" not in booking and "id_verifier" not in booking
    # Its creation, kept on its record, is an entry of its history, not a field of its own.
    assert [e["change"] for e in booking["history"]] == ["created"]
    assert "created_at" not in booking and "created_source" not in booking
    (entry,) = [a for a in audit(client, tokens["supervisor"])
                if a["type"] == "personal_data.exported"]
    assert entry["credential"]["role"] == "supervisor"
    assert entry["data"]["ref_hashes"] == [privacy.ref_hash(SECRET, "MEP0042")]
    assert "MEP0042" not in str(entry)


def test_erase_by_identity_number_keeps_the_statistics(
        client: TestClient, tokens: dict[str, str], seed: Callable[..., Any],
        r: redis.Redis) -> None:
    path = Path(client, tokens, seed)
    number = path.check_in(id_number="Z683365(A)")
    assert path.call() == number
    before = figures(r)
    sup = bearer(tokens["supervisor"])
    erased = client.post(C + "/personal-data/erase", json={"id_number": "Z683365(A)"},
                         headers=sup)
    assert erased.status_code == 200, erased.text
    assert erased.json() == {"erased": 1}
    stored = r.hgetall(keys.booking("wan-chai", "MEP0001"))
    assert not any(stored[k] for k in PERSONAL)
    assert all(stored[k] for k in KEPT)
    assert figures(r) == before
    # Nobody finds it by that identity number any more, and a second erasure has nothing to do.
    found = client.post(C + "/bookings/lookup", json={"id_number": "Z683365(A)"}, headers=sup)
    assert found.json()["bookings"] == []
    again = client.post(C + "/personal-data/erase", json={"booking_ref": "MEP0001"},
                        headers=sup)
    assert again.json() == {"erased": 0}
    assert client.get(C + f"/tickets/{number}/booking", headers=sup).json()["booking"][
        "surname"] == ""
    erasures = [a for a in audit(client, tokens["admin"]) if a["type"] == "personal_data.erase"]
    assert len(erasures) == 1 and erasures[0]["credential"]["role"] == "supervisor"
    assert "Z683365" not in str(erasures)


def test_erase_takes_the_receipt_and_what_idempotency_keys_kept(
        client: TestClient, tokens: dict[str, str], seed: Callable[..., Any],
        r: redis.Redis, clock: Clock) -> None:
    """A person served to the receipt, asked about at the kiosk and exported, each with an
    Idempotency-Key, then erased: nothing of them is left anywhere in Redis, the kiosks' feed
    no longer carries the receipt, and the erased number matches nothing."""
    path = Path(client, tokens, seed)
    sup = bearer(tokens["supervisor"])
    seed("MEP0001", id_number="Z683365(A)", surname="CHAN", given_names="TAI MAN",
         passport_no="K7654321")
    path.post("photo-receipts", {"barcode": "PH1"}, tokens["photo"])
    checked_in = path.post("tickets", {"booking_ref": "MEP0001", "id_number": "Z683365(A)",
                                       "photo_barcode": "PH1"}, tokens["desk"], key="desk-1")
    number = checked_in.json()["ticket"]["number"]
    assert path.call() == number
    assert path.accept(number, token=tokens["supervisor"]).status_code == 200
    assert path.pay(number, token=tokens["supervisor"]).status_code == 200
    receipt_no = path.receipt(number, token=tokens["supervisor"]).json()["receipt_no"]
    ask = {"receipt_no": receipt_no, "id_number": "Z683365(A)"}
    asked = path.post("/api/v1/collection/eligibility", ask, tokens["kiosk"], key="kiosk-1")
    assert asked.json()["reason"] == "not_yet"
    export = {"booking_ref": "MEP0001"}
    exported = path.post(C + "/personal-data/export", export, tokens["supervisor"], key="pd-1")
    assert exported.json()["bookings"][0]["surname"] == "CHAN"
    clock.set(MORNING + dt.timedelta(days=14))           # past the collection date
    feed = C + "/collection/eligible"
    assert [e["receipt_no"] for e in client.get(
        feed, headers=bearer(tokens["kiosk"])).json()["receipts"]] == [receipt_no]
    before = everything_in(r)
    assert "CHAN" in before and "Z683365" not in before   # the scan sees names when there
    # What the keys kept for a repeat holds no personal data even before the erasure.
    kept = [line for line in before.splitlines() if ":idem:" in line.split(" ", 1)[0]]
    assert len(kept) == 3
    assert not [line for line in kept if "CHAN" in line or "K7654321" in line]

    erased = client.post(C + "/personal-data/erase", json={"id_number": "Z683365(A)"},
                         headers=sup)
    assert erased.json() == {"erased": 1}
    receipt = r.hgetall(keys.receipt("wan-chai", receipt_no))
    assert (receipt["id_hash"], receipt["id_verifier"]) == ("", "")
    assert receipt["amount_hkd"] and receipt["collection_date"]  # the takings keep their figures
    assert client.get(feed, headers=bearer(tokens["kiosk"])).json()["receipts"] == []
    asked = path.post("/api/v1/collection/eligibility", ask, tokens["kiosk"])
    assert asked.json()["reason"] == "id_mismatch"
    # The kept answers went with the person: a repeat of the export's key runs again and finds
    # what is left; the kiosk's and the desk's keys are free again.
    left = everything_in(r)
    for personal in ("CHAN", "TAI MAN", "K7654321", "Z683365"):
        assert personal not in left, personal
    assert ":idem:" in before and ":idem:" not in left and "booking-requests" not in left
    again = path.post(C + "/personal-data/export", export, tokens["supervisor"], key="pd-1")
    assert again.status_code == 200 and again.json()["bookings"][0]["surname"] == ""
    assert "CHAN" not in everything_in(r)
    retried = path.post("tickets", {"booking_ref": "MEP0001", "id_number": "Z683365(A)",
                                    "photo_barcode": "PH1"}, tokens["desk"], key="desk-1")
    assert retried.status_code == 422 != checked_in.status_code   # run again, not replayed


def test_a_request_names_exactly_one_person(client: TestClient,
                                            tokens: dict[str, str]) -> None:
    sup = bearer(tokens["supervisor"])
    for body in ({}, {"booking_ref": "MEP1", "id_number": "A123456(3)"}):
        answer = client.post(C + "/personal-data/erase", json=body, headers=sup)
        assert answer.status_code == 400
    bad = client.post(C + "/personal-data/export", json={"id_number": "A123456(4)"}, headers=sup)
    assert bad.json()["error"]["code"] == "invalid_id_number"


def test_the_purge_removes_personal_fields_days_after_collection(
        client: TestClient, tokens: dict[str, str], seed: Callable[..., Any],
        r: redis.Redis, cfg: config_mod.Config) -> None:
    receipt = Path(client, tokens, seed).served()["receipt_no"]
    key = keys.receipt("wan-chai", receipt)
    before = figures(r)
    # Collected at a kiosk today (the kiosk's own path is tests/collection/test_collection.py).
    r.hset(key, "collected_at", MORNING.isoformat())
    assert cfg.personal_data_days == 30
    early = MORNING + dt.timedelta(days=30)
    assert privacy.purge(cfg, r, early, SECRET) == 0
    assert r.hget(keys.booking("wan-chai", "MEP0001"), "surname") == "SMITH"
    late = MORNING + dt.timedelta(days=31)
    assert privacy.purge(cfg, r, late, SECRET) == 1
    stored = r.hgetall(keys.booking("wan-chai", "MEP0001"))
    assert not any(stored[k] for k in PERSONAL)
    assert stored["personal_removed_because"] == "purge"
    assert r.hget(key, "id_hash") == "" and r.hget(key, "amount_hkd")
    assert figures(r) == before
    assert privacy.purge(cfg, r, late, SECRET) == 0
    assert "personal-data-purge" in {job.name for job in SCHEDULE}


def test_the_number_of_days_is_configured(tmp_path: Any) -> None:
    from conftest import SAMPLE_CONFIG

    text = SAMPLE_CONFIG.read_text()
    (tmp_path / "c.toml").write_text("personal_data_days = 7\n" + text)
    assert config_mod.load(tmp_path / "c.toml").personal_data_days == 7
