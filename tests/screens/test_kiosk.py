"""The collection kiosk in a real browser: "not yet" on the day of acceptance, "ready" on the
collection date, and the same answers from its own copy while the server is stopped, with the
offline collection reported once the server is back. Its storage never holds an identity
number: a kiosk restarted before the report reports without it, and the server flags that."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis
from conftest import Server, make_booking, server_env, start_server, store
from screens.helpers import Api, C, Screens, shoot

from queueserver.store import keys

pytestmark = pytest.mark.e2e

PEOPLE = {"MEP0001": "A123456(3)", "MEP0002": "B987654(0)", "MEP0003": "C668668(9)"}


def served(r: redis.Redis, api: Api, ref: str, id_number: str, counter: int) -> dict[str, Any]:
    """One applicant from check-in to receipt, through the API."""
    store(r, [make_booking(ref, id_number=id_number)])
    barcode = "PH" + ref
    api.post(C + "/photo-receipts", {"barcode": barcode}, expect=201)
    number = api.post(C + "/tickets", {"booking_ref": ref, "id_number": id_number,
                                       "photo_barcode": barcode}, expect=201)["ticket"]["number"]
    assert api.post(C + f"/counters/{counter}/call")["ticket"]["number"] == number
    t = f"{C}/tickets/{number}"
    api.post(t + "/acceptance", {"counter": counter})
    api.post(t + "/payment", {"method": "cash", "amount_hkd": 320, "counter": counter})
    return dict(api.post(t + "/receipt", {"counter": counter}, expect=201))


def ask(kiosk: Any, receipt_no: str, id_number: str) -> dict[str, str]:
    kiosk.click("#restart")
    kiosk.fill("#receipt_no", receipt_no)
    kiosk.press("#receipt_no", "Enter")
    kiosk.keyboard.type(id_number)
    kiosk.keyboard.press("Enter")
    kiosk.wait_for_selector("#result")
    return {"reason": kiosk.get_attribute("#result", "data-reason") or "",
            "offline": kiosk.get_attribute("#result", "data-offline") or "",
            "text": kiosk.text_content("#result") or ""}


def stored(kiosk: Any) -> str:
    """Everything the page keeps in the browser's local storage."""
    return str(kiosk.evaluate("() => JSON.stringify(Object.assign({}, localStorage))"))


def kept_no_identity_number(kiosk: Any) -> None:
    text = stored(kiosk).upper()
    for number in PEOPLE.values():
        assert number[:7] not in text, number


def on_day(redis_url: str, day: str, port: int) -> Server:
    return start_server(server_env(redis_url, QUEUESERVER_TEST_NOW=f"{day}T10:00:00+08:00"),
                        port=port)


def swapped(number: str) -> str:
    """The number with its last two different neighbours swapped (two equal ones would give
    the same number back)."""
    at = max(i for i in range(len(number) - 1) if number[i] != number[i + 1])
    return number[:at] + number[at + 1] + number[at] + number[at + 2:]


