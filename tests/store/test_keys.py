"""Every Redis key name, pinned: a renamed key would strand a running centre's data."""

from __future__ import annotations

from queueserver.store import keys


def test_centre_keys_carry_the_centre_as_a_hash_tag() -> None:
    c = "wan-chai"
    assert keys.centre_prefix(c) == "qs:{wan-chai}:"
    assert keys.events(c) == "qs:{wan-chai}:events"
    assert keys.booking(c, "MEP1") == "qs:{wan-chai}:booking:MEP1"
    assert keys.booking_history(c, "MEP1") == "qs:{wan-chai}:booking-history:MEP1"
    assert keys.bookings_on(c, "2026-11-27") == "qs:{wan-chai}:bookings:2026-11-27"
    assert keys.bookings_by_id(c, "ab12") == "qs:{wan-chai}:bookings-by-id:ab12"
    assert keys.photo_receipt(c, "PH1") == "qs:{wan-chai}:photo:PH1"
    assert keys.sequence(c, "2026-11-27", "A") == "qs:{wan-chai}:seq:2026-11-27:A"
    assert keys.ticket(c, "2026-11-27", "A001") == "qs:{wan-chai}:ticket:2026-11-27:A001"
    assert keys.queue(c, "2026-11-27", "A") == "qs:{wan-chai}:queue:2026-11-27:A"
    assert keys.day_tickets(c, "2026-11-27") == "qs:{wan-chai}:tickets:2026-11-27"
    assert keys.counter(c, 5) == "qs:{wan-chai}:counter:5"
    assert keys.recent_calls(c, "2026-11-27") == "qs:{wan-chai}:calls:2026-11-27"
    assert keys.service_times(c, "A") == "qs:{wan-chai}:service-times:A"
    assert keys.idempotency(c, "ab12") == "qs:{wan-chai}:idem:ab12"
    assert keys.counter_service_times(c, 5) == "qs:{wan-chai}:counter-service-times:5"
    assert keys.day_close(c, "2026-11-27") == "qs:{wan-chai}:day:2026-11-27"
    assert keys.archive(c, "2026-11-27") == "qs:{wan-chai}:archive:2026-11-27"
    assert keys.payments(c, "2026-11-27") == "qs:{wan-chai}:payments:2026-11-27"
    assert keys.receipt(c, "WC12345678X") == "qs:{wan-chai}:receipt:WC12345678X"
    assert keys.receipts_uncollected(c) == "qs:{wan-chai}:receipts-uncollected"
    assert keys.collection_flags(c) == "qs:{wan-chai}:collection-flags"
    assert keys.booking_requests(c, "MEP1") == "qs:{wan-chai}:booking-requests:MEP1"


def test_keys_of_no_centre_have_no_hash_tag() -> None:
    assert keys.token("ab12") == "qs:token:ab12"
    assert keys.token_names() == "qs:token-names"
    assert keys.credential_names() == "qs:credential-names"
    assert keys.privacy_log("wan-chai") == "qs:{wan-chai}:privacy-log"
    assert keys.booking_index() == "qs:booking-index"
    assert keys.receipt_index() == "qs:receipt-index"
    assert keys.idempotency_global("ab12") == "qs:idem:ab12"
    assert keys.lookup_failures("ab12") == "qs:lookup-failures:ab12"
    assert keys.schedule_lock("booking-sync") == "qs:schedule:booking-sync"
    assert keys.demo_clock() == "qs:demo:clock"
    assert keys.import_plan("ab12") == "qs:import-plan:ab12"
    assert keys.booking_feed("ab12") == "qs:booking-feed:ab12"
    assert keys.booking_feed_lock("ab12") == "qs:booking-feed-lock:ab12"


def test_login_and_session_keys() -> None:
    assert keys.user("amy") == "qs:user:amy"
    assert keys.user_names() == "qs:user-names"
    assert keys.user_sessions("amy") == "qs:user-sessions:amy"
    assert keys.session("ab12") == "qs:session:ab12"
    assert keys.login_failures_user("amy") == "qs:login-failures:user:amy"
    assert keys.login_failures_address("127.0.0.1") == "qs:login-failures:addr:127.0.0.1"
    assert keys.rate_bucket("t_0a1b2c") == "qs:rate:t_0a1b2c"


def test_announcement_audio_keys_belong_to_no_centre() -> None:
    assert keys.sound_segment("0a1b2c3d4e5f") == "qs:sound:segment:0a1b2c3d4e5f"
    assert keys.sound_segments() == "qs:sound:segments"
    assert keys.sound_clip("c1.0a1b2c3d4e5f") == "qs:sound:clip:c1.0a1b2c3d4e5f"


def test_the_benchmark_floor_stream_belongs_to_no_centre() -> None:
    assert keys.bench_floor() == "qs:bench:floor"


def test_a_restore_tries_payloads_in_the_centres_slot() -> None:
    assert keys.restore_check("wan-chai") == "qs:{wan-chai}:restore-check"


def test_scripts_build_the_same_names(client, tokens, seed, r) -> None:  # type: ignore[no-untyped-def]
    """Scripts derive keys from the centre's prefix: the names they write are these."""
    from conftest import SECRET, bearer

    from queueserver.rules import identity

    seed("MEP1")
    h = bearer(tokens["admin"])
    client.post("/api/v1/centres/wan-chai/photo-receipts", json={"barcode": "PH1"}, headers=h)
    client.post("/api/v1/centres/wan-chai/tickets", headers=h, json={
        "booking_ref": "MEP1", "id_number": "A123456(3)", "photo_barcode": "PH1"})
    client.post("/api/v1/centres/wan-chai/counters/1/call", headers=h)
    day, c = "2026-11-27", "wan-chai"
    expected = {keys.events(c), keys.booking(c, "MEP1"), keys.booking_history(c, "MEP1"),
                keys.photo_receipt(c, "PH1"), keys.sequence(c, day, "A"),
                keys.ticket(c, day, "A001"), keys.day_tickets(c, day), keys.counter(c, 1),
                keys.recent_calls(c, day), keys.booking_index(), keys.bookings_on(c, day),
                keys.bookings_by_id(c, identity.keyed_hash(SECRET, "hkid", "A123456(3)"))}
    written = {k for k in r.scan_iter("qs:*")
               if not k.startswith("qs:token") and k != keys.credential_names()}
    assert written == expected
