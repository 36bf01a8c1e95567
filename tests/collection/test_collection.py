"""Collection kiosks: every eligibility reason in the contract's order, collection exactly once,
the eligible feed with its verifiers, the kiosk key, and offline collections reported later."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis
from conftest import MORNING, SECRET, bearer
from service_path import Path
from starlette.testclient import TestClient

from queueserver.auth import credentials as auth
from queueserver.operations import privacy
from queueserver.platform import config
from queueserver.platform.clock import Clock
from queueserver.rules import identity, numbering
from queueserver.store import keys

K = "/api/v1/collection"
TZ = MORNING.tzinfo
DUE = dt.datetime(2026, 12, 11, 10, 0, tzinfo=TZ)   # 27 Nov + 10 working days
ID = "A123456(3)"
OTHER_ID = "Z683365(A)"


@pytest.fixture
def path(client: TestClient, tokens: dict[str, str], seed: Callable[..., Any]) -> Path:
    return Path(client, tokens, seed)


def eligibility(path: Path, receipt_no: str, id_number: str = ID,
                token: str | None = None) -> dict[str, Any]:
    answer = path.post(K + "/eligibility", {"receipt_no": receipt_no, "id_number": id_number},
                       token or path.tokens["kiosk"])
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def collect(path: Path, receipt_no: str, id_number: str = ID, token: str | None = None,
            **body: Any) -> Any:
    return path.post(f"{K}/{receipt_no}/collect", {"id_number": id_number, **body},
                     token or path.tokens["kiosk"])


def mistype(number: str) -> str:
    return number[:3] + ("0" if number[3] != "0" else "1") + number[4:]


def test_every_eligibility_reason_in_the_contracts_order(
        path: Path, tokens: dict[str, str], r: redis.Redis, clock: Clock) -> None:
    number = path.served("renewal")["receipt_no"]
    other_kiosk, _ = auth.create_token(r, auth.Role.KIOSK, "kowloon-bay")

    def reason(receipt_no: str, id_number: str = ID, token: str | None = None) -> str:
        return str(eligibility(path, receipt_no, id_number, token)["reason"])

    # Each case also breaks every rule after its own: the first that applies wins.
    assert reason(mistype(number), OTHER_ID, other_kiosk) == "invalid_receipt_no"
    assert reason(numbering.new_receipt_no("WC"), OTHER_ID, other_kiosk) == "not_found"
    wrong_centre = eligibility(path, number, OTHER_ID, other_kiosk)
    assert wrong_centre == {"eligible": False, "reason": "wrong_centre", "centre": "wan-chai",
                            "collection_date": None, "surrender_old_permit": False}
    mismatch = eligibility(path, number, OTHER_ID)
    assert (mismatch["reason"], mismatch["collection_date"]) == ("id_mismatch", None)
    assert reason(number, "not an identity number") == "id_mismatch"
    not_yet = eligibility(path, number)
    assert not_yet == {"eligible": False, "reason": "not_yet", "centre": "wan-chai",
                       "collection_date": "2026-12-11", "surrender_old_permit": True}
    clock.set(DUE)
    assert eligibility(path, number)["eligible"] is True
    assert eligibility(path, " " + number.lower() + " ")["reason"] == "ready"
    assert eligibility(path, number, token=tokens["supervisor"])["reason"] == "ready"
    assert collect(path, number, old_permit_surrendered=True).status_code == 200
    assert reason(number) == "collected"
    assert reason(number, OTHER_ID) == "id_mismatch"       # identity before state
    for role in ("clerk", "desk", "display", "photo"):
        answer = path.post(K + "/eligibility", {"receipt_no": number, "id_number": ID},
                           tokens[role])
        assert answer.status_code == 403, role


def test_collect_hands_the_permit_over_once(
        path: Path, tokens: dict[str, str], r: redis.Redis, clock: Clock) -> None:
    number = path.served("reissue_damaged")["receipt_no"]
    other_kiosk, _ = auth.create_token(r, auth.Role.KIOSK, "kowloon-bay")

    def refused(answer: Any) -> tuple[int, str]:
        return answer.status_code, answer.json()["error"]["code"]

    assert refused(collect(path, mistype(number))) == (422, "invalid_receipt_no")
    assert refused(collect(path, numbering.new_receipt_no("WC"))) == (404, "not_found")
    wrong = collect(path, number, token=other_kiosk)
    assert refused(wrong) == (422, "wrong_centre")
    assert wrong.json()["error"]["message_en"].startswith("This receipt is for another")
    assert refused(collect(path, number, OTHER_ID)) == (422, "id_mismatch")
    early = collect(path, number, old_permit_surrendered=True)
    assert refused(early) == (422, "not_yet") and early.json()["collection_date"] == "2026-12-11"
    clock.set(DUE + dt.timedelta(days=3))
    assert refused(collect(path, number)) == (422, "old_permit_required")
    assert r.zscore(keys.receipts_uncollected("wan-chai"), number) is not None
    done = collect(path, number, old_permit_surrendered=True)
    assert done.status_code == 200
    assert {k: done.json()[k] for k in ("receipt_no", "centre", "surrender_old_permit",
                                        "old_permit_surrendered", "offline")} == {
        "receipt_no": number, "centre": "wan-chai", "surrender_old_permit": True,
        "old_permit_surrendered": True, "offline": False}
    assert refused(collect(path, number, old_permit_surrendered=True)) == (409,
                                                                           "already_collected")
    assert r.zscore(keys.receipts_uncollected("wan-chai"), number) is None
    for kind, data in [(e[1]["type"], e[1]["data"]) for e in r.xrange(keys.events("wan-chai"))]:
        assert number not in data, kind
    assert collect(path, number, **{"old_permit_surrendered": "yes"}).status_code == 400


def test_ten_concurrent_collects_on_one_receipt_succeed_once(
        client: TestClient, path: Path, r: redis.Redis, clock: Clock) -> None:
    number = path.served("first")["receipt_no"]
    clock.set(DUE)
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda _: collect(path, number), range(10)))
    assert sorted(a.status_code for a in answers) == [200] + [409] * 9
    types = [e[1]["type"] for e in r.xrange(keys.events("wan-chai"))]
    assert types.count("collection.collected") == 1
    assert r.hget(keys.receipt("wan-chai", number), "collected_offline") == "0"


def test_the_eligible_feed_lets_a_kiosk_check_identity_numbers_offline(
        client: TestClient, path: Path, tokens: dict[str, str], r: redis.Redis,
        clock: Clock, seed: Callable[..., Any]) -> None:
    on_the_27th = path.served("first", id_number="C668668(9)")["receipt_no"]
    clock.set(MORNING + dt.timedelta(days=3))             # Monday 30 November: one day later
    # A child's access notice: typed with spaces and in lower case at the desk.
    child = path.check_in("renewal", id_number="ims/123 456", id_kind="access_notice",
                          date="2026-11-30")
    sup = tokens["supervisor"]
    assert path.call(1) == child
    path.accept(child, token=sup)
    path.pay(child, token=sup)
    later = path.receipt(child, token=sup).json()
    assert later["collection_date"] == "2026-12-14"
    kiosk = bearer(tokens["kiosk"])
    feed_url = "/api/v1/centres/wan-chai/collection/eligible"

    def feed(day: str | None = None) -> dict[str, Any]:
        answer = client.get(feed_url, params={"date": day} if day else {}, headers=kiosk)
        assert answer.status_code == 200, answer.text
        assert answer.headers["cache-control"] == "no-store"
        return {e["receipt_no"]: e for e in answer.json()["receipts"]}

    # CONTRACT §5: today or tomorrow only, so a kiosk's copy never holds the weeks ahead.
    assert feed() == {} and feed("2026-12-01") == {}
    for day in ("2026-12-02", "2026-12-11", "2026-11-29"):
        answer = client.get(feed_url, params={"date": day}, headers=kiosk)
        assert (answer.status_code, answer.json()["error"]["code"]) == (422, "bad_date"), day
    clock.set(DUE - dt.timedelta(days=1))                 # 10 December
    assert feed() == {}
    assert list(feed("2026-12-11")) == [on_the_27th]      # tomorrow's, to cache for the day
    clock.set(DUE + dt.timedelta(days=3))                 # 14 December
    both = feed()
    assert list(both) == [on_the_27th, later["receipt_no"]]
    assert both[later["receipt_no"]]["surrender_old_permit"] is True

    answer = client.get("/api/v1/centres/wan-chai/collection/key", headers=kiosk)
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    key = bytes.fromhex(answer.json()["key"])

    def whole(normalised: str) -> str:
        return hmac.new(key, normalised.encode(), hashlib.sha256).hexdigest()

    # The kiosk, offline, checks the person in front of it without the server: 16 bits, the
    # first 4 hex characters of the contract's HMAC.
    assert both[on_the_27th]["id_verifier"] == whole("C6686689")[:4]
    assert both[on_the_27th]["id_verifier"] != whole("A1234563")[:4]
    assert both[later["receipt_no"]]["id_verifier"] == whole("IMS/123456")[:4]
    dump = json.dumps(both)
    assert "C668668" not in dump and "123 456" not in dump
    # Only the truncated form is stored, in the booking and in the receipt.
    for key_ in (keys.booking("wan-chai", "MEP0001"), keys.receipt("wan-chai", on_the_27th)):
        assert r.hget(key_, "id_verifier") == whole("C6686689")[:4]
    held = json.dumps([r.hgetall(k) for k in r.scan_iter("qs:*") if r.type(k) == "hash"])
    assert whole("C6686689") not in held and whole("C6686689")[:5] not in held

    assert collect(path, on_the_27th, "c668668(9)").status_code == 200
    assert list(feed()) == [later["receipt_no"]]
    assert client.get(feed_url, params={"date": "14-12-2026"}, headers=kiosk).status_code == 400
    assert client.get("/api/v1/centres/nowhere/collection/eligible",
                      headers=bearer(tokens["admin"])).status_code == 404


def _sharing_the_verifier(key: bytes, verifier: str) -> list[str]:
    """Every valid identity card number of the letter C whose verifier is `verifier`: what a
    thief holding a kiosk's copy (key and feed) learns of the receipt's owner."""
    def weighted(x: int, weights: tuple[int, int, int]) -> int:
        return sum(int(c) * w for c, w in zip(f"{x:03d}", weights, strict=True))

    high = [weighted(x, (7, 6, 5)) for x in range(1000)]
    low = [weighted(x, (4, 3, 2)) for x in range(1000)]
    letter = 36 * 9 + (ord("C") - ord("A") + 10) * 8   # one letter: a space, then C
    wanted = bytes.fromhex(verifier)
    found = []
    for hi in range(1000):
        for lo in range(1000):
            check = (11 - (letter + high[hi] + low[lo]) % 11) % 11
            number = f"C{hi:03d}{lo:03d}{'A' if check == 10 else check}"
            if hmac.digest(key, number.encode(), "sha256")[:2] == wanted:
                found.append(number)
    return found


def test_a_copy_of_the_feed_names_nobody_and_the_server_checks_the_whole_number(
        client: TestClient, path: Path, tokens: dict[str, str], r: redis.Redis,
        clock: Clock) -> None:
    number = path.served("first", id_number="C668668(9)")["receipt_no"]
    clock.set(DUE)
    kiosk = bearer(tokens["kiosk"])
    key = bytes.fromhex(client.get("/api/v1/centres/wan-chai/collection/key",
                                   headers=kiosk).json()["key"])
    [entry] = client.get("/api/v1/centres/wan-chai/collection/eligible",
                         headers=kiosk).json()["receipts"]
    # Trying every number of one letter against the copy leaves many candidates, not a name.
    candidates = _sharing_the_verifier(key, entry["id_verifier"])
    assert "C6686689" in candidates and len(candidates) > 10
    impostor = next(c for c in candidates if c != "C6686689")
    impostor = f"{impostor[:-1]}({impostor[-1]})"
    # Such a number passes a kiosk's offline check; the server, given the whole number when the
    # kiosk reports, records no collection and flags it to the supervisor.
    online = collect(path, number, impostor)
    assert (online.status_code, online.json()["error"]["code"]) == (422, "id_mismatch")
    assert r.llen(keys.collection_flags("wan-chai")) == 0
    offline = collect(path, number, impostor, collected_at="2026-12-11T09:30:00+08:00")
    assert (offline.status_code, offline.json()["error"]["code"]) == (422, "id_mismatch")
    assert offline.json()["flagged"] is True
    assert not r.hget(keys.receipt("wan-chai", number), "collected_at")
    [flag] = client.get("/api/v1/centres/wan-chai/collection/flags",
                        headers=bearer(tokens["supervisor"])).json()["flags"]
    assert (flag["receipt_no"], flag["reason"]) == (number, "id_mismatch")
    assert flag["again"]["collected_at"] == "2026-12-11T09:30:00+08:00"
    assert impostor[:6] not in json.dumps(flag)
    assert collect(path, number, "C668668(9)").status_code == 200


def test_an_offline_report_without_the_identity_number_is_flagged_not_recorded(
        client: TestClient, path: Path, tokens: dict[str, str], r: redis.Redis,
        clock: Clock) -> None:
    """A kiosk restarted while offline has forgotten the number (docs/screens.md)."""
    number = path.served("first")["receipt_no"]
    clock.set(DUE + dt.timedelta(hours=2))
    url = f"{K}/{number}/collect"
    online = path.post(url, {"old_permit_surrendered": False}, tokens["kiosk"])
    assert (online.status_code, online.json()["error"]["code"]) == (400, "bad_request")
    body = {"collected_at": "2026-12-11T10:15:00+08:00"}
    first = path.post(url, body, tokens["kiosk"], key="report-1")
    assert (first.status_code, first.json()["error"]["code"]) == (422, "id_not_reported")
    assert first.json()["flagged"] is True
    # The kiosk sends it again (it never saw the answer): still one flag.
    assert path.post(url, body, tokens["kiosk"], key="report-1").json() == first.json()
    [flag] = client.get("/api/v1/centres/wan-chai/collection/flags",
                        headers=bearer(tokens["supervisor"])).json()["flags"]
    assert (flag["receipt_no"], flag["reason"]) == (number, "id_not_reported")
    assert not r.hget(keys.receipt("wan-chai", number), "collected_at")
    assert r.zscore(keys.receipts_uncollected("wan-chai"), number) is not None


def test_verifiers_stored_whole_before_are_cut_to_16_bits(
        client: TestClient, path: Path, tokens: dict[str, str], r: redis.Redis,
        cfg: config.Config, clock: Clock) -> None:
    number = path.served("first")["receipt_no"]
    # As a version before the 16-bit verifier left them: the whole HMAC in both hashes.
    key = identity.kiosk_key(SECRET, "wan-chai")
    whole = hmac.new(key, b"A1234563", hashlib.sha256).hexdigest()
    booking, receipt = keys.booking("wan-chai", "MEP0001"), keys.receipt("wan-chai", number)
    for name in (booking, receipt):
        r.hset(name, "id_verifier", whole)
    erased = path.served("first", id_number="B987654(0)")["receipt_no"]
    r.hset(keys.receipt("wan-chai", erased), "id_verifier", "")
    clock.set(DUE)
    # Never served whole, even before the maintenance job has run; an erased one not at all.
    [entry] = client.get("/api/v1/centres/wan-chai/collection/eligible",
                         headers=bearer(tokens["kiosk"])).json()["receipts"]
    assert (entry["receipt_no"], entry["id_verifier"]) == (number, whole[:4])
    assert privacy.shorten_verifiers(cfg, r) == 2
    assert r.hget(booking, "id_verifier") == r.hget(receipt, "id_verifier") == whole[:4]
    assert r.hget(keys.receipt("wan-chai", erased), "id_verifier") == ""
    assert privacy.shorten_verifiers(cfg, r) == 0


def test_the_kiosk_key_is_for_kiosks_of_the_centre_only(
        client: TestClient, tokens: dict[str, str], r: redis.Redis) -> None:
    url = "/api/v1/centres/{}/collection/key"
    for role in ("admin", "supervisor", "desk", "clerk", "display", "photo"):
        assert client.get(url.format("wan-chai"), headers=bearer(tokens[role])).status_code == 403
    assert client.get(url.format("kowloon-bay"), headers=bearer(tokens["kiosk"])).status_code \
        == 403
    own, _ = auth.create_token(r, auth.Role.KIOSK, "kowloon-bay")
    keys_ = {client.get(url.format(c), headers=bearer(t)).json()["key"]
             for c, t in (("wan-chai", tokens["kiosk"]), ("kowloon-bay", own))}
    assert len(keys_) == 2 and all(len(k) == 64 for k in keys_)
    assert client.get(url.format("wan-chai")).status_code == 401


def test_offline_collections_are_reported_and_a_double_is_flagged(
        client: TestClient, path: Path, tokens: dict[str, str], r: redis.Redis,
        clock: Clock) -> None:
    number = path.served("first")["receipt_no"]
    other = path.served("first", id_number="B987654(0)")["receipt_no"]
    clock.set(DUE + dt.timedelta(hours=2))
    kiosk_b, _ = auth.create_token(r, auth.Role.KIOSK, "wan-chai", name="kiosk-b")
    when = "2026-12-11T10:15:00+08:00"

    first = collect(path, number, collected_at=when)
    assert first.status_code == 200
    assert (first.json()["collected_at"], first.json()["offline"]) == (when, True)
    # The same kiosk sends the same report again (it never saw the answer): one collection.
    assert collect(path, number, collected_at=when).json() == first.json()
    assert r.llen(keys.collection_flags("wan-chai")) == 0

    # Another kiosk, offline too, handed the same permit over: flagged, not accepted.
    double = collect(path, number, token=kiosk_b, collected_at="2026-12-11T11:40:00")
    assert double.status_code == 409
    assert (double.json()["error"]["code"], double.json()["flagged"]) == ("already_collected",
                                                                         True)
    online = collect(path, number, token=kiosk_b)
    assert online.status_code == 409 and "flagged" not in online.json()
    flags = client.get("/api/v1/centres/wan-chai/collection/flags",
                       headers=bearer(tokens["supervisor"]))
    assert flags.status_code == 200
    [flag] = flags.json()["flags"]
    assert flag["receipt_no"] == number
    assert (flag["first"]["collected_at"], flag["first"]["offline"]) == (when, True)
    assert flag["again"]["collected_at"] == "2026-12-11T11:40:00+08:00"
    assert flag["again"]["by"] == auth.lookup_token(r, kiosk_b).id  # type: ignore[union-attr]
    kinds = [e[1]["type"] for e in r.xrange(keys.events("wan-chai"))]
    assert kinds.count("collection.flagged") == 1 and kinds.count("collection.collected") == 1
    for role in ("kiosk", "clerk"):
        assert client.get("/api/v1/centres/wan-chai/collection/flags",
                          headers=bearer(tokens[role])).status_code == 403

    # An offline time must be a time, in the past, on or after the collection date.
    for bad in ("yesterday", "2026-12-11T14:00:00+08:00"):
        answer = collect(path, other, "B987654(0)", collected_at=bad)
        assert answer.json()["error"]["code"] == "bad_request", bad
    early = collect(path, other, "B987654(0)", collected_at="2026-12-10T17:00:00+08:00")
    assert early.json()["error"]["code"] == "not_yet"
    assert collect(path, other, "B987654(0)", collected_at="2026-12-11T03:05:00Z").status_code \
        == 200
    assert r.hget(keys.receipt("wan-chai", other), "collected_at") == "2026-12-11T11:05:00+08:00"


def test_a_repeated_eligibility_check_answers_the_same(
        path: Path, tokens: dict[str, str]) -> None:
    number = path.served()["receipt_no"]
    for receipt_no in (mistype(number), number):
        body = {"receipt_no": receipt_no, "id_number": ID}
        answers = [path.post(K + "/eligibility", body, tokens["kiosk"], key="same-" + receipt_no)
                   for _ in range(2)]
        assert [a.status_code for a in answers] == [200, 200]
        assert answers[0].json() == answers[1].json()