def test_the_kiosk_answers_online_and_from_its_copy_offline(
        screens: Screens, r: redis.Redis, redis_url: str, api: Api,
        device: Callable[[str], str]) -> None:
    first = served(r, api, "MEP0001", PEOPLE["MEP0001"], 1)
    second = served(r, api, "MEP0002", PEOPLE["MEP0002"], 2)
    third = served(r, api, "MEP0003", PEOPLE["MEP0003"], 3)
    due = first["collection_date"]
    assert due == second["collection_date"] == third["collection_date"] and due > "2026-11-28"
    token = device("kiosk")
    ctx = screens.context()
    kiosk = screens.open(f"/kiosk/wan-chai?token={token}", ctx=ctx)
    # Accepted today: not yet, and the day to come back.
    answer = ask(kiosk, first["receipt_no"], PEOPLE["MEP0001"])
    assert (answer["reason"], answer["offline"]) == ("not_yet", "0")
    assert due in answer["text"]
    answer = ask(kiosk, first["receipt_no"], PEOPLE["MEP0002"])
    assert answer["reason"] == "id_mismatch"
    # The feed it copies is today's or tomorrow's: nothing due in two weeks is in it.
    assert kiosk.evaluate("Object.keys(window.__kiosk.cache.receipts).length") == 0
    # A mistyped receipt number is caught by its check symbol.
    typo = swapped(first["receipt_no"])
    assert ask(kiosk, typo, PEOPLE["MEP0001"])["reason"] == "invalid_receipt_no"
    port = int(screens.server.url.rsplit(":", 1)[1])
    screens.server.stop()
    # On the collection date: ready, and collected once.
    server = on_day(redis_url, due, port)
    try:
        kiosk.reload()
        kiosk.wait_for_function("() => window.__kiosk.online === true && "
                                "Object.keys(window.__kiosk.cache.receipts).length === 3")
        verifiers = kiosk.evaluate(
            "Object.values(window.__kiosk.cache.receipts).map((r) => r.id_verifier)")
        assert len(verifiers) == 3 and all(len(v) == 4 and int(v, 16) >= 0 for v in verifiers)
        answer = ask(kiosk, first["receipt_no"].lower(), PEOPLE["MEP0001"])
        assert (answer["reason"], answer["offline"]) == ("ready", "0")
        assert due in answer["text"]
        shoot(kiosk, "kiosk-ready")
        kiosk.click("#collect-go")
        kiosk.wait_for_selector("#result[data-reason=collected_now][data-offline='0']")
        assert ask(kiosk, first["receipt_no"], PEOPLE["MEP0001"])["reason"] == "collected"
    finally:
        server.stop()
    # The server is stopped: the kiosk answers from its copy.
    answer = ask(kiosk, second["receipt_no"], PEOPLE["MEP0002"])
    assert (answer["reason"], answer["offline"]) == ("ready", "1")
    assert kiosk.is_visible("#offline")
    shoot(kiosk, "kiosk-offline")
    assert ask(kiosk, second["receipt_no"], PEOPLE["MEP0001"])["reason"] == "id_mismatch"
    assert ask(kiosk, typo, PEOPLE["MEP0001"])["reason"] == "invalid_receipt_no"
    answer = ask(kiosk, second["receipt_no"], "b987654(0)")
    assert (answer["reason"], answer["offline"]) == ("ready", "1")
    kiosk.click("#collect-go")
    kiosk.wait_for_selector("#result[data-reason=collected_now][data-offline='1']")
    assert kiosk.evaluate("window.__kiosk.outbox.length") == 1
    # The report waits with the number in the page's memory, never in its storage.
    assert kiosk.evaluate("window.__kiosk.ids.size") == 1
    kept_no_identity_number(kiosk)
    assert second["receipt_no"] in stored(kiosk)
    assert ask(kiosk, second["receipt_no"], PEOPLE["MEP0002"])["reason"] == "collected"
    # The server is back: the offline collection is reported, once, and the outbox emptied.
    server = on_day(redis_url, due, port)
    try:
        kiosk.evaluate("() => window.__kiosk.refreshFeed()")
        kiosk.wait_for_function("() => window.__kiosk.outbox.length === 0")
        assert kiosk.evaluate("localStorage.getItem('qs-kiosk-outbox:wan-chai')") == "[]"
        assert kiosk.evaluate("window.__kiosk.ids.size") == 0
        answer = ask(kiosk, second["receipt_no"], PEOPLE["MEP0002"])
        assert (answer["reason"], answer["offline"]) == ("collected", "0")
    finally:
        server.stop()
    # Offline again; this time the kiosk is restarted before the server is back, so the page
    # that reports has no identity number: the server flags the collection, not records it.
    answer = ask(kiosk, third["receipt_no"], PEOPLE["MEP0003"])
    assert (answer["reason"], answer["offline"]) == ("ready", "1")
    kiosk.click("#collect-go")
    kiosk.wait_for_selector("#result[data-reason=collected_now][data-offline='1']")
    kept_no_identity_number(kiosk)
    server = on_day(redis_url, due, port)
    try:
        kiosk.reload()
        kiosk.wait_for_function("() => window.__kiosk.online === true && "
                                "window.__kiosk.outbox.length === 0")
        receipt = r.hgetall(keys.receipt("wan-chai", third["receipt_no"]))
        assert receipt["id_hash"] and not receipt.get("collected_at")
        flags = r.lrange(keys.collection_flags("wan-chai"), 0, -1)
        assert len(flags) == 1 and '"id_not_reported"' in flags[0]
        assert third["receipt_no"] in flags[0]
        kept_no_identity_number(kiosk)
    finally:
        server.stop()
