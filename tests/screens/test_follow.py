"""The follow page on a phone (360 px wide) in real Chromium against `queueserver serve`: the QR
code from the desk, the ticket live, offline said plainly, "alert me when N are ahead", the call
in the largest type with vibration and the chime, and feedback once (CONTRACT §9)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import redis
import segno
from conftest import make_booking, store
from screens.helpers import Api, C, Screens, shoot, sign_in

from queueserver.store import keys

pytestmark = pytest.mark.e2e

PHONE = "360x740"
# Headless Chromium has no vibrator and no speaker: the page's calls to both are recorded.
RECORD = """
window.__vibrations = [];
navigator.vibrate = (pattern) => { window.__vibrations.push(pattern); return true; };
window.__played = [];
HTMLMediaElement.prototype.play = function () {
  window.__played.push({src: this.src, muted: this.muted});
  return Promise.resolve();
};
"""
READY = "() => window.__follow && window.__follow.messages > 0"


def check_in(r: redis.Redis, api: Api, n: int, **extra: Any) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        ref = f"MEP{i:04d}"
        store(r, [make_booking(ref)])
        api.post(C + "/photo-receipts", {"barcode": f"PH{i}"}, expect=201)
        out.append(api.post(C + "/tickets", {"booking_ref": ref, "id_number": "A123456(3)",
                                             "photo_barcode": f"PH{i}", **extra},
                            expect=201)["ticket"])
    return out


def phone(screens: Screens, url: str) -> Any:
    ctx = screens.context(PHONE)
    ctx.add_init_script(RECORD)
    page = screens.open(path_of(url), ctx=ctx)
    page.wait_for_function(READY)
    return page


def path_of(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def fits_the_width(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_the_desk_shows_and_prints_the_follow_qr_code(
        screens: Screens, r: redis.Redis, api: Api, make_login: Callable[..., str]) -> None:
    store(r, [make_booking("MEP0001")])
    api.post(C + "/photo-receipts", {"barcode": "PH1"}, expect=201)
    desk = sign_in(screens, make_login("dora", "desk"), "/desk/wan-chai")
    desk.fill("#booking_ref", "MEP0001")
    desk.fill("#id_number", "A123456(3)")
    desk.fill("#photo_barcode", "PH1")
    desk.fill("#phone", "9123 4567")   # as people say it; the desk sends +85291234567
    desk.uncheck("#auto_print")
    desk.click("#issue")
    desk.wait_for_function("() => window.__desk.issued.length === 1")
    desk.wait_for_function("() => document.getElementById('issued-qr').naturalWidth > 0")
    assert desk.is_visible("#issued-follow")
    qr = C + "/tickets/A001/follow-qr.svg"
    assert desk.get_attribute("#issued-qr", "src") == qr
    assert desk.get_attribute("#slip-qr", "src") == qr
    shoot(desk, "desk-follow-qr")
    # The QR code holds exactly the ticket's follow URL.
    ticket = api.get(C + "/tickets/A001")["ticket"]
    drawn = httpx.get(screens.server.url + qr, headers=api.headers, timeout=10).content
    expected = io.BytesIO()
    segno.make(ticket["follow_url"], error="m", micro=False).save(
        expected, kind="svg", scale=5, border=4, xmldecl=False)
    assert drawn == expected.getvalue()
    # The phone given at the desk was taken as E.164.
    stored = r.hget(keys.phones("wan-chai", "2026-11-27"), "A001")
    assert json.loads(stored or "{}")["phone"] == "+85291234567"


def test_the_phone_page_follows_the_ticket_to_the_counter_and_asks_for_feedback_once(
        screens: Screens, r: redis.Redis, api: Api, make_login: Callable[..., str]) -> None:
    tickets = check_in(r, api, 4)
    mine = tickets[3]
    page = phone(screens, mine["follow_url"])
    assert page.text_content("#number") == mine["number"]
    assert page.text_content("#ahead") == "3"
    # No counter is open yet: no minutes, but why (CONTRACT §5's estimate is null).
    wait = page.text_content("#wait") or ""
    assert "暫停服務" in wait and "No counter open" in wait and "min" not in wait
    assert "申請" in (page.text_content("#service") or "")
    assert "Applications" in (page.text_content("#service") or "")
    assert page.is_visible("#sound") and not page.is_visible("#called")
    assert fits_the_width(page)
    shoot(page, "follow-waiting")

    # Sound and vibration need a tap; then "alert me when 1 is ahead", kept in the phone.
    page.click("#sound")
    page.wait_for_selector("#sound-on", state="visible")
    page.check("#alert-on")
    page.click("#alert-less")
    page.click("#alert-less")
    assert page.text_content("#alert-n") == "1"
    page.reload()
    page.wait_for_function(READY)
    assert page.is_checked("#alert-on") and page.text_content("#alert-n") == "1"
    page.click("#sound")
    page.wait_for_selector("#sound-on", state="visible")

    # The hall's notices and a closure of issuing (CONTRACT §10), live.
    notice = api.post(C + "/notices", {"text_en": "Counter 3 is closed for lunch.",
                                       "text_zh": "3 號櫃位午膳暫停。"}, expect=201)["notice"]
    page.wait_for_selector("#notices", state="visible", timeout=3000)
    assert "3 號櫃位午膳暫停。" in (page.text_content("#notice-list") or "")
    assert "Counter 3 is closed for lunch." in (page.text_content("#notice-list") or "")
    api.post(C + "/issuing", {"open": False, "text_en": "No more numbers today.",
                              "text_zh": "今天停止派籌。"})
    page.wait_for_selector("#issuing-closed", state="visible", timeout=3000)
    shoot(page, "follow-notices")
    api.post(C + "/issuing", {"open": True})
    page.wait_for_selector("#issuing-closed", state="hidden", timeout=3000)
    assert httpx.delete(screens.server.url + C + f"/notices/{notice['id']}",
                        headers=api.headers, timeout=10).status_code == 204
    page.wait_for_selector("#notices", state="hidden", timeout=3000)

    api.post(C + "/counters/1/call")
    page.wait_for_function("() => document.getElementById('ahead').textContent === '2'",
                           timeout=3000)
    # A counter is open now: a figure in minutes.
    page.wait_for_function("() => document.getElementById('wait').textContent.includes('分鐘')",
                           timeout=3000)
    assert not page.is_visible("#alerted")
    api.post(C + "/counters/2/call")
    page.wait_for_function("() => document.getElementById('ahead').textContent === '1'",
                           timeout=3000)
    page.wait_for_selector("#alerted", state="visible")
    assert "1" in (page.text_content("#alerted") or "")
    # (The tap that turned sound on buzzed once, briefly, to say so.)
    assert page.evaluate("window.__vibrations") == [60, [250, 120, 250]]

    # Offline, said plainly; back by itself.
    page.context.set_offline(True)
    page.wait_for_selector("#offline", state="visible", timeout=5000)
    assert "Offline" in (page.text_content("#offline") or "")
    assert page.get_attribute("#link", "data-state") == "offline"
    shoot(page, "follow-offline")
    page.context.set_offline(False)
    page.wait_for_selector("#offline", state="hidden", timeout=15000)

    # Called: the counter in the largest type, vibration and the chime.
    api.post(C + "/counters/3/call")
    api.post(C + "/counters/2/no-show")
    called = api.post(C + "/counters/2/call")["ticket"]
    assert called["number"] == mine["number"]
    page.wait_for_selector("#called", state="visible", timeout=3000)
    assert page.text_content("#called-counter-zh") == "2"
    assert "請到 2 號櫃位" in (page.text_content(".f-called-zh") or "")
    assert "Please go to counter 2" in (page.text_content(".f-called-en") or "")
    largest = page.evaluate("""() => {
      let best = [0, null];
      for (const el of document.querySelectorAll('body *')) {
        if (!el.offsetParent || !el.textContent.trim()) continue;
        const size = parseFloat(getComputedStyle(el).fontSize);
        if (size > best[0]) best = [size, el.closest('#called') ? 'called' : el.id];
      }
      return best;
    }""")
    assert largest[1] == "called", largest
    assert page.evaluate("window.__vibrations.slice(2)") == [[400, 150, 400, 150, 400]]
    chimes = page.evaluate("window.__played.filter(p => !p.muted).map(p => p.src)")
    assert chimes and all(src.endswith("/sounds/chime.wav") for src in chimes)
    assert fits_the_width(page)
    shoot(page, "follow-called")

    # After the counter: five stars and a comment, once.
    number = mine["number"]
    api.post(f"{C}/tickets/{number}/acceptance")
    api.post(f"{C}/tickets/{number}/payment", {"method": "cash", "amount_hkd": 320})
    api.post(f"{C}/tickets/{number}/receipt", expect=201)
    page.wait_for_selector("#feedback", state="visible", timeout=3000)
    assert not page.is_visible("#called")
    assert page.is_disabled("#send")
    page.click(".f-star[data-rating='4']")
    page.fill("#comment", "Clear signs, short wait.")
    shoot(page, "follow-feedback")
    page.click("#send")
    page.wait_for_selector("#thanks", state="visible")
    given = api.get(C + "/feedback")["feedback"]
    assert [(f["ticket"], f["rating"], f["comment"], f["counter"]) for f in given] == \
        [(number, 4, "Clear signs, short wait.", 2)]
    page.reload()
    page.wait_for_function(READY)
    assert page.is_visible("#thanks") and not page.is_visible("#feedback-form")

    # The supervisor's screen: the day's answers, the mean by counter, the comments.
    admin = sign_in(screens, make_login("sue", "supervisor"), "/admin")
    section = "section.centre[data-centre='wan-chai']"
    admin.wait_for_selector(f"{section} .fb-counters tr[data-counter='2']")
    assert admin.text_content(f"{section} .fb-counters tr[data-counter='2'] .mean") == "4.00"
    assert "Clear signs, short wait." in (admin.text_content(f"{section} .fb-comments") or "")
    shoot(admin, "admin-feedback")


def test_a_link_that_no_longer_works_says_so_in_both_languages(screens: Screens) -> None:
    ctx = screens.context(PHONE)
    page = screens.open("/t/" + "Z" * 32, ctx=ctx)
    assert page.text_content("#problem") == "404"
    text = page.text_content("body") or ""
    assert "籌號紙仍然有效" in text and "Your paper ticket still counts" in text
    assert fits_the_width(page)
