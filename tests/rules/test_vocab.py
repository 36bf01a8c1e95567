"""The vocabularies are defined once: the screens' copy in words.js, the scripts' event types and
the config's application types all agree with `queueserver/rules/vocab.py`."""

from __future__ import annotations

import json
import re
from enum import StrEnum
from importlib import resources

import pytest

from queueserver.live.models import DATA
from queueserver.operations import privacy
from queueserver.platform import config
from queueserver.rules import vocab

# words.js's tables and the vocabulary each one shows.
TABLES: dict[str, dict[StrEnum, tuple[str, str]]] = {
    "STATUS": dict(vocab.STATUS_WORDS),
    "COUNTER_STATE": dict(vocab.COUNTER_STATE_WORDS),
    "APPLICATION_TYPE": dict(vocab.APPLICATION_TYPE_WORDS),
    "PAYMENT_METHOD": dict(vocab.PAYMENT_METHOD_WORDS),
    "DECLINE_REASON": dict(vocab.DECLINE_REASON_WORDS),
}
_TABLE = re.compile(r"^export const (\w+) = \{\n(.*?)^\};", re.M | re.S)
_ENTRY = re.compile(r"^\s+(\w+): (\[.*\]),$", re.M)


def words_js() -> dict[str, dict[str, tuple[str, str]]]:
    """words.js's tables: name -> key -> (繁體中文, English)."""
    text = (resources.files("queueserver.templates") / "static" / "words.js").read_text("utf-8")
    tables = {}
    for name, body in _TABLE.findall(text):
        entries = _ENTRY.findall(body)
        assert len(entries) == body.count("\n"), f"{name}: a line words_js() cannot read"
        tables[name] = {key: tuple(json.loads(words)) for key, words in entries}
    return tables


@pytest.mark.parametrize("name", sorted(TABLES))
def test_the_screens_words_are_the_vocabularys(name: str) -> None:
    table = TABLES[name]
    kind = type(next(iter(table)))
    assert set(table) == set(kind), f"{kind.__name__} has values without words"
    assert words_js()[name] == {member.value: words for member, words in table.items()}


def test_words_js_is_read_whole() -> None:
    """The parser above sees every table, so a table it missed cannot pass unchecked."""
    found = words_js()
    assert set(TABLES) <= set(found)
    assert len(found["NEXT_STEP"]) > 10


def test_every_event_type_a_script_emits_is_in_the_vocabulary() -> None:
    """Every event type the scripts spell (to `emit`, `announce` or a helper that emits) is a
    member of `EventType`, and each has the model of its data (CONTRACT §6)."""
    scripts = resources.files("queueserver.store.scripts")
    emitted = set()
    for script in scripts.iterdir():
        if script.name.endswith(".lua"):
            text = script.read_text("utf-8")
            emitted |= set(re.findall(
                r"'((?:ticket|counter|collection|notice|centre|printer)\.[a-z_]+)'", text))
    assert len(emitted) >= 24
    assert emitted == {e.value for e in DATA}
    # The privacy log's types are built from privacy.Why (`personal_data.` and its value).
    logged = {f"personal_data.{why}" for why in privacy.Why}
    assert emitted | logged == {e.value for e in vocab.EventType}


def test_the_config_and_the_contract_name_the_same_application_types() -> None:
    assert config.APPLICATION_TYPES == tuple(vocab.ApplicationType)
    assert set(config.DEFAULT_FEES) == set(vocab.ApplicationType)
    assert vocab.SURRENDER_TYPES == {"renewal", "reissue_damaged"}
