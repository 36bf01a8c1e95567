"""The hall display in a real browser: numbers from the desk and the counter panel, announcements
queued and played in order, and a display that outlives its server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
import redis
from conftest import make_booking, server_env, start_server, store
from screens.helpers import (
    SHOWN_WITHIN_MS,
    Api,
    C,
    Screens,
    fits_without_scrolling,
    record_shown,
    shoot,
    sign_in,
    watch_shown,
)

pytestmark = pytest.mark.e2e

CONNECTED = "() => window.__display && window.__display.connected && !!window.__display.board"
# Headless Chromium has no sound device: the tests swap in a player that takes a set time per
# clip, so timing is deterministic. The real player is the default and stays in the page.
STUB_PLAYER = """(ms) => {
  window.__display.setPlayer((url) => new Promise((resolve) => setTimeout(resolve, ms)));
}"""


def ready_to_check_in(r: redis.Redis, api: Api, n: int) -> list[tuple[str, str]]:
    """n bookings for this morning, each with its photo receipt: (booking ref, barcode)."""
    out = []
    for i in range(1, n + 1):
        ref, barcode = f"MEP{i:04d}", f"PH{i:04d}"
        store(r, [make_booking(ref)])
        api.post(C + "/photo-receipts", {"barcode": barcode}, expect=201)
        out.append((ref, barcode))
    return out


def issue(api: Api, ref: str, barcode: str) -> str:
    answer = api.post(C + "/tickets", {"booking_ref": ref, "id_number": "A123456(3)",
                                       "photo_barcode": barcode}, expect=201)
    return str(answer["ticket"]["number"])


def open_display(screens: Screens, token: str, size: str = "1920x1080",
                 clip_ms: int | None = None) -> Any:
    display = screens.open(f"/display/wan-chai?token={token}", size)
    display.wait_for_function(CONNECTED)
    if clip_ms is not None:
        display.evaluate(STUB_PLAYER, clip_ms)
    return display


def test_a_number_typed_at_the_desk_shows_on_the_display(
        screens: Screens, r: redis.Redis, api: Api, make_login: Callable[..., str],
        device: Callable[[str], str]) -> None:
    [(ref, barcode)] = ready_to_check_in(r, api, 1)
    display = open_display(screens, device("display"), clip_ms=20)
    desk = sign_in(screens, make_login("dora", "desk"), "/desk/wan-chai")
    # A scanner types like a keyboard and ends each code with Enter.
    desk.keyboard.type(ref)
    desk.keyboard.press("Enter")
    assert desk.evaluate("document.activeElement.id") == "id_number"
    desk.keyboard.type("a123456(3)")
    desk.keyboard.press("Enter")
    assert desk.evaluate("document.activeElement.id") == "photo_barcode"
    desk.keyboard.type(barcode)
    desk.keyboard.press("Enter")
    desk.wait_for_function("() => window.__desk.issued.length === 1")
    assert desk.text_content("#issued-number") == "A001"
    desk.wait_for_function("() => window.__slips === 1")  # printed without being asked
    # The slip's QR code is the ticket's follow page (CONTRACT §9; tests/screens/test_follow.py).
    assert desk.get_attribute("#slip-qr", "src") == C + "/tickets/A001/follow-qr.svg"
    display.wait_for_function(
        "() => document.querySelector('.waiting-row[data-service=A] .count').textContent === '1'",
        timeout=SHOWN_WITHIN_MS)
    api.post(C + "/counters/1/call")
    display.wait_for_function("() => document.getElementById('latest-ticket').textContent === "
                              "'A001'", timeout=SHOWN_WITHIN_MS)
    assert desk.evaluate("document.activeElement.id") == "booking_ref", "ready for the next"


def test_call_next_shows_on_the_display_and_queues_its_clips(
        screens: Screens, r: redis.Redis, api: Api, make_login: Callable[..., str],
        device: Callable[[str], str]) -> None:
    [(ref, barcode)] = ready_to_check_in(r, api, 1)
    number = issue(api, ref, barcode)
    display = open_display(screens, device("display"), clip_ms=300)
    counter = sign_in(screens, make_login("carl", "clerk", counter=1), "/counter/wan-chai/1")
    counter.wait_for_function("() => window.__counter.board !== null")
    # How fast the number shows is recorded (test-artifacts/screens/timings.jsonl, reported in
    # docs/benchmarks.md); the test only bounds it generously.
    watch_shown(display, "#latest-ticket", number)
    counter.click("#call-next")
    display.wait_for_function(
        f"() => window.__display.latest && window.__display.latest.ticket === '{number}'",
        timeout=SHOWN_WITHIN_MS)
    display.wait_for_function(f"() => document.getElementById('latest-ticket').textContent "
                              f"=== '{number}'", timeout=SHOWN_WITHIN_MS)
    record_shown(display, r, "hall display: call to number shown", "ticket.called", number)
    assert display.text_content("#latest-counter") == "1"
    assert "flash" in (display.get_attribute("#latest", "class") or "")
    # Queued for playback, chime first, as the page itself records it.
    display.wait_for_function("() => window.__display.played.length === 1")
    played = display.evaluate("window.__display.played[0]")
    assert played["ticket"] == number and played["counter"] == 1 and not played["recall"]
    assert played["clips"][0].endswith("/sounds/chime.wav")
    assert display.evaluate("window.__display.clipsPlayed.map(c => c.url)") == played["clips"]
    for url in played["clips"]:
        clip = httpx.get(screens.server.url + url, timeout=10)
        assert clip.status_code == 200 and clip.headers["content-type"].startswith("audio/")
    # The clerk's panel shows the called number and its booking, identity number masked.
    counter.wait_for_function(f"() => document.getElementById('current-number').textContent === "
                              f"'{number}'")
    counter.wait_for_selector("#id-masked")
    assert counter.text_content("#id-masked") == "A1****(3)"


def test_a_burst_of_five_calls_plays_five_announcements_in_order(
        screens: Screens, r: redis.Redis, api: Api, device: Callable[[str], str]) -> None:
    for ref, barcode in ready_to_check_in(r, api, 3):
        issue(api, ref, barcode)
    display = open_display(screens, device("display"), clip_ms=150)
    # Three calls and two recalls, faster than one announcement plays.
    for path in ("/counters/1/call", "/counters/2/call", "/counters/3/call",
                 "/counters/1/recall", "/counters/2/recall"):
        api.post(C + path)
    display.wait_for_function("() => window.__display.played.length === 5", timeout=20000)
    played = display.evaluate("window.__display.played")
    assert [(a["ticket"], a["counter"], a["recall"]) for a in played] == [
        ("A001", 1, False), ("A002", 2, False), ("A003", 3, False),
        ("A001", 1, True), ("A002", 2, True)]
    # None cut off or skipped: each starts after the one before has ended, every clip played.
    for before, after in zip(played, played[1:], strict=False):
        assert after["started"] >= before["ended"]
    clips = display.evaluate("window.__display.clipsPlayed")
    assert [c["ticket"] for c in clips] == [a["ticket"] for a in played for _ in a["clips"]]
    assert display.evaluate("window.__display.pending.length") == 0


def test_the_real_player_plays_a_call_without_a_tap(
        screens: Screens, r: redis.Redis, api: Api, device: Callable[[str], str]) -> None:
    """Started as docs/screens.md says (autoplay allowed), the page's own player plays."""
    [(ref, barcode)] = ready_to_check_in(r, api, 1)
    issue(api, ref, barcode)
    display = open_display(screens, device("display"))
    api.post(C + "/counters/1/call")
    display.wait_for_function("() => window.__display.played.length === 1", timeout=15000)
    assert display.evaluate("window.__display.soundBlocked") is False
    assert display.is_hidden("#enable-sound")


