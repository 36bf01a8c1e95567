"""What a call says aloud: the contract's texts as a Hong Kong caller reads them, in segments.

The ticket is read as its letter, then digit by digit ("A, zero, two, three"); the counter as
a number ("counter twenty-one", 「二十一號櫃位」). Each piece is rendered once per engine,
language and voice, and the pieces are joined into one clip per language and call
(`segments.py`).

A piece's text is what the engine is given; punctuation at either end marks a pause there (a comma
or a full stop in the sentence), which the segment keeps as silence since engines drop it when
they read a lone word.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

PieceKind = Literal["recall", "lead_in", "letter", "digit", "please_go_to", "counter", "closing",
                    "free_text"]

# Where a caller reads numbers in words; beyond it, counters are read digit by digit like tickets.
LARGEST_COUNTER_IN_WORDS = 999

_TICKET = re.compile(r"([A-Z])([0-9]{3,})")


@dataclass(frozen=True)
class Spoken:
    """The fixed words of one language's call, as they are said."""

    recall: str
    lead_in: str
    please_go_to: str
    closing: str
    digits: tuple[str, ...]


_CHINESE_DIGITS = tuple("零一二三四五六七八九")

SPOKEN: dict[str, Spoken] = {
    "yue": Spoken(recall="再次廣播，", lead_in="籌號", please_go_to="，請到", closing="號櫃位",
                  digits=_CHINESE_DIGITS),
    "cmn": Spoken(recall="再次广播，", lead_in="请", please_go_to="号到", closing="号柜台",
                  digits=_CHINESE_DIGITS),
    "en": Spoken(recall="Calling again.", lead_in="Ticket", please_go_to=", please go to counter",
                 closing="", digits=("zero", "one", "two", "three", "four", "five", "six",
                                     "seven", "eight", "nine")),
}

_EN_TEENS = ("ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
             "seventeen", "eighteen", "nineteen")
_EN_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")


@dataclass(frozen=True)
class Piece:
    """One segment of a call: what kind of piece it is, and the text an engine reads."""

    kind: PieceKind
    text: str


def _spoken(language: str) -> Spoken:
    try:
        return SPOKEN[language]
    except KeyError:
        known = ", ".join(SPOKEN)
        raise ValueError(f"no spoken phrases for {language!r}; known: {known}") from None


def _chinese(n: int) -> str:
    """1–999 as said in Cantonese and Putonghua alike: 十一, 二十, 一百零五, 一百一十."""
    d = _CHINESE_DIGITS
    hundreds, rest = divmod(n, 100)
    tens, ones = divmod(rest, 10)
    if not hundreds:
        if not tens:
            return d[ones]
        return ("" if tens == 1 else d[tens]) + "十" + (d[ones] if ones else "")
    out = d[hundreds] + "百"
    if tens:
        out += d[tens] + "十"
    elif ones:
        out += "零"
    return out + (d[ones] if ones else "")


def _english(n: int) -> str:
    """1–999 as a Hong Kong (British) English speaker says it: "one hundred and five"."""
    digits = SPOKEN["en"].digits
    hundreds, rest = divmod(n, 100)
    words = []
    if hundreds:
        words.append(f"{digits[hundreds]} hundred")
    if rest:
        if rest < 10:
            under = digits[rest]
        elif rest < 20:
            under = _EN_TEENS[rest - 10]
        else:
            tens, ones = divmod(rest, 10)
            under = _EN_TENS[tens] + (f"-{digits[ones]}" if ones else "")
        words.append(under)
    return " and ".join(words)


def counter_words(number: int, language: str) -> str:
    """How a counter's number is said."""
    if number < 1:
        raise ValueError(f"not a counter number: {number!r}")
    if number > LARGEST_COUNTER_IN_WORDS:
        return " ".join(digit_words(c, language) for c in str(number))
    if language == "en":
        return _english(number)
    _spoken(language)
    return _chinese(number)


def digit_words(digit: str, language: str) -> str:
    if len(digit) != 1 or not digit.isdigit():
        raise ValueError(f"not a digit: {digit!r}")
    return _spoken(language).digits[int(digit)]


def letter_words(letter: str, language: str) -> str:
    """A service letter is said by its English name in all three languages, as callers do in
    Hong Kong; every engine reads a lone capital that way."""
    if not re.fullmatch(r"[A-Z]", letter):
        raise ValueError(f"not a service letter: {letter!r}")
    _spoken(language)
    return letter


def pieces(ticket: str, counter: int, language: str, recall: bool = False) -> list[Piece]:
    """The pieces of one call in one language, in speaking order."""
    match = _TICKET.fullmatch(ticket)
    if match is None:
        raise ValueError(f"not a ticket number: {ticket!r} (expected a letter and 3+ digits)")
    spoken = _spoken(language)
    letter, digits = match.groups()
    out = [Piece("recall", spoken.recall)] if recall else []
    out += [Piece("lead_in", spoken.lead_in), Piece("letter", letter_words(letter, language))]
    out += [Piece("digit", digit_words(d, language)) for d in digits]
    out += [Piece("please_go_to", spoken.please_go_to),
            Piece("counter", counter_words(counter, language))]
    if spoken.closing:
        out.append(Piece("closing", spoken.closing))
    return out


def centre_pieces(letters: Iterable[str], counters: Iterable[int],
                  languages: Sequence[str]) -> list[tuple[str, Piece]]:
    """Every (language, piece) a centre with these service letters and counters can need, calls
    and recalls alike, each once, in a stable order."""
    out: dict[tuple[str, Piece], None] = {}
    for language in languages:
        spoken = _spoken(language)
        fixed = [Piece("recall", spoken.recall), Piece("lead_in", spoken.lead_in),
                 Piece("please_go_to", spoken.please_go_to)]
        if spoken.closing:
            fixed.append(Piece("closing", spoken.closing))
        for piece in fixed:
            out[(language, piece)] = None
        for letter in sorted(set(letters)):
            out[(language, Piece("letter", letter_words(letter, language)))] = None
        for digit in "0123456789":
            out[(language, Piece("digit", digit_words(digit, language)))] = None
        for counter in sorted(set(counters)):
            out[(language, Piece("counter", counter_words(counter, language)))] = None
    return list(out)
