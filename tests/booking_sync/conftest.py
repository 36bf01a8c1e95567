"""Fixtures of the booking sync tests: a booking platform on loopback, a config naming it."""

from __future__ import annotations

from collections.abc import Iterator

import msgspec
import pytest
from feed_server import FeedServer

from queueserver.platform import config


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer()
    yield server
    server.stop()


@pytest.fixture
def feed_cfg(cfg: config.Config, feed_server: FeedServer) -> config.Config:
    return msgspec.structs.replace(cfg, booking_feed=config.BookingFeed(feed_server.url()))
