"""Acceptance and receipt numbers: random, and a receipt number checks itself.

A receipt number is the centre's prefix, eight random symbols (40 bits) and a check symbol, all
in Crockford's base-32 alphabet (no I, L, O or U, so nothing reads as another symbol). The check
symbol is Damm's algorithm over a quasigroup of order 32: x∘y = αx + y in GF(2⁵), α the field's
generator. Since α ∉ {0, 1} the quasigroup is totally anti-symmetric, so every single wrong
symbol and every swap of two neighbours is caught before any look-up. (ISO/IEC 7064 MOD 37-36,
the other candidate, lets a few neighbour swaps through: WCHPPB5EV01 and WCHPPB5EV10 both pass.)
"""

from __future__ import annotations

import datetime as dt
import re
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# 8 symbols of 5 bits: the 40 random bits that make a receipt number unguessable.
RANDOM_SYMBOLS = 8
# Read as Crockford does: these never appear in a number, so mapping them loses nothing.
_READ_AS = str.maketrans({"I": "1", "L": "1", "O": "0"})
_SEPARATORS = re.compile(r"[\s\-_.]+")
# x^5 + x^2 + 1, a primitive polynomial: multiplying by x (α) walks the whole field.
_FIELD_POLY = 0b100101
PREFIX_LETTERS = frozenset(c for c in ALPHABET if c.isalpha())


def _times_alpha(x: int) -> int:
    x <<= 1
    return x ^ _FIELD_POLY if x & 0b100000 else x


def _interim(symbols: str) -> int:
    r = 0
    for ch in symbols:
        r = _times_alpha(r) ^ ALPHABET.index(ch)
    return r


def check_symbol(body: str) -> str:
    """The symbol c with interim(body)∘c = 0."""
    return ALPHABET[_times_alpha(_interim(body))]


def normalise(raw: str) -> str:
    """As typed or scanned: any case, spaces or hyphens, O for 0, I or L for 1."""
    return _SEPARATORS.sub("", raw).upper().translate(_READ_AS)


def well_formed(number: str) -> bool:
    """A normalised receipt number whose check symbol is right."""
    if len(number) <= RANDOM_SYMBOLS + 1 or any(ch not in ALPHABET for ch in number):
        return False
    return _interim(number) == 0


def prefix_of(number: str) -> str:
    return number[: -(RANDOM_SYMBOLS + 1)]


def _random(symbols: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(symbols))


def new_receipt_no(prefix: str) -> str:
    body = prefix + _random(RANDOM_SYMBOLS)
    return body + check_symbol(body)


def new_acceptance_no(prefix: str, day: dt.date) -> str:
    """受理編號: the centre, the day, 40 random bits (never a counter anyone could guess)."""
    return f"{prefix}-{day:%y%m%d}-{_random(RANDOM_SYMBOLS)}"


def grouped(number: str) -> str:
    """For people to read off a slip: WC 7K3M 9QXP Z."""
    prefix, rest = prefix_of(number), number[len(prefix_of(number)):]
    return " ".join([prefix, rest[:4], rest[4:8], rest[8:]])
