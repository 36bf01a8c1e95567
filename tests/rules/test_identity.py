"""Identity numbers: the HKID check digit, normalising, masking and the stored hashes."""

from __future__ import annotations

import hashlib
import hmac
import re

import pytest

from queueserver.rules import identity

# Check digits worked by hand: A123456 -> 3 is the contract's own example; B765432 and
# Z683365 have the check "digit" A (10); AB987654 has a two-letter prefix.
GOOD = [
    "A123456(3)",
    "A1234563",
    "a123456(3)",
    " A123456 (3) ",
    "B765432(A)",
    "b765432a",
    "Z683365(A)",
    "AB987654(3)",
    "ab9876543",
    "XA000001(6)",
]
BAD = [
    "A123456(4)",
    "A1234564",
    "B765432(1)",
    "AB987654(4)",
    "A123456(3",
    "A1234563)",
    "A12345(3)",
    "A1234567(3)",
    "1234567(3)",
    "ABC123456(3)",
    "A123456(B)",
    "A123456()",
    "",
    "(3)",
]


@pytest.mark.parametrize("raw", GOOD)
def test_valid_hkid(raw: str) -> None:
    assert identity.valid("hkid", raw)


@pytest.mark.parametrize("raw", BAD)
def test_invalid_hkid(raw: str) -> None:
    assert not identity.valid("hkid", raw)


def test_check_digit() -> None:
    assert identity.hkid_check_digit("A", "123456") == "3"
    assert identity.hkid_check_digit("B", "765432") == "A"
    assert identity.hkid_check_digit("AB", "987654") == "3"


def test_access_notice() -> None:
    assert identity.valid("access_notice", "AN 2026/001234")
    assert not identity.valid("access_notice", "   ")
    assert not identity.valid("access_notice", "X" * 65)
    assert not identity.valid("passport", "K1234567")


def test_normalise() -> None:
    assert identity.normalise("hkid", "A123456(3)") == "A1234563"
    assert identity.normalise("hkid", "a123456 (3)") == "A1234563"
    assert identity.normalise("access_notice", "an 2026/001") == "AN2026/001"


def test_masked() -> None:
    assert identity.masked("hkid", "A123456(3)") == "A1****(3)"
    assert identity.masked("hkid", "a1234563") == "A1****(3)"
    assert identity.masked("hkid", "AB987654(3)") == "AB9****(3)"
    assert identity.masked("access_notice", "AN2026001") == "AN****01"
    assert identity.masked("access_notice", "AN123") == "A****3"


def test_one_mask_shows_at_most_four_characters() -> None:
    assert identity.mask("K1234567") == "K1****67"
    assert identity.mask("X00000007") == "X0****07"
    assert identity.mask("ABCDEFGHIJKLMNOPQRST") == "AB****ST"
    assert identity.mask("ABCDE") == "A****E"          # never half of a short one
    assert identity.mask("") == ""


def test_keyed_hash_matches_every_written_form() -> None:
    secret = b"test-secret"
    forms = {
        identity.keyed_hash(secret, "hkid", raw)
        for raw in ("A123456(3)", "a1234563", "A123456 (3)")
    }
    assert len(forms) == 1
    assert forms != {identity.keyed_hash(secret, "access_notice", "A123456(3)")}
    assert forms != {identity.keyed_hash(b"another-secret", "hkid", "A123456(3)")}
    stored = forms.pop()
    assert re.fullmatch(r"[0-9a-f]{64}", stored)
    # Neither the number in any written form (compared without case: the digest is lower-case
    # hex), nor a hash anyone could make without the secret.
    for plain in ("A1234563", "A123456", "1234563"):
        assert plain.lower() not in stored.lower()
    assert stored not in {hashlib.sha256(m.encode()).hexdigest()
                          for m in ("A1234563", "hkid:A1234563", "A123456(3)")}


def test_hashes_give_each_kind_the_number_may_be() -> None:
    """The desk, the kiosk and the staff look-up hash a typed number through this one function:
    the stored `id_hash` of a booking of either kind is among its values."""
    secret = b"test-secret"
    card = identity.hashes(secret, "a123456 (3)")
    assert card == {"hkid": identity.keyed_hash(secret, "hkid", "A123456(3)"),
                    "access_notice": identity.keyed_hash(secret, "access_notice", "A123456(3)")}
    assert card["hkid"] != card["access_notice"]
    # A wrong check digit is no identity card, but may still be an access notice reference.
    assert identity.hashes(secret, "A123456(4)")["hkid"] is False
    assert identity.hashes(secret, "AN 2026 001") == {
        "hkid": False, "access_notice": identity.keyed_hash(secret, "access_notice", "AN2026001")}
    assert identity.hashes(secret, "   ") == {"hkid": False, "access_notice": False}


def test_id_verifier_is_the_contracts_hmac() -> None:
    key = identity.kiosk_key(b"test-secret", "wan-chai")
    expected = hmac.new(bytes.fromhex(key.hex()), b"A1234563", "sha256").hexdigest()[:4]
    assert identity.id_verifier(key, "hkid", "a123456(3)") == expected
    assert key != identity.kiosk_key(b"test-secret", "kowloon-bay")


@pytest.mark.parametrize(("kind", "raw"), [
    ("hkid", "A123456(3)"), ("hkid", "a 123456 (3)"), ("hkid", "AB9876543"),
    ("access_notice", "an-2026-0001"), ("access_notice", " N 42 ")])
def test_stored_forms_are_the_three_forms_at_once(kind: str, raw: str) -> None:
    secret, kiosk = b"s" * 32, identity.kiosk_key(b"s" * 32, "wan-chai")
    assert identity.stored_forms(secret, kiosk, kind, raw) == (
        identity.keyed_hash(secret, kind, raw), identity.masked(kind, raw),
        identity.id_verifier(kiosk, kind, raw))

