"""The engine's pure decisions: the retry schedule (exponential backoff, full jitter, a window of
at least a day, a last attempt at its end), auto-pause, and which changes a batch means."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from agents.shipment_state import apply_events
from schemas.events import TZ_GIVEN, TrackingEvent
from sinks.outbound import policy
from trackstream.settings import OutboundSettings

T0 = datetime(2026, 12, 1, 12, tzinfo=UTC)


def test_retries_back_off_with_full_jitter_for_the_whole_window_then_give_up() -> None:
    settings = OutboundSettings()  # the defaults: base 5 s, at most 1 h, window 72 h
    assert settings.retry_window_seconds >= 24 * 3600
    rng = random.Random(7)
    now, failures, attempts = T0, 0, [T0]
    while True:
        failures += 1
        following = policy.next_attempt(failures, T0, now, settings, rng)
        if following is None:
            break
        ceiling = min(settings.retry_max_seconds, settings.retry_base_seconds * 2 ** (failures - 1))
        assert timedelta(0) <= following - now <= timedelta(seconds=ceiling)
        now = following
        attempts.append(now)
    assert attempts[-1] == T0 + timedelta(seconds=settings.retry_window_seconds)  # the last try: at the end
    assert attempts[-1] - attempts[0] >= timedelta(hours=24)
    assert 20 < len(attempts) < 1000


def test_full_jitter_spreads_over_the_whole_interval() -> None:
    settings = OutboundSettings(retry_base_seconds=10, retry_max_seconds=3600)
    rng = random.Random(1)
    delays = [policy.retry_delay(4, settings, rng) for _ in range(2000)]
    assert min(delays) < 4 and max(delays) > 76 and all(0 <= d <= 80 for d in delays)
    assert max(policy.retry_delay(30, settings, rng) for _ in range(200)) <= 3600


def test_a_destination_is_paused_only_after_enough_failures_over_enough_time() -> None:
    settings = OutboundSettings(pause_after_failures=20, pause_after_seconds=86400)
    since = T0
    assert not policy.should_pause(19, since, T0 + timedelta(days=2), settings)
    assert not policy.should_pause(500, since, T0 + timedelta(hours=23), settings)
    assert not policy.should_pause(500, None, T0 + timedelta(days=2), settings)
    assert policy.should_pause(20, since, T0 + timedelta(days=1), settings)
    assert "20 delivery attempts" in policy.pause_notice(20, since)


def _event(number: str, i: int, status: str) -> TrackingEvent:
    at = T0 + timedelta(hours=i)
    return TrackingEvent(event_id=f"{number}-{i}", carrier="ptest", tracking_number=number, status=status,
                         substatus=None, code=f"C{i}", description=f"d{i}", occurred_at=at, local_time=at.isoformat(),
                         tz_source=TZ_GIVEN, received_at=T0 + timedelta(days=1))


def test_changes_of_a_batch_events_then_the_status_change_it_caused() -> None:
    events = [_event("A1", 1, "in_transit"), _event("A1", 0, "pre_transit"), _event("A1", 2, "delivered")]
    state = apply_events(None, events, T0).state
    found = policy.changes(events, [state], {state.key: "pending"})
    assert [(c.kind, c.event.event_id) for c in found] == [
        ("event", "A1-0"), ("event", "A1-1"), ("event", "A1-2"),
        ("status_changed", "A1-2"), ("delivered", "A1-2")]
    assert found[3].previous_status == "pending"
    # the same status as stored (a late event, a replay): events only
    late = [_event("A1", -1, "pre_transit")]
    assert [c.kind for c in policy.changes(late, [state], {state.key: "delivered"})] == ["event"]
    # the same batch written again (a replay after a crash): the stored status is already the new one
    assert [c.kind for c in policy.changes(events, [state], {state.key: "delivered"})] == ["event"] * 3
    # shipments nobody subscribed to are not looked at
    assert policy.changes(events, [state], {}) == []


def test_exception_and_customer_binding() -> None:
    events = [_event("B1", 0, "exception")]
    state = apply_events(None, events, T0).state
    kinds = [c.kind for c in policy.changes(events, [state], {state.key: None})]
    assert kinds == ["event", "status_changed", "exception"]
    change = policy.changes(events, [state], {state.key: None})[2]
    assert policy.wanted(change, ["exception"], None)
    assert not policy.wanted(change, ["delivered", "event"], None)
    assert not policy.wanted(change, ["exception"], ("acme",))  # no customer: a bound key does not see it
    state.registration = {"customer": "acme"}
    assert policy.wanted(change, ["exception"], ("acme",))
    assert not policy.wanted(change, ["exception"], ("other",))
