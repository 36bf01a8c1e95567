"""The booking page on a phone (360 x 740) in real Chromium against `queueserver serve`: open the
invitation's link, choose a day and a time, book, change, cancel; and the supervisor's screen
showing the day's slots filling. Nothing is fetched from another host, nothing breaks the CSP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis
from conftest import MORNING, SAMPLE_CONFIG, SECRET
from screens.helpers import Screens, sign_in

from queueserver.appointments import applications
from queueserver.appointments.applications import Application, ApplicationStore
from queueserver.platform import config
from queueserver.platform.clock import Clock
from queueserver.store import keys

MONDAY = "2026-11-30"


def approved(r: redis.Redis) -> str:
    cfg = config.load(SAMPLE_CONFIG)
    ApplicationStore(r, SECRET, cfg, "test", Clock(cfg.tz, MORNING)).apply([Application(
        ref="PHONE1", application_type="renewal", surname="WONG", given_names="MEI LING",
        id_kind="hkid", id_number="A123456(3)", passport_no="K1234567", nationality="GBR",
        email="mei@example.test", status="approved")])
    digest: Any = r.hget(keys.application_refs(), "PHONE1")
    salt: Any = r.hget(keys.application(str(digest)), "salt")
    return applications.token_for(SECRET, str(salt))


def test_book_change_and_cancel_on_a_phone(screens: Screens, r: redis.Redis) -> None:
    token = approved(r)
    page = screens.open(f"/book/{token}", size="360x740")
    assert page.locator("#who").inner_text() == "WONG, M*** L***"
    # One column, one thumb: nothing wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.locator(f'#days button[data-date="{MONDAY}"]').click()
    nine = page.locator('#times button[data-start="09:00"]')
    assert "6" in nine.inner_text()
    box = nine.bounding_box()
    assert box is not None and box["height"] >= 48
    nine.click()
    page.locator("#confirm").click()
    page.locator("#message.ok").wait_for()
    assert "09:00" in page.locator("#current-text").inner_text()
    assert r.hget(keys.booking("wan-chai", "PHONE1"), "slot_start") == "09:00"

    page.locator("#change").click()
    page.locator(f'#days button[data-date="{MONDAY}"]').click()
    page.locator('#times button[data-start="09:30"]').click()
    page.locator("#confirm").click()
    page.locator("#current-text", has_text="09:30–10:00").wait_for()
    assert "2" in page.locator("#changes").inner_text()
    assert r.hget(keys.slot_places("wan-chai", MONDAY), "09:00") == "0"
    assert r.hget(keys.slot_places("wan-chai", MONDAY), "09:30") == "1"

    page.locator("#cancel").click()
    page.locator("#message.error").wait_for()   # asks for a second tap
    assert r.hget(keys.booking("wan-chai", "PHONE1"), "status") == "approved"
    page.locator("#cancel").click()
    page.locator("#current").wait_for(state="hidden")
    assert r.hget(keys.booking("wan-chai", "PHONE1"), "status") == "cancelled"
    assert r.hget(keys.slot_places("wan-chai", MONDAY), "09:30") == "0"


def test_a_refusal_says_what_to_do_in_both_languages(screens: Screens, r: redis.Redis) -> None:
    token = approved(r)
    r.hset(keys.slot_places("wan-chai", MONDAY), "09:00", 5)
    page = screens.open(f"/book/{token}", size="360x740")
    page.locator(f'#days button[data-date="{MONDAY}"]').click()
    page.locator('#times button[data-start="09:00"]').click()
    r.hset(keys.slot_places("wan-chai", MONDAY), "09:00", 6)   # someone else was quicker
    page.locator("#confirm").click()
    refusal = page.locator("#message.error")
    refusal.wait_for()
    assert "候補" in refusal.inner_text() and "waiting list" in refusal.inner_text()


def test_a_full_slot_shows_the_days_times_left_without_listing_again(
        screens: Screens, r: redis.Redis) -> None:
    token = approved(r)
    page = screens.open(f"/book/{token}", size="360x740")
    page.locator(f'#days button[data-date="{MONDAY}"]').click()
    page.locator('#times button[data-start="09:00"]').click()
    # Someone else was quicker: 09:00 is full, 09:30 has 2 places left.
    r.hset(keys.slot_places("wan-chai", MONDAY), mapping={"09:00": 6, "09:30": 4})
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.method + " " + request.url))
    page.locator("#confirm").click()
    page.locator("#message.error").wait_for()
    page.locator('#times button[data-start="09:30"]', has_text="2 left").wait_for()
    assert page.locator('#times button[data-start="09:00"]').count() == 0
    assert not page.locator("#times-box").is_hidden()
    assert page.locator("#confirm-box").is_hidden()
    # The refusal brought the day's times: the booking was the only request.
    assert [a.split("?")[0].rsplit("/", 1)[-1] for a in asked] == ["appointment"]
    assert asked[0].startswith("POST ")
    page.locator('#times button[data-start="09:30"]').click()
    page.locator("#confirm").click()
    page.locator("#current-text", has_text="09:30–10:00").wait_for()
    assert r.hget(keys.slot_places("wan-chai", MONDAY), "09:30") == "5"


def test_the_supervisor_sees_the_slots_fill(screens: Screens, r: redis.Redis,
                                            make_login: Callable[..., str]) -> None:
    r.hset(keys.slot_places("wan-chai", "2026-11-27"), "09:00", 4)
    page = sign_in(screens, make_login("sup-slots", "supervisor"), "/admin")
    row = page.locator('div.appointments[data-centre="wan-chai"] tr[data-start="09:00"]')
    row.wait_for()
    assert row.locator("td.booked").inner_text() == "4"
