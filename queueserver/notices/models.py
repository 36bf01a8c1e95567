"""The notices' answers as typed models (CONTRACT §10). NOTICE and the closure are parts of the
board, so they live with it (`queue/models.py`); these wrap them."""

from __future__ import annotations

from queueserver.platform.errors import Answer
from queueserver.queue.models import Closure, Notice


class NoticeAnswer(Answer, frozen=True):
    """`{"notice": NOTICE}`: the notice posted."""

    notice: Notice


class NoticesAnswer(Answer, frozen=True):
    """The current notices, oldest first."""

    notices: list[Notice]


class Issuing(Answer, frozen=True):
    """Whether issuing is open, and while it is closed, the closure."""

    issuing: bool
    closure: Closure | None
