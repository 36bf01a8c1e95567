"""Notices, closures and printers on the screens, in real Chromium: the hall display's notice band
never covers the calls, an announced notice gives way to calls, the supervisor posts ready-made
notices and closes issuing, the desk shows the closure, and the desk's printer is remembered and
its failure offered to the browser."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from conftest import SAMPLE_CONFIG, make_booking, store
from escpos_printer import closed_port
from hall import Hall, config_with_printers, start_hall
from screens.helpers import Api, C, Screens, fits_without_scrolling, shoot, sign_in

from queueserver.notices.readymade import READY_MADE
from queueserver.platform import config as config_mod
from queueserver.sounds import audio, clips, free_text

pytestmark = pytest.mark.e2e

CONNECTED = "() => window.__display && window.__display.connected && !!window.__display.board"
STUB_PLAYER = """(ms) => {
  window.__display.setPlayer((url) => new Promise((resolve) => setTimeout(resolve, ms)));
}"""
TYPHOON = next(t for t in READY_MADE if t.key == "typhoon_8")
LONGEST_ZH = ("因應天氣情況，本中心部分服務暫停。" * 20)[:280]
LONGEST_EN = ("Because of the weather some services of this centre are suspended. " * 6)[:280]


def issue_tickets(r: redis.Redis, api: Api, n: int) -> None:
    for i in range(1, n + 1):
        store(r, [make_booking(f"MEP{i:04d}")])
        api.post(C + "/photo-receipts", {"barcode": f"PH{i:04d}"}, expect=201)
        api.post(C + "/tickets", {"booking_ref": f"MEP{i:04d}", "id_number": "A123456(3)",
                                  "photo_barcode": f"PH{i:04d}"}, expect=201)


def box(page: Any, selector: str) -> dict[str, float]:
    found = page.locator(selector).bounding_box()
    assert found is not None, selector
    return dict(found)


def overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return (a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
            and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"])


@pytest.mark.parametrize("size", ["1920x1080", "1280x720"])
def test_the_notice_band_never_covers_the_calls(
        screens: Screens, r: redis.Redis, api: Api, device: Callable[[str], str],
        size: str) -> None:
    issue_tickets(r, api, 6)
    for n in (1, 2, 3):
        api.post(C + f"/counters/{n}/call")
    api.post(C + "/notices", {"text_en": "Counter 3 is closed for lunch.",
                              "text_zh": "3 號櫃位午膳暫停服務。"}, expect=201)
    api.post(C + "/notices", {"text_en": LONGEST_EN, "text_zh": LONGEST_ZH}, expect=201)
    api.post(C + "/issuing", {"open": False, "text_en": TYPHOON.text_en,
                              "text_zh": TYPHOON.text_zh})
    display = screens.open(f"/display/wan-chai?token={device('display')}", size)
    display.wait_for_function(CONNECTED)
    display.wait_for_selector("#notices:not([hidden])")
    # The closure first, in red, in the centre's words.
    assert display.locator("#notices").get_attribute("class") == "notices closure"
    assert display.text_content("#notice-zh") == TYPHOON.text_zh
    assert "停止派籌" in (display.text_content("#notice-kind") or "")
    assert display.text_content("#notice-count") == "1/3"
    band = box(display, "#notices")
    for current in ("#latest", ".serving", ".recent", ".waiting", ".d-head"):
        assert not overlap(band, box(display, current)), current
    # Nor is any of a call cut off inside its own panel by the room the band takes.
    clipped = display.evaluate("""() => ['#latest', '.serving', '.recent'].filter((s) => {
      const e = document.querySelector(s);
      return e.scrollHeight > e.clientHeight + 1 || e.scrollWidth > e.clientWidth + 1;
    })""")
    assert clipped == []
    height = display.viewport_size["height"]
    assert band["y"] + band["height"] <= height  # on the screen, not below it
    assert display.text_content("#latest-ticket") == "A003"
    assert fits_without_scrolling(display)
    shoot(display, "display-notices")

    # The longest notice fits its band, in type still readable across a hall.
    display.evaluate("""() => {
      const d = window.__display;
      d.noticeShown = d.notices.find((n) => n.text_zh.length === 280).id;
    }""")
    display.evaluate("() => window.dispatchEvent(new Event('resize'))")
    fitted = display.evaluate("""() => {
      const t = document.getElementById('notice-text');
      const zh = document.getElementById('notice-zh');
      return {fits: t.scrollHeight <= t.clientHeight + 1, shown: !zh.hidden,
              zh: parseFloat(getComputedStyle(zh).fontSize)};
    }""")
    # Too long for both languages at a readable size: one at a time, larger (280 Chinese
    # characters at 2.6vh: 17 mm high on a 55-inch screen).
    assert fitted["fits"] and fitted["shown"] and fitted["zh"] >= 0.025 * height, fitted
    assert not overlap(box(display, "#notices"), box(display, "#latest"))
    shoot(display, "display-long-notice")


def said_already(r: redis.Redis, redis_url: str, text_en: str, text_zh: str) -> None:
    """The notice's words as the worker would have left them: a segment for each language."""
    cfg = config_mod.load(SAMPLE_CONFIG)
    centre = cfg.centre("wan-chai")
    assert centre is not None
    said = free_text.texts(centre, text_en, text_zh)
    segments = clips.SegmentStore(clips.connect(redis_url))
    tone = audio.to_wav(audio.silence(0.5))
    for names in free_text.candidates(centre, said).values():
        segments.put(names[-1], tone)


