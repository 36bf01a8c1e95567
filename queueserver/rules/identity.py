"""Identity numbers: validated, normalised, then kept only as a keyed hash and a masked form.

The plain number is never stored, logged or put in an error. What else needs it (the kiosks'
`id_verifier`) is computed here while it is at hand.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re

# The kinds of identity number a booking is made with (CONTRACT §3).
ID_KINDS = ("hkid", "access_notice")
_HKID = re.compile(r"^([A-Z]{1,2})([0-9]{6})\(?([0-9A])\)?$")
_SPACE = re.compile(r"\s+")
# As the card has it: upper case, the check digit in brackets, no spaces.
_WRITTEN = re.compile(r"([A-Z]{1,2})([0-9]{6})\(([0-9A])\)")


def normalise(id_kind: str, raw: str) -> str:
    """Upper case, no brackets or spaces: `a123456(3)` -> `A1234563`."""
    text = _SPACE.sub("", raw).upper()
    if id_kind == "hkid":
        return text.replace("(", "").replace(")", "")
    return text


def hkid_check_digit(prefix: str, digits: str) -> str:
    """Weights 9 to 2 over a space (36) or letter (A=10 ... Z=35), a letter, six digits."""
    letters = prefix if len(prefix) == 2 else " " + prefix
    if len(letters) != 2 or len(digits) != 6:
        raise ValueError("1-2 letters and 6 digits")
    d = digits.encode()
    if not d.isdigit():
        raise ValueError("1-2 letters and 6 digits")
    # The digits' weights are 7 to 2 (27 in all), each ASCII code 48 above its digit.
    total = (36 if letters[0] == " " else ord(letters[0]) - 55) * 9 \
        + (ord(letters[1]) - 55) * 8 \
        + 7 * d[0] + 6 * d[1] + 5 * d[2] + 4 * d[3] + 3 * d[4] + 2 * d[5] - 48 * 27
    check = (11 - total % 11) % 11
    return "A" if check == 10 else str(check)


def valid_hkid(raw: str) -> bool:
    """A Hong Kong identity card number with its check digit, brackets optional, any case."""
    m = _WRITTEN.fullmatch(raw)
    if m is not None:  # as written on the card: nothing to take out first
        prefix, digits, check = m.groups()
        return hkid_check_digit(prefix, digits) == check
    text = _SPACE.sub("", raw).upper()
    m = _HKID.match(text)
    if not m or (("(" in text) != (")" in text)):
        return False
    prefix, digits, check = m.groups()
    return hkid_check_digit(prefix, digits) == check


def valid(id_kind: str, raw: str) -> bool:
    if id_kind == "hkid":
        return valid_hkid(raw)
    if id_kind == "access_notice":
        return bool(normalise(id_kind, raw)) and len(raw) <= 64
    return False


# The most of a number a mask shows, and never more than half of it. One mask for every
# number, on every screen and answer: two masks of one number showing different characters
# would together show more than either.
MASK_SHOWN = 4


def mask(text: str) -> str:
    """`K1234567` -> `K1****67`: at most MASK_SHOWN characters (half of a short number), split
    between its two ends; enough to compare with the document in hand. Nothing stays nothing
    (an erased number)."""
    if not text:
        return ""
    shown = min(MASK_SHOWN, len(text) // 2)
    head = shown // 2
    return text[:head] + "****" + text[len(text) - (shown - head):]


def masked(id_kind: str, raw: str) -> str:
    """For staff screens: `A123456(3)` -> `A1****(3)` (its check digit follows from the rest);
    an access notice's reference through `mask`."""
    return _masked(id_kind, normalise(id_kind, raw))


def _masked(id_kind: str, n: str) -> str:
    if id_kind == "hkid":
        prefix = n[:-7]
        return f"{prefix}{n[len(prefix)]}****({n[-1]})"
    return mask(n)


def keyed_hash(secret: bytes, id_kind: str, raw: str) -> str:
    """The only stored form used for matching an identity number."""
    return _keyed_hash(secret, id_kind, normalise(id_kind, raw))


def _keyed_hash(secret: bytes, id_kind: str, n: str) -> str:
    return _mac(secret, f"{id_kind}:{n}".encode()).hex()


def hashes(secret: bytes, raw: str) -> dict[str, str | bool]:
    """A number typed at the desk, a kiosk or a look-up, whose kind nobody said: its keyed hash
    under each kind it is valid as, `False` under a kind it is not. The booking's own kind picks
    which one must match (the scripts compare `hashes[b.id_kind]` with the stored `id_hash`)."""
    return {kind: keyed_hash(secret, kind, raw) if valid(kind, raw) else False
            for kind in ID_KINDS}


def kiosk_key(secret: bytes, centre: str) -> bytes:
    """A centre's kiosk key: lets its kiosks check an identity number offline."""
    return hmac.new(secret, f"kiosk-key:{centre}".encode(), hashlib.sha256).digest()


# CONTRACT §5: the verifier is 16 bits. Every identity number tried against it leaves hundreds
# of candidates a receipt, so a kiosk's copy names nobody; a typed number still checks offline
# (a wrong one passes once in 65,536 and the server, which checks the whole number, flags it).
VERIFIER_HEX = 4


def id_verifier(key: bytes, id_kind: str, raw: str) -> str:
    """The kiosks' offline check: the first 4 hex characters of the HMAC-SHA256 under the
    centre's kiosk key of the normalised number. Only this truncated form is ever stored."""
    return _verifier(key, normalise(id_kind, raw))


def _verifier(key: bytes, n: str) -> str:
    return _mac(key, n.encode()).hex()[:VERIFIER_HEX]


def stored_forms(secret: bytes, kiosk_key: bytes, id_kind: str, raw: str) -> tuple[str, str, str]:
    """What a booking keeps of a number: its `keyed_hash`, its `masked` form and its
    `id_verifier` under `kiosk_key`, the number normalised once for the three."""
    n = normalise(id_kind, raw)
    return _keyed_hash(secret, id_kind, n), _masked(id_kind, n), _verifier(kiosk_key, n)


@functools.lru_cache(maxsize=256)
def _keyed(key: bytes) -> hmac.HMAC:
    return hmac.new(key, digestmod=hashlib.sha256)


def _mac(key: bytes, message: bytes) -> bytes:
    """HMAC-SHA256, from a copy of the key's prepared state (an import hashes every row)."""
    h = _keyed(key).copy()
    h.update(message)
    return h.digest()
