"""Receipt numbers check themselves; the slip prints them as a barcode a scanner can read."""

from __future__ import annotations

import datetime as dt
import itertools
import re
import string
from collections.abc import Callable
from typing import Any

import barcodes
import pytest
import redis
from conftest import bearer
from service_path import Path
from starlette.testclient import TestClient

from queueserver.auth import credentials as auth
from queueserver.rules import numbering
from queueserver.store import keys
from queueserver.web import slip as slip_module

TYPED = string.digits + string.ascii_uppercase


def sample(n: int = 300) -> list[str]:
    return [numbering.new_receipt_no(prefix) for prefix in ("WC", "KB", "A", "WXYZ")
            for _ in range(n // 4)]


def test_the_check_symbol_catches_every_single_typo() -> None:
    for number in sample():
        assert numbering.well_formed(number)
        for i, typed in itertools.product(range(len(number)), TYPED):
            wrong = numbering.normalise(number[:i] + typed + number[i + 1:])
            # O for 0 and I or L for 1 are read as meant: the same number, not a typo.
            assert wrong == number or not numbering.well_formed(wrong), (number, wrong)


def test_the_check_symbol_catches_every_swap_of_neighbours() -> None:
    for number in sample():
        for i in range(len(number) - 1):
            if number[i] != number[i + 1]:
                swapped = number[:i] + number[i + 1] + number[i] + number[i + 2:]
                assert not numbering.well_formed(swapped), (number, swapped)


def test_the_quasigroup_is_a_latin_square_and_totally_anti_symmetric() -> None:
    """Why no single typo and no swap of neighbours can pass, for any number: each row and
    column of x∘y is a permutation, and (c∘x)∘y = (c∘y)∘x only when x = y."""
    def op(x: int, y: int) -> int:
        return numbering._times_alpha(x) ^ y

    symbols = range(len(numbering.ALPHABET))
    for a in symbols:
        assert sorted(op(a, b) for b in symbols) == list(symbols)
        assert sorted(op(b, a) for b in symbols) == list(symbols)
    for c, x, y in itertools.product(symbols, repeat=3):
        if x != y:
            assert op(op(c, x), y) != op(op(c, y), x)


def test_numbers_are_random_and_read_as_typed() -> None:
    numbers = {numbering.new_receipt_no("WC") for _ in range(2000)}
    assert len(numbers) == 2000
    # Every random position draws on the whole alphabet: 8 symbols of 5 bits, 40 bits.
    for i in range(2, 2 + numbering.RANDOM_SYMBOLS):
        assert len({n[i] for n in numbers}) == len(numbering.ALPHABET)
    number = next(iter(numbers))
    typed = " ".join([number[:2].lower(), number[2:6], number[6:]]).replace("0", "o")
    assert numbering.normalise(typed) == number
    assert numbering.normalise("wc-" + number[2:].replace("1", "l")) == number
    acceptance = numbering.new_acceptance_no("WC", dt.date(2026, 11, 27))
    assert re.fullmatch(r"WC-261127-[0-9A-HJKMNP-TV-Z]{8}", acceptance)


# --- the slip -------------------------------------------------------------------------------

def test_the_barcode_reads_back_as_the_number() -> None:
    for digits in ("WC12345678", "KBJ998558", "WC99100998"):
        number = digits + numbering.check_symbol(digits)
        assert barcodes.read(str(slip_module.barcode_svg(number))) == number
    for number in sample(60):
        assert barcodes.read(str(slip_module.barcode_svg(number))) == number


@pytest.fixture
def path(client: TestClient, tokens: dict[str, str], seed: Callable[..., Any]) -> Path:
    return Path(client, tokens, seed)


def slip(client: TestClient, token: str, number: str) -> Any:
    return client.get(f"/api/v1/receipts/{number}/slip", headers=bearer(token))


def test_the_slip_shows_the_number_as_a_barcode_and_no_identity_number(
        client: TestClient, tokens: dict[str, str], path: Path) -> None:
    receipt = path.served("renewal", id_number="C668668(9)")
    number = receipt["receipt_no"]
    answer = slip(client, tokens["desk"], number)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.headers["cache-control"] == "no-store"
    html = answer.text
    svg = html[html.index("<svg"):html.index("</svg>")]
    assert barcodes.read(svg) == number
    assert "style=" not in svg and "<script" not in html and " style=" not in html
    assert numbering.grouped(number) in html
    for text in ["2026-12-11", "星期五", "Fri", "灣仔證件服務中心", "Wan Chai Service Centre",
                 "須交回舊證", "must be surrendered", "換發", "HK$320"]:
        assert text in html, text
    for personal in ["C668668", "C6****", "SMITH", "JOHN", "K1234567", "MEP0001"]:
        assert personal not in html, personal
    css = client.get("/static/counters/receipt_slip.css")
    assert css.status_code == 200 and "size: 80mm" in css.text
    assert '<link rel="stylesheet" href="/static/counters/receipt_slip.css">' in html
    # Printable any day later, typed as a person might.
    spaced = " ".join([number[:2].lower(), number[2:6], number[6:]])
    assert slip(client, tokens["clerk"], spaced).status_code == 200


def test_no_surrender_notice_for_a_first_application(
        client: TestClient, tokens: dict[str, str], path: Path) -> None:
    html = slip(client, tokens["supervisor"], path.served("first")["receipt_no"]).text
    assert "首次申請" in html and "須交回舊證" not in html


def test_who_may_print_a_slip(client: TestClient, tokens: dict[str, str], path: Path,
                              r: redis.Redis) -> None:
    number = path.served()["receipt_no"]
    for role in ("admin", "supervisor", "desk", "clerk"):
        assert slip(client, tokens[role], number).status_code == 200, role
    for role in ("display", "kiosk", "photo"):
        assert slip(client, tokens[role], number).status_code == 403, role
    other, _ = auth.create_token(r, auth.Role.DESK, "kowloon-bay")
    assert slip(client, other, number).status_code == 403
    assert client.get(f"/api/v1/receipts/{number}/slip").status_code == 401
    mistyped = number[:-1] + ("0" if number[-1] != "0" else "1")
    unknown = numbering.new_receipt_no("WC")
    for wrong in (mistyped, unknown):
        answer = slip(client, tokens["desk"], wrong)
        assert (answer.status_code, answer.json()["error"]["code"]) == (404, "not_found")


def test_a_receipt_whose_index_entry_was_lost_is_found_by_its_prefix(
        client: TestClient, tokens: dict[str, str], path: Path, r: redis.Redis) -> None:
    number = path.served()["receipt_no"]
    assert r.hget(keys.receipt_index(), number) == "wan-chai"
    r.hdel(keys.receipt_index(), number)   # as if the process died between the two writes
    assert slip(client, tokens["desk"], number).status_code == 200


def test_the_slip_prints_on_one_80_mm_page(
        client: TestClient, tokens: dict[str, str], path: Path, tmp_path: Any) -> None:
    """The longest slip (surrender notice) in Chromium's print: one page, 80 mm wide."""
    from playwright.sync_api import sync_playwright

    number = path.served("reissue_damaged")["receipt_no"]
    html = slip(client, tokens["desk"], number).text
    css = client.get("/static/counters/receipt_slip.css").text
    (tmp_path / "slip.css").write_text(css)
    page_file = tmp_path / "slip.html"
    page_file.write_text(html.replace("/static/counters/receipt_slip.css", "slip.css"))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        try:
            page = browser.new_page()
            page.goto(page_file.as_uri())
            pdf = page.pdf(prefer_css_page_size=True)
        finally:
            browser.close()
    boxes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)
    assert len(boxes) == 1, "the slip runs onto a second page"
    width_mm = float(boxes[0][0]) / 72 * 25.4
    assert abs(width_mm - 80) < 0.5
