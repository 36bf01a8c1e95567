"""Ready-made notices for the supervisor's screen, in the centre's own words (GLOSSARY.md): one
click fills the form, the supervisor reads it and posts it (or closes issuing with it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class ReadyMade:
    key: str
    label_zh: str
    label_en: str
    text_zh: str
    text_en: str
    # Posted by closing issuing (no new numbers) rather than as a plain notice.
    closes_issuing: bool = False
    # The texts hold `{counter}`, which the screen asks for.
    needs_counter: bool = False


READY_MADE: tuple[ReadyMade, ...] = (
    ReadyMade(
        "typhoon_8", "八號風球", "Typhoon signal No. 8",
        "八號風球現正生效，本中心停止派籌。已取籌號人士請留意叫號，我們會繼續為您服務。",
        "Typhoon signal No. 8 is in force: issuing is closed, no more numbers today. If you "
        "have a queue number, please wait for your number: you will still be served.",
        closes_issuing=True),
    ReadyMade(
        "black_rainstorm", "黑色暴雨警告", "Black rainstorm warning",
        "黑色暴雨警告現正生效，本中心停止派籌。已取籌號人士請留意叫號，我們會繼續為您服務。",
        "The black rainstorm warning is in force: issuing is closed, no more numbers today. If "
        "you have a queue number, please wait for your number: you will still be served.",
        closes_issuing=True),
    ReadyMade(
        "counter_closed", "櫃位暫停服務", "Counter closed",
        "{counter} 號櫃位暫停服務，請留意叫號。",
        "Counter {counter} is closed for now. Please wait for your number.",
        needs_counter=True),
    ReadyMade(
        "system_slow", "系統緩慢", "System slow",
        "電腦系統現時運作緩慢，輪候時間或會較長，敬請耐心等候。",
        "The computer system is slow at the moment and waiting may take longer. Thank you for "
        "your patience."),
)


def for_screen() -> list[dict[str, Any]]:
    return [asdict(r) for r in READY_MADE]
