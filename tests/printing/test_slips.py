"""The slips as ESC/POS bytes (no printer needed): the number in the largest type, the QR code
of the follow page only when the ticket has one, the receipt's barcode, Chinese drawn as
pictures with a font that has it."""

from __future__ import annotations

import socket
import threading

import pytest
from escpos_printer import (
    BARCODE_COMMAND,
    CUT,
    PAPER_QUERY,
    QR_COMMAND,
    RASTER_IMAGE,
    FakePrinter,
    closed_port,
)

from queueserver.platform import config
from queueserver.printing import jobs, slips

CFG = config.load_default()
CENTRE = CFG.centres[0]
TICKET = {"number": "A023", "service": "A", "issued_at": "2026-11-27T09:20:00+08:00",
          "position": 4, "estimated_wait_minutes": 12}
FOLLOW = "https://queue.example/t/abcdefghijklmnopqrstuv"


def test_the_ticket_slip_has_the_number_largest_and_the_qr_only_with_a_follow_url() -> None:
    plain = slips.ticket(CENTRE, TICKET, CFG.tz)
    largest = bytes([0x1D, 0x21, (slips.NUMBER_SCALE - 1) << 4 | (slips.NUMBER_SCALE - 1)])
    at = plain.index(largest)
    assert plain.index(b"A023", at) > at  # the number is printed in that size
    assert QR_COMMAND not in plain
    assert plain.count(RASTER_IMAGE) >= 3 and CUT in plain[-8:]
    followed = slips.ticket(CENTRE, {**TICKET, "follow_url": FOLLOW}, CFG.tz)
    assert QR_COMMAND in followed and FOLLOW.encode() in followed


def test_a_ticket_without_an_estimate_says_no_counter_is_open(
        monkeypatch: pytest.MonkeyPatch) -> None:
    drawn: list[str] = []
    draw = slips._draw

    def noting(printer: object, lines: list[tuple[str, int]]) -> None:
        drawn.extend(text for text, _ in lines)
        draw(printer, lines)  # type: ignore[arg-type]

    monkeypatch.setattr(slips, "_draw", noting)
    slips.ticket(CENTRE, TICKET, CFG.tz)
    assert any("About 12 min" in line for line in drawn)
    drawn.clear()
    # No counter open for its service: no figure to print, and the slip says why.
    slips.ticket(CENTRE, {**TICKET, "estimated_wait_minutes": None}, CFG.tz)
    assert any("No counter open" in line for line in drawn)
    assert not any("About" in line or "分鐘" in line for line in drawn)


def test_chinese_is_drawn_with_a_font_that_has_it() -> None:
    path, chinese = slips.font_path()
    assert chinese, "install fonts-wqy-microhei (.ci/run does)"
    picture = slips.picture([(CENTRE.name_zh, slips.TITLE_PX), ("請留意叫號", slips.TEXT_PX)])
    assert picture.width == slips.WIDTH_PX and picture.mode == "1"
    # Ink on the page, and different characters drawn differently: a font without them draws
    # the same empty box for each, or nothing.
    inked = picture.convert("L").histogram()[0]
    assert inked > 500
    one = slips.picture([("灣", slips.TITLE_PX)]).tobytes()
    other = slips.picture([("證", slips.TITLE_PX)]).tobytes()
    assert one != other
    assert path is not None and path.endswith((".ttc", ".ttf"))


def test_the_receipt_slip_has_its_barcode() -> None:
    data = slips.receipt(CENTRE, {"receipt_no": "WC2X3K9M7Q", "collection_date": "2026-12-11",
                                  "acceptance_no": "WC-20261127-0001", "surrender": "1",
                                  "application_type": "renewal", "amount_hkd": "320"})
    assert BARCODE_COMMAND in data
    at = data.index(BARCODE_COMMAND)
    assert b"{BWC2X3K9M7Q" in data[at:at + 40]  # Code 128, set B
    assert QR_COMMAND not in data


def test_send_asks_for_paper_and_refuses_a_printer_without_it() -> None:
    printer = FakePrinter().start()
    empty = FakePrinter(paper=False).start()
    try:
        jobs.send(config.Printer("p", f"tcp://127.0.0.1:{printer.port}"), b"\x1b@hello")
        with pytest.raises(jobs.PrinterUnavailable, match="out of paper"):
            jobs.send(config.Printer("e", f"tcp://127.0.0.1:{empty.port}"), b"\x1b@hello")
        with pytest.raises(jobs.PrinterUnavailable, match="no connection"):
            jobs.send(config.Printer("c", f"tcp://127.0.0.1:{closed_port()}"), b"\x1b@hello")
    finally:
        printer.stop()
        empty.stop()
    assert printer.slips()[0] == PAPER_QUERY + b"\x1b@hello"
    assert all(j.replace(PAPER_QUERY, b"") == b"" for j in empty.jobs)


def test_a_printer_that_never_answers_the_paper_query_is_printed_to() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    got: list[bytes] = []

    def mute() -> None:
        conn, _ = listener.accept()
        conn.settimeout(5)
        data = b""
        with conn:
            while chunk := conn.recv(4096):
                data += chunk
        got.append(data)

    thread = threading.Thread(target=mute)
    thread.start()
    jobs.send(config.Printer("m", f"tcp://127.0.0.1:{listener.getsockname()[1]}"), b"slip")
    thread.join(10)
    listener.close()
    assert got == [PAPER_QUERY + b"slip"]
