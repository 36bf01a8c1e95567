"""Phone numbers for text messages (CONTRACT §9): E.164 only, as the gateway dials them.

A phone number is personal data: it is checked here, stored apart from the ticket until the
ticket's day ends, and never logged, put in an event or repeated in an error.
"""

from __future__ import annotations

import re

# E.164: a plus, a country code that does not start with 0, at most 15 digits in all. Seven is
# the shortest a real subscriber number comes to with its country code.
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


def valid(raw: str) -> bool:
    """Exactly E.164 (`+85291234567`): no spaces, dashes or brackets, which a gateway would
    read differently from one country to the next."""
    return bool(_E164.fullmatch(raw))
