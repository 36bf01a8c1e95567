"""The ticket and receipt slips as ESC/POS bytes, built with python-escpos.

A thermal printer's own fonts hold ASCII (and, on some models, a Chinese code page that differs
from model to model), so the slip is printed in two kinds of ink: what is ASCII and must be
large or machine-read goes as printer commands — the ticket number in the printer's largest
type, the follow page's QR code (`GS ( k`), the receipt's Code 128 barcode (`GS k`) — and every
line with Chinese is drawn as a picture with Pillow and sent as a raster image (`GS v 0`), which
every ESC/POS printer prints alike. Pillow needs a font with Chinese (Debian's
`fonts-wqy-microhei`, which `.ci/run` installs); where none is found the pictures say the
English alone, and the worker says so once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import logging
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from escpos.printer import Dummy
from PIL import Image, ImageDraw, ImageFont

from queueserver.platform.config import Centre
from queueserver.rules import numbering

log = logging.getLogger("queueserver.printing")

# An 80 mm roll at 203 dpi prints 576 dots; a little less keeps every model's margins.
WIDTH_PX = 512
# python-escpos's profile of a common 80 mm printer (576 dots, native QR codes and Code 128):
# it centres the pictures; every command used here is in every ESC/POS printer's set.
PROFILE = "TM-T20II"
# The printer's type is 12 x 24 dots; 6 times that keeps "A1000" well inside the roll.
NUMBER_SCALE = 6
QR_MODULE_DOTS = 6  # a module of 0.75 mm: a phone reads it at arm's length
BARCODE_HEIGHT_DOTS = 96
BARCODE_MODULE_DOTS = 2
TITLE_PX = 34
TEXT_PX = 28
SMALL_PX = 24
LINE_GAP_PX = 6
# Fonts with Chinese, where Debian's packages put them, best first.
CJK_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
)
LATIN_FONTS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",)
PLEASE_WAIT = ("請留意叫號", "Please wait for your number")
WEEKDAYS = [("一", "Mon"), ("二", "Tue"), ("三", "Wed"), ("四", "Thu"), ("五", "Fri"),
            ("六", "Sat"), ("日", "Sun")]


@cache
def font_path() -> tuple[str | None, bool]:
    """The font the pictures are drawn with, and whether it has Chinese."""
    for path in CJK_FONTS:
        if Path(path).is_file():
            return path, True
    log.warning("no font with Chinese is installed (apt-get install fonts-wqy-microhei): "
                "printed slips say the English alone")
    for path in LATIN_FONTS:
        if Path(path).is_file():
            return path, False
    return None, False


def has_chinese() -> bool:
    return font_path()[1]


@cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path, _ = font_path()
    if path is None:
        return ImageFont.load_default(size)
    return ImageFont.truetype(path, size)


def _wrap(text: str, font: Any, draw: ImageDraw.ImageDraw) -> list[str]:
    """Lines no wider than the slip: at spaces where there are some, else anywhere (Chinese)."""
    lines: list[str] = []
    line = ""
    for ch in text:
        if draw.textlength(line + ch, font=font) <= WIDTH_PX:
            line += ch
            continue
        cut = line.rfind(" ")
        if cut > 0 and ch != " ":
            lines.append(line[:cut])
            line = line[cut + 1:] + ch
        else:
            lines.append(line.rstrip())
            line = ch.lstrip()
    if line:
        lines.append(line)
    return lines


def picture(lines: Sequence[tuple[str, int]]) -> Image.Image:
    """Centred lines of (text, size in px) as a one-bit image the width of the slip; a line
    holding Chinese is left out where the font has none."""
    scratch = ImageDraw.Draw(Image.new("1", (1, 1)))
    laid: list[tuple[str, Any, int]] = []
    for text, size in lines:
        if not has_chinese() and not text.isascii():
            continue
        font = _font(size)
        for part in _wrap(text, font, scratch):
            laid.append((part, font, size))
    height = sum(size + LINE_GAP_PX for _, _, size in laid) + LINE_GAP_PX
    image = Image.new("1", (WIDTH_PX, max(height, 1)), 1)
    draw = ImageDraw.Draw(image)
    y = LINE_GAP_PX // 2
    for text, font, size in laid:
        x = (WIDTH_PX - draw.textlength(text, font=font)) / 2
        draw.text((x, y), text, font=font, fill=0)
        y += size + LINE_GAP_PX
    return image


@contextlib.contextmanager
def _quiet() -> Any:
    """python-escpos prints remarks ("Using hardware barcode renderer") to standard output."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def _draw(printer: Dummy, lines: Sequence[tuple[str, int]]) -> None:
    printer.image(picture(lines), center=True)


def _start(printer: Dummy, centre: Centre) -> None:
    printer.hw("INIT")
    printer.set(align="center")
    _draw(printer, [(centre.name_zh, TITLE_PX), (centre.name_en, TEXT_PX)])