def test_the_display_survives_its_server_restarting(
        screens: Screens, r: redis.Redis, redis_url: str, api: Api,
        device: Callable[[str], str]) -> None:
    for ref, barcode in ready_to_check_in(r, api, 2):
        issue(api, ref, barcode)
    display = open_display(screens, device("display"), clip_ms=20)
    api.post(C + "/counters/1/call")
    display.wait_for_function("() => document.getElementById('latest-ticket').textContent === "
                              "'A001'")
    port = int(screens.server.url.rsplit(":", 1)[1])
    screens.server.stop()
    display.wait_for_selector("#offline", state="visible", timeout=10000)
    # The last board stays up while the server is away.
    assert display.text_content("#latest-ticket") == "A001"
    shoot(display, "display-offline")
    again = start_server(server_env(redis_url), port=port)
    try:
        display.wait_for_selector("#offline", state="hidden", timeout=30000)
        api.post(C + "/counters/2/call")
        display.wait_for_function("() => document.getElementById('latest-ticket').textContent === "
                                  "'A002'", timeout=5000)
        display.wait_for_function("() => window.__display.played.length === 2")
        assert display.evaluate("window.__display.played.map(a => a.ticket)") == ["A001", "A002"]
        assert display.evaluate("window.__display.reconnects") >= 1
    finally:
        again.stop()


