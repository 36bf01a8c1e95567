"""A booking's history as its readers show it: the staff's lookup and the person's own export.

The store keeps what changed in a list of JSON entries (`keys.booking_history`, field names
only, never values). A booking an import created keeps its creation on its record instead
(`created_at`, `created_source`: booking_upsert.lua), read back here as the history's first
entry, the one it stands for: 'created', every stored field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from queueserver.bookings.store import STORED

# The record's fields that stand for its 'created' entry: not shown as the record's own.
CREATED = ("created_at", "created_source")


def entries(record: Mapping[str, str], kept: Sequence[str]) -> list[dict[str, Any]]:
    """The booking's history, oldest first: its creation, where its record holds it, then the
    entries kept in its list."""
    out = [_entry(raw) for raw in kept]
    if "created_at" in record:
        out.insert(0, {"at": record["created_at"], "change": "created",
                       "source": record.get("created_source", ""), "fields": list(STORED)})
    return out


def _entry(raw: str) -> dict[str, Any]:
    entry: dict[str, Any] = json.loads(raw)
    if not isinstance(entry.get("fields"), list):
        entry["fields"] = []  # Lua's JSON writes an empty list as {}
    return entry
