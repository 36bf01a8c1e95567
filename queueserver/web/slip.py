"""The receipt slip: a page for an 80 mm receipt printer, with the number as a Code 128 barcode.

It shows the receipt number, the collection date, the centre and the surrender notice, in
Traditional Chinese and English; never an identity number or a name.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import TypeVar

import barcode
from barcode.writer import SVGWriter
from markupsafe import Markup

from queueserver.platform.config import Centre
from queueserver.rules import numbering
from queueserver.rules.vocab import APPLICATION_TYPE_WORDS, PAYMENT_METHOD_WORDS
from queueserver.web import templating

# Two dots of a 203-dpi thermal head (three at 300 dpi): whole dots keep the bars sharp.
MODULE_MM = 0.25
BAR_HEIGHT_MM = 12.0
# Code 128 asks for ten modules of white either side; scanners miss the code without it.
QUIET_ZONE_MM = 10 * MODULE_MM
# SVG's user unit is the CSS pixel, 96 an inch.
SVG_UNITS_PER_MM = 96 / 25.4

_STYLE_FILL = re.compile(r'style="fill:\s*([a-z]+);?"')
_SIZE_MM = re.compile(r'<svg [^>]*width="([0-9.]+)mm" height="([0-9.]+)mm"')
E = TypeVar("E", bound=StrEnum)
WEEKDAYS = [("一", "Mon"), ("二", "Tue"), ("三", "Wed"), ("四", "Thu"), ("五", "Fri"),
            ("六", "Sat"), ("日", "Sun")]


def barcode_svg(text: str) -> Markup:
    """`text` as an inline SVG Code 128 (the text is printed apart, larger): the receipt
    number on the receipt slip, a photo receipt's barcode on the photo booth's slip."""
    code = barcode.get("code128", text, writer=SVGWriter())
    svg = code.render({"write_text": False, "module_width": MODULE_MM,
                       "module_height": BAR_HEIGHT_MM, "quiet_zone": QUIET_ZONE_MM})
    out = svg.decode("utf-8")
    # Inline in HTML the XML declaration and DOCTYPE have no place, and the pages' policy
    # refuses inline styles: a refused `fill:white` would paint the background black.
    out = _STYLE_FILL.sub(r'fill="\1"', out[out.index("<svg"):])
    if "style=" in out:
        raise ValueError("the barcode writer used a style this slip does not translate")
    # Its size in millimetres as a viewBox too, so that a page narrower than the code may
    # scale it down whole rather than cut it.
    size = _SIZE_MM.search(out)
    if size is None:
        raise ValueError("the barcode writer gave no size in millimetres")
    width, height = (float(v) * SVG_UNITS_PER_MM for v in size.groups())
    out = out.replace("<svg ", f'<svg viewBox="0 0 {width:.3f} {height:.3f}" ', 1)
    return Markup(out)


def _words(table: Mapping[E, tuple[str, str]], value: str | None) -> tuple[str, str]:
    """A stored value's words (a member of a StrEnum is equal to its value); none for a
    receipt that lacks it."""
    return next((words for member, words in table.items() if member == value), ("", ""))


def render(centre: Centre, receipt: dict[str, str]) -> str:
    due = dt.date.fromisoformat(receipt["collection_date"])
    return templating.render(
        "receipt_slip.html",
        centre=centre,
        receipt_no=receipt["receipt_no"],
        grouped=numbering.grouped(receipt["receipt_no"]),
        barcode=barcode_svg(receipt["receipt_no"]),
        collection_date=due.isoformat(),
        weekday=WEEKDAYS[due.weekday()],
        accepted_on=receipt.get("date", ""),
        acceptance_no=receipt.get("acceptance_no", ""),
        application_type=_words(APPLICATION_TYPE_WORDS, receipt.get("application_type")),
        amount_hkd=receipt.get("amount_hkd", ""),
        method=_words(PAYMENT_METHOD_WORDS, receipt.get("method")),
        surrender=receipt.get("surrender") == "1",
    )