@pytest.mark.parametrize("size", ["1920x1080", "1280x720"])
def test_display_screenshots_fit_without_scrolling(
        screens: Screens, r: redis.Redis, api: Api, device: Callable[[str], str],
        size: str) -> None:
    for ref, barcode in ready_to_check_in(r, api, 6):
        issue(api, ref, barcode)
    display = open_display(screens, device("display"), size, clip_ms=10)
    for n in (1, 2, 3):
        api.post(C + f"/counters/{n}/call")
    display.wait_for_function("() => window.__display.played.length === 3", timeout=10000)
    assert fits_without_scrolling(display)
    assert display.text_content("#latest-ticket") == "A003"
    shoot(display, "display")


def test_a_display_whose_place_is_gone_takes_a_fresh_board(
        screens: Screens, r: redis.Redis, api: Api, device: Callable[[str], str]) -> None:
    for ref, barcode in ready_to_check_in(r, api, 2):
        issue(api, ref, barcode)
    display = open_display(screens, device("display"), clip_ms=10)
    api.post(C + "/counters/1/call")
    display.wait_for_function("() => window.__display.played.length === 1")
    # The stream is trimmed under it (as at day close), then its connection drops: its `after`
    # is no longer a place in the stream, so the server says resync_required, then a board.
    r.delete("qs:{wan-chai}:events")
    display.evaluate("() => window.__display.live.socket.close()")
    display.wait_for_function("() => window.__display.live.resyncs === 1", timeout=10000)
    display.wait_for_function("() => window.__display.connected === true")
    assert display.text_content("#latest-ticket") == "A001"
    api.post(C + "/counters/2/call")
    display.wait_for_function("() => window.__display.played.length === 2")
    assert display.text_content("#latest-ticket") == "A002"


def test_where_the_browser_blocks_sound_one_tap_enables_it(
        screens: Screens, r: redis.Redis, api: Api, device: Callable[[str], str]) -> None:
    """A browser started without the kiosk flags refuses sound until someone taps: the display
    asks once, keeps the call, and plays it after the tap. (Headless Chromium never refuses, so
    the player refuses as such a browser does, with a NotAllowedError, until the tap.)"""
    [(ref, barcode)] = ready_to_check_in(r, api, 1)
    issue(api, ref, barcode)
    display = open_display(screens, device("display"))
    display.evaluate("""() => {
      let tapped = false;
      document.getElementById('enable-sound').addEventListener('click', () => { tapped = true; },
                                                                 {capture: true});
      window.__display.setPlayer((url) => tapped
        ? new Promise((resolve) => setTimeout(resolve, 10))
        : Promise.reject(new DOMException('play() needs a user gesture', 'NotAllowedError')));
    }""")
    api.post(C + "/counters/1/call")
    display.wait_for_selector("#enable-sound", state="visible", timeout=5000)
    assert display.evaluate("window.__display.soundBlocked") is True
    assert display.text_content("#latest-ticket") == "A001", "shown even without sound"
    assert display.evaluate("window.__display.pending.length") == 1, "the call is kept"
    display.click("#enable-sound")
    display.wait_for_function("() => window.__display.played.length === 1", timeout=5000)
    assert display.is_hidden("#enable-sound")
    assert display.evaluate("window.__display.played[0].ticket") == "A001"


def test_with_no_counter_open_the_display_says_so_instead_of_minutes(
        screens: Screens, r: redis.Redis, api: Api, device: Callable[[str], str]) -> None:
    [(ref, barcode)] = ready_to_check_in(r, api, 1)
    issue(api, ref, barcode)
    display = open_display(screens, device("display"))
    minutes = "document.querySelector('.waiting-row[data-service=A] .minutes')"
    # Nobody serves A: the board has no figure for it (null), and the row says why.
    assert display.evaluate(f"{minutes}.classList.contains('no-counter')")
    assert " ".join(display.text_content(
        ".waiting-row[data-service=A] .minutes").split()) == "暫停服務 No counter open"
    api.post(C + "/counters/3/open")
    # One counter opens for A: a newcomer behind the one waiting, 8 minutes.
    display.wait_for_function(
        f"() => {minutes}.textContent.replace(/\\s+/g, ' ').trim() === '8 分鐘 min'",
        timeout=SHOWN_WITHIN_MS)
