"""What a call says, in Cantonese, Putonghua and English (CONTRACT.md §6).

The phrase table is data, one row per language: `segments()` is the plan of the displayed text,
which events carry. What is said aloud follows the same order but reads the ticket digit by digit
and the counter as a number (「籌號 A 零二三，請到 五 號櫃位」): that plan is `spoken.py`'s.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

SegmentKind = Literal[
    "recall", "lead_in", "letters", "digits", "please_go_to", "counter", "closing"
]

DEFAULT_LANGUAGES: tuple[str, ...] = ("yue", "cmn", "en")

# A service code is one capital letter (config.py) and a day's sequence has at least three digits.
_TICKET = re.compile(r"([A-Z])([0-9]{3,})")


@dataclass(frozen=True)
class Phrases:
    """The fixed words of one language's call; the ticket and counter go between them."""

    recall: str
    lead_in: str
    please_go_to: str
    closing: str


# Spaces sit inside the fixed parts so that joining the segments gives the contract's text exactly.
PHRASES: dict[str, Phrases] = {
    "yue": Phrases(recall="再次廣播，", lead_in="籌號 ", please_go_to="，請到 ", closing=" 號櫃位"),
    "cmn": Phrases(recall="再次广播，", lead_in="请 ", please_go_to=" 号到 ", closing=" 号柜台"),
    "en": Phrases(
        recall="Calling again. ",
        lead_in="Ticket ",
        please_go_to=", please go to counter ",
        closing="",
    ),
}


@dataclass(frozen=True)
class Segment:
    """One piece of a call: a fixed phrase of a language, or a part of the ticket or counter."""

    kind: SegmentKind
    text: str


def segments(ticket: str, counter: int, language: str, recall: bool = False) -> list[Segment]:
    """The pieces of one call in one language, in speaking order; empty pieces are left out."""
    match = _TICKET.fullmatch(ticket)
    if match is None:
        raise ValueError(f"not a ticket number: {ticket!r} (expected a letter and 3+ digits)")
    if counter < 1:
        raise ValueError(f"not a counter number: {counter!r}")
    try:
        phrases = PHRASES[language]
    except KeyError:
        known = ", ".join(PHRASES)
        raise ValueError(f"no announcement phrases for {language!r}; known: {known}") from None
    letters, digits = match.groups()
    pieces: list[Segment] = [
        Segment("recall", phrases.recall if recall else ""),
        Segment("lead_in", phrases.lead_in),
        Segment("letters", letters),
        Segment("digits", digits),
        Segment("please_go_to", phrases.please_go_to),
        Segment("counter", str(counter)),
        Segment("closing", phrases.closing),
    ]
    return [s for s in pieces if s.text]


def announcement_texts(
    ticket: str,
    counter: int,
    languages: Sequence[str] = DEFAULT_LANGUAGES,
    recall: bool = False,
) -> dict[str, str]:
    """The call's text per language, keyed in the given (play) order."""
    return {
        language: "".join(s.text for s in segments(ticket, counter, language, recall))
        for language in languages
    }


def announcement_templates(
    counter: int,
    languages: Sequence[str] = DEFAULT_LANGUAGES,
    recall: bool = False,
    placeholder: str = "#T#",
) -> dict[str, str]:
    """The call's text per language with `placeholder` where the ticket goes: a script that picks
    the next ticket atomically fills it in (the ticket is not known before it runs)."""
    return {
        language: announcement_texts("A001", counter, (language,), recall)[language].replace(
            "A001", placeholder
        )
        for language in languages
    }
