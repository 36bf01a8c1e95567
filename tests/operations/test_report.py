"""The supervisor's daily report: inline SVG charts that parse and show the scripted day."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

from conftest import bearer
from operations.scripted_day import Day, play_the_scripted_day
from starlette.testclient import TestClient

from queueserver.platform.clock import Clock

SVG = "{http://www.w3.org/2000/svg}"
REPORT = "/admin/wan-chai/report?date=2026-11-27"


def charts(html: str) -> list[ET.Element]:
    return [ET.fromstring(svg) for svg in re.findall(r"<svg\b.*?</svg>", html, re.S)]


def values(svg: ET.Element, shape: str) -> list[str]:
    return [el.attrib["data-value"] for el in svg.iter(SVG + shape)]


def test_the_report_draws_the_scripted_day(client: TestClient, tokens: dict[str, str],
                                           seed: Callable[..., Any], clock: Clock) -> None:
    play_the_scripted_day(Day(client, tokens, seed, clock))
    answer = client.get(REPORT, headers=bearer(tokens["supervisor"]))
    assert answer.status_code == 200
    html = answer.text
    histogram, queue, counters = charts(html)   # each one well-formed XML on its own
    # Waits of 120 s, 1200 s, 1260 s and 2280 s: bins 0-5, 20-25 (two) and 35-40 minutes.
    assert values(histogram, "rect") == ["1", "0", "0", "0", "2", "0", "0", "1", "0", "0",
                                         "0", "0", "0"]
    assert [t.text for t in histogram.iter(SVG + "text") if t.get("class") == "value"] == [
        "1", "2", "1"]
    # The most waiting in each quarter hour from 09:00 to 10:15.
    assert values(queue, "circle") == ["3", "2", "2", "2", "2", "1"]
    assert "peak 最多 3" in ET.tostring(queue, encoding="unicode")
    # Counter 1's services took 480, 600 and 600 s: 9.3 minutes on average; 2 and 3 ended none.
    assert values(counters, "rect") == ["9.3", "0", "0"]
    # The figures and the takings (two receipts of HK$320) are on the page as text.
    assert re.search(r'<tr id="day-counts"><td>4</td><td>2</td><td>0</td>\s*<td>1</td>'
                     r'<td>25%</td>', html)
    assert '<td id="takings-total">640</td>' in html
    assert 'http-equiv="refresh"' in html                 # today's report keeps itself live
    assert "<script" not in html and "style=" not in html  # the strict CSP holds


def test_the_report_is_for_supervisors(client: TestClient, tokens: dict[str, str]) -> None:
    to_login = client.get(REPORT, follow_redirects=False)
    assert to_login.status_code == 303
    assert to_login.headers["location"].startswith("/login?next=/admin/wan-chai/report")
    assert client.get(REPORT, headers=bearer(tokens["desk"])).status_code == 403
    other = client.get("/admin/kowloon-bay/report", headers=bearer(tokens["supervisor"]))
    assert other.status_code == 403
    assert client.get(REPORT, headers=bearer(tokens["admin"])).status_code == 200


def test_the_supervisor_page_links_to_each_centre_report(client: TestClient,
                                                         tokens: dict[str, str]) -> None:
    page = client.get("/admin", headers=bearer(tokens["admin"])).text
    assert 'href="/admin/wan-chai/report"' in page and 'href="/admin/kowloon-bay/report"' in page
