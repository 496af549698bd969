"""Worker output stays under the broker's message limit: ``tracking.events`` and ``shipment.changes``
messages are split above ``MAX_MESSAGE_BYTES`` (regression: a backlog from a large file feed made the
normalizer group megabytes of events into one message, which the producer refused forever)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agents.shipment_state import apply_events
from schemas.changes import decode_changes, encode_changes, encode_changes_messages
from schemas.events import TZ_GIVEN, TrackingEvent, decode_events, encode_event_messages, encode_events

NOW = datetime(2026, 11, 21, tzinfo=UTC)


def ev(number: str, i: int) -> TrackingEvent:
    return TrackingEvent(event_id=f"{number}-{i}", carrier="fleet", tracking_number=number, status="in_transit",
                         substatus=None, code=str(i), description="Sorted at the hub " * 3,
                         occurred_at=NOW - timedelta(minutes=i), local_time="", tz_source=TZ_GIVEN, received_at=NOW)


def test_small_groups_stay_one_message_in_the_same_format() -> None:
    events = [ev("A", i) for i in range(5)]
    assert encode_event_messages(events) == [(events[0], encode_events(events))]
    outcome = apply_events(None, events, NOW)
    assert encode_changes_messages([(outcome.accepted, outcome.state)]) == [
        (outcome.state, encode_changes(outcome.accepted, [outcome.state]))]


def test_events_are_split_under_the_limit_in_order() -> None:
    events = [ev(f"N{i % 37}", i) for i in range(3000)]
    messages = encode_event_messages(events, limit=20_000)
    assert len(messages) > 10
    assert all(len(value) <= 20_000 for _, value in messages)
    decoded = [e for _, value in messages for e in decode_events(value)]
    assert decoded == events
    assert [first for first, _ in messages] == [decode_events(value)[0] for _, value in messages]
    assert encode_event_messages([], limit=100) == []


def test_an_event_larger_than_the_limit_travels_alone() -> None:
    events = [ev("A", 1), ev("B", 2), ev("C", 3)]
    messages = encode_event_messages(events, limit=10)
    assert [decode_events(value) for _, value in messages] == [[e] for e in events]


def test_changes_are_split_without_separating_a_shipment_from_its_state() -> None:
    outcomes = [apply_events(None, [ev(f"S{n}", i) for i in range(n % 7 + 1)], NOW) for n in range(400)]
    messages = encode_changes_messages([(o.accepted, o.state) for o in outcomes], limit=30_000)
    assert len(messages) > 5
    assert all(len(value) <= 30_000 for _, value in messages)
    all_events: list[TrackingEvent] = []
    all_states = []
    for first, value in messages:
        events, states = decode_changes(value)
        assert states[0] == first
        assert {e.key for e in events} == {s.key for s in states}  # each shipment whole in one message
        all_events.extend(events)
        all_states.extend(states)
    assert all_states == [o.state for o in outcomes]
    assert all_events == [e for o in outcomes for e in o.accepted]


def test_alerts_travel_with_their_shipment_and_keep_messages_under_the_limit() -> None:
    """A backfill of old events opens an alert for every shipment at once: the alerts must not
    push a changes message over the broker's size limit (it would be refused, forever)."""
    from schemas.changes import decode_all_changes, encode_alert_changes

    outcomes = [apply_events(None, [ev(f"S{n}", i) for i in range(3)], NOW) for n in range(300)]
    alerts = {o.state.key: [{"id": f"al_{n}", "shipment_key": o.state.key, "reason": "x" * 300}]
              for n, o in enumerate(outcomes)}
    messages = encode_changes_messages([(o.accepted, o.state) for o in outcomes], limit=30_000, alerts=alerts)
    assert len(messages) > 5 and all(len(value) <= 30_000 for _, value in messages)
    carried = []
    for _, value in messages:
        _, states, found = decode_all_changes(value)
        assert {a["shipment_key"] for a in found} == {s.key for s in states}  # with their shipment
        carried += found
    assert carried == [a for o in outcomes for a in alerts[o.state.key]]
    ticks = encode_alert_changes([a for found in alerts.values() for a in found], limit=30_000)
    assert len(ticks) > 1 and all(len(value) <= 30_000 for value in ticks)
    assert sum(len(decode_all_changes(v)[2]) for v in ticks) == 300
