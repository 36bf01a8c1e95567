"""`queueserver bench --short` completes and prints well-formed figures (not that they are
fast: speed is the full benchmark's business, docs/benchmarks.md)."""

from __future__ import annotations

import json
import math
import subprocess
from typing import Any

import pytest
from conftest import SAMPLE_CONFIG, server_env

pytestmark = pytest.mark.e2e


def positive(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


def test_the_short_benchmark_prints_a_table_and_json() -> None:
    # Its own private Redis: REDIS_URL must not be needed. Started five seconds before the
    # centre's midnight: its servers keep a working morning of that day (`servers_clock`), or
    # the day would change under the check-ins and calls.
    env = server_env(None, QUEUESERVER_TEST_NOW="2026-12-07T23:59:55+08:00")
    done = subprocess.run(["queueserver", "--config", str(SAMPLE_CONFIG), "bench", "--short"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    table = "\n".join(lines[:-1])
    for row in ("check-in tickets/s", "30 displays event->display p99_ms",
                "100 displays click->display p99_ms", "resident memory per idle display KiB",
                "booking rush (500) bookings/s", "booking rush listing 31 days p99_ms",
                "bookings import (2000 rows) rows/s", "bookings import peak RSS MiB",
                "200 phones event->phone p99_ms", "resident memory per idle phone KiB"):
        assert row in table
    assert result["processes"] == 2 and result["machine"]["cpus"] >= 1
    for side in ("project", "floor"):
        check_in = result["check_in"][side]
        assert check_in["count"] == result["plan"]["check_ins"] and check_in["errors"] == {}
        assert positive(check_in["tickets_per_s"])
        assert check_in["p50_ms"] <= check_in["p99_ms"] <= check_in["max_ms"]
        for size in ("30", "100"):
            for measure in ("event_to_display", "click_to_display"):
                figures = result["call_to_display"][size][side][measure]
                assert figures["samples"] == int(size) * result["plan"]["calls"]
                assert 0 <= figures["p50_ms"] <= figures["p99_ms"] <= figures["max_ms"]
        # A difference of two readings of resident memory: noisy in a short run, so only its
        # form is checked here.
        memory = result["memory_per_idle_display_kib"][side]
        assert isinstance(memory, int | float) and math.isfinite(memory)
    for size in ("30", "100"):
        assert all(positive(r) for r in result["call_to_display"][size]["ratio_p99"].values())
    # Check-in into a queue of 10 and of 5,000 (issue 20), each measured behind its queue.
    depth = result["check_in_by_depth"]
    assert set(depth) == {"10", "5000"}
    for waiting, figures in depth.items():
        assert figures["count"] == result["plan"]["depth_check_ins"] and figures["errors"] == {}
        assert positive(figures["tickets_per_s"]) and 0 < figures["p99_ms"] <= figures["max_ms"]
        assert figures["waiting_before"] == int(waiting)
        assert figures["waiting_after"] == int(waiting) + figures["count"]
        assert f"check-in tickets/s at {waiting} waiting" in table
        # The check-in script's own time in Redis, every one of them traced.
        script = figures["script_us"]
        assert script["count"] == figures["count"] and 0 < script["p50"] <= script["p99"]
    # Redis's SLOWLOG over 500 µs, every phase read (how many there are is the machine's
    # business: a loaded machine's scheduler shows in it).
    slow = result["slowlog"]
    assert slow["threshold_us"] == 500 and slow["count"] >= 0
    assert set(slow["by_phase"]) == {"check_in", "check_in_by_depth", "calls", "phones",
                                     "booking_rush", "import"}
    assert slow["count"] == sum(p["count"] for p in slow["by_phase"].values())
    if slow["count"]:
        assert positive(slow["slowest_us"]) and slow["slowest"]
        assert "unknown script" not in json.dumps(slow)  # every script named
    # Not the benchmark's own reading of the log; and how its Redis was scheduled is said.
    assert not {"slowlog", "config"} & set(slow["by_name"])
    assert result["machine"]["redis_scheduling"] in ("SCHED_FIFO", "nice -10", "normal")
    assert "SLOWLOG over 500 us" in table
    # The follow page's phones (CONTRACT §9): the hall's calls with and without them, and every
    # phone's update of every call.
    phones = result["phones"]
    plan = result["plan"]
    assert (phones["phones"], phones["displays"], phones["calls"]) == \
        (plan["phones"], 30, plan["phone_calls"])
    for measure in ("event_to_display_without_phones", "event_to_display_with_phones"):
        assert phones[measure]["samples"] == 30 * plan["phone_calls"]
    for measure in ("event_to_phone", "click_to_phone"):
        assert phones[measure]["samples"] == plan["phones"] * plan["phone_calls"]
        assert 0 <= phones[measure]["p50_ms"] <= phones[measure]["p99_ms"] \
            <= phones[measure]["max_ms"]
    assert positive(phones["ratio_p99"])
    # The same, as the issue names them; the phones' memory measured on a process of its own.
    follow = result["follow"]
    assert follow["phones"] == plan["phones"]
    assert follow["display_p99_ms"] == {
        "without_phones": phones["event_to_display_without_phones"]["p99_ms"],
        "with_phones": phones["event_to_display_with_phones"]["p99_ms"]}
    assert follow["phone_update_p99_ms"] == phones["event_to_phone"]["p99_ms"]
    assert positive(follow["memory_per_idle_phone_kib"])
    assert set(result["targets_met"]) >= {"check_in_>=_1000_per_s_with_2_processes",
                                          "check_in_>=_0.6x_floor",
                                          "check_in_at_5000_waiting_within_15%_of_10",
                                          "no_command_over_500us_in_check_ins",
                                          "call_p99_<=_10ms_30_displays",
                                          "idle_display_<=_64KiB",
                                          "idle_display_<=_24KiB", "idle_phone_<=_24KiB",
                                          "click_p99_<=_1.3x_floor_30_displays",
                                          "phone_update_p99_<=_1s_200_phones",
                                          "call_p99_with_200_phones_<=_1.5x_without"}
    assert all(isinstance(v, bool) for v in result["targets_met"].values())
    # The opening rush: every applicant finds a place (the city has more than enough), none is
    # given beyond a slot's capacity, and nothing fails.
    rush = result["booking_rush"]
    assert set(rush) >= {"applicants", "bookings_per_s", "p50_ms", "p99_ms", "overbooked",
                         "errors_5xx", "listing_p99_ms"}
    assert rush["applicants"] == rush["bookings"] == 500
    assert rush["overbooked"] == 0 and rush["errors_5xx"] == 0 and rush["other_statuses"] == {}
    assert positive(rush["bookings_per_s"]) and 0 < rush["p50_ms"] <= rush["p99_ms"]
    assert positive(rush["listing_p99_ms"])
    assert result["targets_met"]["booking_rush_no_overbooking_no_5xx"] is True
    # The booking import: the command, its own process, imported every row (bench.command
    # checks its summary line).
    imported = result["import"]
    assert imported["rows"] == result["plan"]["import_rows"] == 2000
    assert positive(imported["rows_per_s"]) and positive(imported["peak_rss_mib"])