def _large(printer: Dummy, text: str) -> None:
    printer.set(align="center", bold=True, custom_size=True, width=NUMBER_SCALE,
                height=NUMBER_SCALE)
    printer.textln(text)
    printer.set(align="center", bold=False, normal_textsize=True)


def _local(iso_time: str, tz: Any) -> dt.datetime:
    return dt.datetime.fromisoformat(iso_time).astimezone(tz)


def ticket(centre: Centre, slip: dict[str, Any], tz: Any) -> bytes:
    """The ticket slip: the centre, the number largest, the service, the time, the people ahead
    and the wait, the follow page's QR code (when the ticket has one), and the request to wait."""
    with _quiet():
        return _ticket(centre, slip, tz)


def _ticket(centre: Centre, slip: dict[str, Any], tz: Any) -> bytes:
    service = centre.service(str(slip["service"]))
    printer = Dummy(profile=PROFILE)
    _start(printer, centre)
    _draw(printer, [("籌號 Queue number", SMALL_PX)])
    _large(printer, str(slip["number"]))
    issued = _local(str(slip["issued_at"]), tz)
    ahead = int(slip.get("position") or 0)
    wait = slip.get("estimated_wait_minutes")
    # None: no counter is open for its service, so there is no figure to print.
    wait_en = "No counter open" if wait is None else f"About {int(wait)} min"
    wait_zh = "暫停服務" if wait is None else f"約等候 {int(wait)} 分鐘"
    lines = [(f"{service.name_zh} {service.name_en}" if service else str(slip["service"]),
              TEXT_PX),
             (f"前面人數 {ahead} 人 · {ahead} ahead of you", TEXT_PX),
             (f"{wait_zh} · {wait_en}", TEXT_PX),
             (issued.strftime("%Y-%m-%d %H:%M"), SMALL_PX)]
    if not has_chinese():
        lines[1:3] = [(f"{ahead} ahead of you", TEXT_PX), (wait_en, TEXT_PX)]
    _draw(printer, lines)
    follow_url = slip.get("follow_url")
    if follow_url:
        printer.qr(str(follow_url), size=QR_MODULE_DOTS, native=True)
    _draw(printer, [(PLEASE_WAIT[0], TITLE_PX), (PLEASE_WAIT[1], TEXT_PX)])
    printer.cut()
    return bytes(printer.output)


APPLICATION_TYPES = {
    "first": ("首次申請", "First application"),
    "renewal": ("換發", "Renewal"),
    "reissue_lost": ("補發（遺失）", "Replacement (lost)"),
    "reissue_damaged": ("補發（損毀）", "Replacement (damaged)"),
}


def receipt(centre: Centre, fields: dict[str, str]) -> bytes:
    """The receipt slip: the centre, the receipt number large and as a Code 128 barcode, the
    collection date, what was applied for and paid, and whether the old permit goes back."""
    with _quiet():
        return _receipt(centre, fields)


def _receipt(centre: Centre, fields: dict[str, str]) -> bytes:
    printer = Dummy(profile=PROFILE)
    _start(printer, centre)
    _draw(printer, [("收據回執 Receipt", TEXT_PX)])
    number = fields["receipt_no"]
    printer.set(align="center", bold=True, double_width=True, double_height=True)
    printer.textln(numbering.grouped(number))
    printer.set(align="center", bold=False, normal_textsize=True)
    printer.barcode("{B" + number, "CODE128", height=BARCODE_HEIGHT_DOTS,
                    width=BARCODE_MODULE_DOTS, pos="OFF", function_type="B")
    due = dt.date.fromisoformat(fields["collection_date"])
    zh_day, en_day = WEEKDAYS[due.weekday()]
    kind = APPLICATION_TYPES.get(fields.get("application_type", ""), ("", ""))
    lines = [("取證日期 Collection date", SMALL_PX),
             (f"{due.isoformat()}（{zh_day}）{en_day}", TITLE_PX)]
    if fields.get("acceptance_no"):
        lines.append((f"受理編號 Acceptance no. {fields['acceptance_no']}", SMALL_PX))
    if kind[0]:
        lines.append((f"{kind[0]} {kind[1]}", SMALL_PX))
    if fields.get("amount_hkd"):
        lines.append((f"已繳費 Paid HK${fields['amount_hkd']}", SMALL_PX))
    if fields.get("surrender") == "1":
        lines.append(("取證時請交回舊證 Bring the old permit to collect the new one", TEXT_PX))
    lines.append(("取證時請帶同此收據及身份證明文件", SMALL_PX))
    lines.append(("Bring this receipt and your identity document to collect", SMALL_PX))
    _draw(printer, lines)
    printer.cut()
    return bytes(printer.output)
