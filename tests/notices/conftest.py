"""The notices' tests assert exact times: their clock stands still until a test moves it."""

from __future__ import annotations

import pytest
from conftest import MORNING

from queueserver.platform import config
from queueserver.platform.clock import Clock


@pytest.fixture
def clock(cfg: config.Config) -> Clock:
    return Clock(cfg.tz, MORNING, rate=0.0)
