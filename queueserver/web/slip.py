"""The receipt slip: a page for an 80 mm receipt printer, with the number as a Code 128 barcode.

It shows the receipt number, the collection date, the centre and the surrender notice, in
Traditional Chinese and English; never an identity number or a name.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import cache
from importlib import resources

import barcode
import jinja2
from barcode.writer import SVGWriter
from markupsafe import Markup

from queueserver.platform.config import Centre
from queueserver.rules import numbering

# Two dots of a 203-dpi thermal head (three at 300 dpi): whole dots keep the bars sharp.
MODULE_MM = 0.25
BAR_HEIGHT_MM = 12.0
# Code 128 asks for ten modules of white either side; scanners miss the code without it.
QUIET_ZONE_MM = 10 * MODULE_MM

APPLICATION_TYPES = {
    "first": ("首次申請", "First application"),
    "renewal": ("換發", "Renewal"),
    "reissue_lost": ("補發（遺失）", "Replacement (lost)"),
    "reissue_damaged": ("補發（損毀）", "Replacement (damaged)"),
}
METHODS = {"cash": ("現金", "Cash"), "eps": ("易辦事", "EPS"), "octopus": ("八達通", "Octopus"),
           "card": ("信用卡", "Card")}
_STYLE_FILL = re.compile(r'style="fill:\s*([a-z]+);?"')
WEEKDAYS = [("一", "Mon"), ("二", "Tue"), ("三", "Wed"), ("四", "Thu"), ("五", "Fri"),
            ("六", "Sat"), ("日", "Sun")]


@cache
def environment() -> jinja2.Environment:
    folder = str(resources.files("queueserver.templates"))
    return jinja2.Environment(loader=jinja2.FileSystemLoader(folder),
                              autoescape=jinja2.select_autoescape(["html"]),
                              undefined=jinja2.StrictUndefined)


def barcode_svg(receipt_no: str) -> Markup:
    """The number as an inline SVG Code 128 (the text is printed apart, larger)."""
    code = barcode.get("code128", receipt_no, writer=SVGWriter())
    svg = code.render({"write_text": False, "module_width": MODULE_MM,
                       "module_height": BAR_HEIGHT_MM, "quiet_zone": QUIET_ZONE_MM})
    text = svg.decode("utf-8")
    # Inline in HTML the XML declaration and DOCTYPE have no place, and the pages' policy
    # refuses inline styles: a refused `fill:white` would paint the background black.
    text = _STYLE_FILL.sub(r'fill="\1"', text[text.index("<svg"):])
    if "style=" in text:
        raise ValueError("the barcode writer used a style this slip does not translate")
    return Markup(text)


def render(centre: Centre, receipt: dict[str, str]) -> str:
    due = dt.date.fromisoformat(receipt["collection_date"])
    return environment().get_template("receipt_slip.html").render(
        centre=centre,
        receipt_no=receipt["receipt_no"],
        grouped=numbering.grouped(receipt["receipt_no"]),
        barcode=barcode_svg(receipt["receipt_no"]),
        collection_date=due.isoformat(),
        weekday=WEEKDAYS[due.weekday()],
        accepted_on=receipt.get("date", ""),
        acceptance_no=receipt.get("acceptance_no", ""),
        application_type=APPLICATION_TYPES.get(receipt.get("application_type", ""), ("", "")),
        amount_hkd=receipt.get("amount_hkd", ""),
        method=METHODS.get(receipt.get("method", ""), ("", "")),
        surrender=receipt.get("surrender") == "1",
    )
