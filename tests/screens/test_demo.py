"""The demo's screens in a real browser: the hall display shows the calls the simulated clerks
make, on the demo clock, marked 「示範 DEMO」 (CONTRACT §8)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from demo_process import EVENING, Demo
from screens.helpers import Screens, shoot

pytestmark = pytest.mark.e2e

CONNECTED = "() => window.__display && window.__display.connected && !!window.__display.board"
# A called number shown large, as a hall sees it.
CALL_SHOWN = "() => /^[AP][0-9]{3}$/.test(document.getElementById('latest-ticket').textContent)"


@pytest.fixture
def demo_screens(browser: Any, tmp_path: Path) -> Iterator[tuple[Demo, Screens]]:
    d = Demo(tmp_path, EVENING, speed=10)
    s = Screens(browser, d)  # type: ignore[arg-type]  # a Server in all it uses: its URL
    try:
        d.wait_ready()
        yield d, s
        violations, foreign, csp, errors = s.violations(), s.foreign, s.console_csp, \
            s.page_errors
        assert foreign == [], f"requests to another host: {foreign}"
        assert violations == [] and csp == [], f"CSP violations: {violations} {csp}"
        assert errors == [], f"script errors: {errors}"
    finally:
        s.close()
        d.stop()


def test_the_demo_hall_display_shows_calls_on_the_demo_clock(
        demo_screens: tuple[Demo, Screens]) -> None:
    d, screens = demo_screens
    display = screens.open(f"/display/wan-chai?token={d.token('display', 'wan-chai')}")
    display.wait_for_function(CONNECTED)
    display.wait_for_function(CALL_SHOWN, timeout=30_000)
    assert re.fullmatch(r"\d+", display.locator("#latest-counter").inner_text().strip())
    assert display.locator("#serving li").count() >= 1
    mark = display.locator("#display-demo-mark")
    assert mark.is_visible() and mark.inner_text().strip() == "示範 DEMO"
    # The demo clock, not the real one (a Tuesday 23:10 in test mode): Wednesday from 10:00,
    # running ten times as fast, so its minutes turn within seconds.
    first = display.locator("#clock").inner_text().strip()
    assert re.fullmatch(r"10:[0-5][0-9]", first), first
    display.wait_for_function(
        "(first) => document.getElementById('clock').textContent.trim() !== first", arg=first,
        timeout=15_000)
    shoot(display, "demo-display")
    # Other screens carry the mark with the demo clock's time too.
    kiosk = screens.open(f"/kiosk/wan-chai?token={d.token('kiosk', 'wan-chai')}")
    badge = kiosk.locator("#demo-mark")
    badge.wait_for(state="visible")
    assert "示範 DEMO" in badge.inner_text()
    kiosk.wait_for_function(
        "() => /^10:[0-5][0-9]$/.test(document.querySelector('#demo-mark .demo-time')"
        ".textContent)")
    shoot(kiosk, "demo-kiosk")
