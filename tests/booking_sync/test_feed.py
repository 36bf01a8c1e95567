"""The feed pull (CONTRACT §3 `bookings sync`) against a real HTTP server on loopback:
conditional requests, retries with backoff, timeouts, paging; a pull that fails imports
nothing."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from booking_exports import AT, LATER, SECRET, booking, history
from feed_server import FAST, Answer, FeedServer, Page

from queueserver.booking_sync import rows, sync
from queueserver.booking_sync.feed import Policy
from queueserver.bookings.feed_state import FeedState
from queueserver.platform.config import Config
from queueserver.store import keys

TWO = [booking(), booking(booking_ref="MEP240002", id_number="B765432(A)", slot_start="10:00",
                          slot_end="10:30")]


class Run:
    """One sync, with what it reported and the pauses it would have slept."""

    def __init__(self, cfg: Config, r: redis.Redis, at: str = AT,
                 policy: Policy = FAST) -> None:
        self.lines: list[str] = []
        self.notes: list[str] = []
        self.pauses: list[float] = []
        self.result = sync.sync(cfg, r, SECRET, at, lambda line: self.lines.append(str(line)),
                                note=self.notes.append, policy=policy,
                                sleep=self.pauses.append)


def bookings_written(r: redis.Redis) -> dict[str, Any]:
    return {k: r.dump(k) for k in r.scan_iter("qs:{*")}


# --- conditional requests ------------------------------------------------------------------------


def test_an_unchanged_export_costs_one_304_and_no_work(
        r: redis.Redis, feed_cfg: Config, feed_server: FeedServer) -> None:
    feed_server.serve("/export.json", TWO, etag='"v1"')
    first = Run(feed_cfg, r)
    assert (first.result.changed, str(first.result.counts)) == (
        True, "imported=2 updated=0 cancelled=0 unchanged=0 rejected=0")
    assert "if-none-match" not in feed_server.requests()[0].headers
    assert history(r, "wan-chai", "MEP240001")[0]["source"] == "feed"
    before = bookings_written(r)

    again = Run(feed_cfg, r, at=LATER)
    assert (again.result.changed, again.result.requests) == (False, 1)
    assert str(again.result.counts) == "imported=0 updated=0 cancelled=0 unchanged=0 rejected=0"
    assert feed_server.requests()[-1].headers["if-none-match"] == '"v1"'
    assert len(feed_server.requests()) == 2
    assert bookings_written(r) == before
    state = FeedState(r, feed_server.url()).last()
    assert (state["etag"], state["synced_at"], state["checked_at"]) == ('"v1"', AT, LATER)

    # A new version of the export is pulled and applied.
    feed_server.serve("/export.json", [booking(slot_start="11:00", slot_end="11:30")],
                      etag='"v2"')
    changed = Run(feed_cfg, r, at=LATER)
    assert str(changed.result.counts) == "imported=0 updated=1 cancelled=0 unchanged=0 rejected=0"
    assert FeedState(r, feed_server.url()).last()["etag"] == '"v2"'


def test_last_modified_is_sent_back_as_if_modified_since(
        r: redis.Redis, feed_cfg: Config, feed_server: FeedServer) -> None:
    stamp = "Thu, 26 Nov 2026 10:00:00 GMT"
    feed_server.serve("/export.json", TWO, last_modified=stamp)
    Run(feed_cfg, r)
    assert not Run(feed_cfg, r).result.changed
    assert feed_server.requests()[-1].headers["if-modified-since"] == stamp


def test_without_validators_every_pull_is_a_full_one(
        r: redis.Redis, feed_cfg: Config, feed_server: FeedServer) -> None:
    feed_server.serve("/export.json", TWO)
    Run(feed_cfg, r)
    again = Run(feed_cfg, r)
    assert again.result.changed
    assert str(again.result.counts) == "imported=0 updated=0 cancelled=0 unchanged=2 rejected=0"
    assert all("if-none-match" not in s.headers for s in feed_server.requests())


# --- retries, timeouts ---------------------------------------------------------------------------


def test_a_500_then_success_is_retried_after_a_pause(
        r: redis.Redis, feed_cfg: Config, feed_server: FeedServer) -> None:
    feed_server.serve("/export.json", TWO, etag='"v1"')
    feed_server.queue("/export.json", Answer(500, b"oops"), Answer(502))
    run = Run(feed_cfg, r)
    assert str(run.result.counts).startswith("imported=2 ")
    assert (run.result.requests, run.pauses) == (3, [0.01, 0.02])
    assert run.notes[0].endswith("HTTP 500; trying again in 0.01 s (attempt 2 of 3)")
    # The retried request was still the conditional one: the validators came from its answer.
    assert FeedState(r, feed_server.url()).last()["etag"] == '"v1"'


def test_retry_after_is_honoured_up_to_the_cap(
        r: redis.Redis, feed_cfg: Config, feed_server: FeedServer) -> None:
    feed_server.serve("/export.json", TWO)
    feed_server.queue("/export.json", Answer(503, headers={"Retry-After": "0.2"}),
                      Answer(429, headers={"Retry-After": "120"}))
    run = Run(feed_cfg, r)
    # "0.2" is not a whole number of seconds: the usual pause; 120 s is capped at the maximum.
    assert run.pauses == [0.01, FAST.max_backoff_s]


def test_a_feed_that_keeps_failing_imports_nothing(
        r: redis.Redis, feed_cfg: Config, feed_server: FeedServer) -> None:
    feed_server.serve("/export.json", TWO)
    feed_server.queue("/export.json", *[Answer(500)] * 3)
    with pytest.raises(rows.FileError, match="could not be read after 3 attempts: HTTP 500"):
        Run(feed_cfg, r)
    assert len(feed_server.requests()) == 3
    assert bookings_written(r) == {} and not r.exists(keys.booking_index())
    assert FeedState(r, feed_server.url()).last() == {}


def test_an_answer_other_than_200_is_not_retried(
        r: redis.Redis, feed_cfg: Config, feed_server: FeedServer) -> None:
    with pytest.raises(rows.FileError, match=r"/export.json answered HTTP 404"):
        Run(feed_cfg, r)
    assert len(feed_server.requests()) == 1


def test_a_response_slower_than_the_timeout_is_given_up_and_retried(
        r: redis.Redis, feed_cfg: Config, feed_server: FeedServer) -> None:
    feed_server.serve("/export.json", TWO)
    feed_server.queue("/export.json", Answer(delay_s=1.5, page=True))
    run = Run(feed_cfg, r, policy=FAST)
    assert run.notes[0].endswith("no answer within 0.5 s; trying again in 0.01 s "
                                 "(attempt 2 of 3)")
    assert run.result.requests == 2
    assert str(run.result.counts).startswith("imported=2 ")


def test_a_feed_that_is_always_too_slow_imports_nothing(
        r: redis.Redis, feed_cfg: Config, feed_server: FeedServer) -> None:
    feed_server.serve("/export.json", TWO)
    feed_server.queue("/export.json", *[Answer(delay_s=0.8, page=True)] * 2)
    with pytest.raises(rows.FileError, match="after 2 attempts: no answer within 0.3 s"):
        Run(feed_cfg, r, policy=Policy(timeout_s=0.3, attempts=2, first_backoff_s=0.01))
    assert bookings_written(r) == {}


def test_a_body_cut_short_is_fetched_again(
        r: redis.Redis, feed_cfg: Config, feed_server: FeedServer) -> None:
    page = feed_server.serve("/export.json", TWO)
    feed_server.queue("/export.json", Answer(200, page.body[:60], cut_short=True))
    run = Run(feed_cfg, r)
    assert run.result.requests == 2 and "RemoteProtocolError" in run.notes[0]
    assert str(run.result.counts).startswith("imported=2 ")


def test_the_platforms_credential_never_reaches_a_message(
        r: redis.Redis, cfg: Config, feed_server: FeedServer) -> None:
    import msgspec

    from queueserver.platform.config import BookingFeed

    secret_url = feed_server.url("/export.json?token=s3cret").replace("http://",
                                                                      "http://user:pw@")
    feed_server.queue("/export.json", Answer(500))
    with pytest.raises(rows.FileError) as failed:
        Run(msgspec.structs.replace(cfg, booking_feed=BookingFeed(secret_url)), r,
            policy=Policy(attempts=1))
    assert "s3cret" not in str(failed.value) and "pw" not in str(failed.value)
    assert "/export.json" in str(failed.value)


# --- paging --------------------------------------------------------------------------------------


def test_two_pages_by_next_member_are_one_export(
        r: redis.Redis, feed_cfg: Config, feed_server: FeedServer) -> None:
    feed_server.serve("/export.json", [booking()], etag='"v1"', members={"next": "page-2.json"})
    feed_server.serve("/page-2.json", [booking(booking_ref="MEP2", slot_start="10:00",
                                               slot_end="10:30"),
                                       booking(booking_ref="MEP3", id_number="A123456(4)")],
                      members={"next": None})
    run = Run(feed_cfg, r)
    assert str(run.result.counts) == "imported=2 updated=0 cancelled=0 unchanged=0 rejected=1"
    # Rows count on across pages, as if the pages were one export.
    assert run.lines == ["row 3: id_number: check digit does not match"]
    assert [s.path for s in feed_server.requests()] == ["/export.json", "/page-2.json"]
    assert "if-none-match" not in feed_server.requests()[1].headers
    # The first page speaks for the export: unchanged, nothing more is asked.
    assert not Run(feed_cfg, r).result.changed
    assert len(feed_server.requests()) == 3


def test_pages_by_link_header_and_a_failing_page_imports_nothing(
        r: redis.Redis, feed_cfg: Config, feed_server: FeedServer) -> None:
    feed_server.serve("/export.json", [booking()], link=feed_server.url("/p2.json"))
    feed_server.serve("/p2.json", [booking(booking_ref="MEP2")], link="/p3.json")
    feed_server.queue("/p3.json", *[Answer(500)] * 3)
    with pytest.raises(rows.FileError, match="/p3.json could not be read"):
        Run(feed_cfg, r)
    assert bookings_written(r) == {}
    feed_server.serve("/p3.json", [booking(booking_ref="MEP3")])
    assert str(Run(feed_cfg, r).result.counts).startswith("imported=3 ")


def test_next_links_that_go_round_in_circles_stop(
        r: redis.Redis, feed_cfg: Config, feed_server: FeedServer) -> None:
    feed_server.serve("/export.json", [booking()], link="/p2.json")
    feed_server.serve("/p2.json", [booking(booking_ref="MEP2")], link="/export.json")
    with pytest.raises(rows.FileError, match="round in circles"):
        Run(feed_cfg, r)
    assert bookings_written(r) == {}


def test_a_next_member_that_is_not_a_url(
        r: redis.Redis, feed_cfg: Config, feed_server: FeedServer) -> None:
    feed_server.serve("/export.json", [booking()], members={"next": 2})
    with pytest.raises(rows.FileError, match='"next" member is not a URL'):
        Run(feed_cfg, r)


def test_a_feed_that_is_not_json_imports_nothing(
        r: redis.Redis, feed_cfg: Config, feed_server: FeedServer) -> None:
    feed_server.pages["/export.json"] = Page(b"<html>oops")
    with pytest.raises(rows.FileError, match="not valid JSON"):
        Run(feed_cfg, r)
    assert bookings_written(r) == {}