def test_an_announced_notice_gives_way_to_a_call(
        screens: Screens, r: redis.Redis, redis_url: str, api: Api,
        device: Callable[[str], str]) -> None:
    issue_tickets(r, api, 1)
    said_already(r, redis_url, "Please keep your number.", "請保留籌號。")
    display = screens.open(f"/display/wan-chai?token={device('display')}")
    display.wait_for_function(CONNECTED)
    display.evaluate(STUB_PLAYER, 400)
    posted = api.post(C + "/notices", {"text_en": "Please keep your number.",
                                       "text_zh": "請保留籌號。", "announce": True}, expect=201)
    display.wait_for_function("() => window.__display.current && "
                              "window.__display.current.kind === 'notice'", timeout=10000)
    api.post(C + "/counters/1/call")
    display.wait_for_function("() => window.__display.played.length === 3", timeout=15000)
    played = display.evaluate("() => window.__display.played.map("
                              "(a) => [a.kind, a.interrupted, a.clips.length])")
    # Cut short by the call, said after it, in full.
    assert played[0][0] == "notice" and played[0][1] is True
    assert played[1] == ["call", False, played[1][2]]
    assert played[2] == ["notice", False, 4]
    order = display.evaluate("() => window.__display.clipsPlayed.map((c) => c.notice || c.ticket)")
    first_call = order.index("A001")
    assert order[:first_call].count(posted["notice"]["id"]) < 4


def test_the_supervisor_posts_a_ready_made_notice_and_closes_issuing(
        screens: Screens, r: redis.Redis, api: Api, make_login: Callable[..., str]) -> None:
    store(r, [make_booking("MEP0001")])
    api.post(C + "/photo-receipts", {"barcode": "PH0001"}, expect=201)
    supervisor = sign_in(screens, make_login("sue", "supervisor"), "/admin")
    supervisor.on("dialog", lambda dialog: dialog.accept())
    desk = sign_in(screens, make_login("dora", "desk"), "/desk/wan-chai")
    section = 'section.centre[data-centre="wan-chai"]'
    form = f"{section} form.notice-form"
    supervisor.fill(f'{form} [name="counter"]', "3")
    supervisor.click(f'{form} [data-readymade="counter_closed"]')
    assert supervisor.input_value(f'{form} [name="text_zh"]') == "3 號櫃位暫停服務，請留意叫號。"
    supervisor.click(f'{form} [data-act="post"]')
    supervisor.wait_for_selector(f"{section} ul.notices li[data-notice]")
    desk.wait_for_selector("#notices-card:not([hidden]) li[data-notice]")
    assert "3 號櫃位暫停服務" in (desk.text_content("#notices") or "")

    supervisor.click(f'{form} [data-readymade="typhoon_8"]')
    supervisor.click(f'{form} [data-act="close"]')
    desk.wait_for_selector("#closure:not([hidden])")
    assert desk.text_content("#closure-zh") == TYPHOON.text_zh
    supervisor.wait_for_selector(f'{section} [data-act="reopen"]')
    # The desk's check-in is refused in the supervisor's words.
    for value in ("MEP0001", "A123456(3)", "PH0001"):
        desk.keyboard.type(value)
        desk.keyboard.press("Enter")
    desk.wait_for_selector("#desk-message [data-code='issuing_closed']")
    assert TYPHOON.text_en in (desk.text_content("#desk-message") or "")
    shoot(desk, "desk-closed")
    shoot(supervisor, "supervisor-notices")

    supervisor.click(f'{section} [data-act="reopen"]')
    desk.wait_for_selector("#closure", state="hidden")
    counter_notice = supervisor.locator(f"{section} ul.notices [data-remove]")
    counter_notice.click()
    supervisor.wait_for_selector(f"{section} ul.notices li[data-notice]", state="detached")
    desk.wait_for_selector("#notices-card", state="hidden")
    assert api.get(C + "/notices")["notices"] == []


@pytest.fixture
def printing_hall(r: redis.Redis, redis_url: str, tmp_path: Path) -> Iterator[Hall]:
    h = start_hall(redis_url, config_with_printers(tmp_path, {"desk-off": closed_port()}))
    yield h
    h.stop()


def test_the_desk_remembers_its_printer_and_offers_the_browser_when_it_fails(
        browser: Any, r: redis.Redis, printing_hall: Hall,
        make_login: Callable[..., str]) -> None:
    screens = Screens(browser, printing_hall.server)
    try:
        store(r, [make_booking("MEP0001")])
        api = Api(printing_hall.server, _supervisor(r))
        api.post(C + "/photo-receipts", {"barcode": "PH0001"}, expect=201)
        ctx = screens.context()
        desk = sign_in(screens, make_login("dora", "desk"), "/desk/wan-chai", ctx=ctx)
        desk.select_option("#printer", "desk-off")
        desk.reload()
        assert desk.input_value("#printer") == "desk-off"  # remembered on this PC
        desk.evaluate("() => { window.print = () => { window.__printed = true; }; }")
        for value in ("MEP0001", "A123456(3)", "PH0001"):
            desk.keyboard.type(value)
            desk.keyboard.press("Enter")
        desk.wait_for_function("() => window.__desk.printed.includes('A001')")
        assert desk.evaluate("() => !!window.__printed") is False  # the thermal printer's job
        printing_hall.advance(121)
        try:
            desk.wait_for_selector("#printer-message [data-code='printer_failed']",
                                   timeout=60000)
        except Exception as e:
            raise AssertionError(printing_hall.worker_output()[-4000:]) from e
        desk.click("#print-in-browser")
        desk.wait_for_function("() => window.__printed === true")
        assert desk.text_content("#slip-number") == "A001"
        shoot(desk, "desk-printer-failed")
        assert screens.page_errors == [] and screens.foreign == []
    finally:
        screens.close()


def _supervisor(r: redis.Redis) -> str:
    from queueserver.auth import credentials as auth

    token, _ = auth.create_token(r, auth.Role.SUPERVISOR, "wan-chai")
    return token
