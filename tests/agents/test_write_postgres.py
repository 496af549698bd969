"""The PostgreSQL writer's batch merge: all events, and per shipment only its newest state (a
batch can hold several versions of one shipment; one upsert may touch a row only once)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agents.shipment_state import apply_events
from agents.write_postgres import merge_changes
from schemas.changes import decode_changes, encode_changes
from schemas.events import TZ_GIVEN, TrackingEvent

NOW = datetime(2026, 11, 21, tzinfo=UTC)


def ev(number: str, i: int, status: str) -> TrackingEvent:
    at = NOW - timedelta(hours=10 - i)
    return TrackingEvent(event_id=f"{number}-{i}", carrier="fleet", tracking_number=number, status=status,
                         substatus=None, code=str(i), description="", occurred_at=at, local_time="",
                         tz_source=TZ_GIVEN, received_at=NOW)


def test_changes_round_trip() -> None:
    out = apply_events(None, [ev("A", 1, "in_transit")], NOW)
    events, states = decode_changes(encode_changes(out.accepted, [out.state]))
    assert events == out.accepted and states == [out.state]


def test_merge_keeps_newest_state_per_shipment_and_all_events() -> None:
    first = apply_events(None, [ev("A", 1, "in_transit")], NOW)
    second = apply_events(first.state.__class__.decode(first.state.encode()), [ev("A", 2, "delivered")], NOW)
    other = apply_events(None, [ev("B", 1, "pre_transit")], NOW)
    payloads = [encode_changes(second.accepted, [second.state]), encode_changes(first.accepted, [first.state]),
                b"not json", encode_changes(other.accepted, [other.state])]
    events, states = merge_changes(payloads)
    assert sorted(e.event_id for e in events) == ["A-1", "A-2", "B-1"]
    by_key = {s.key: s for s in states}
    assert by_key["fleet:A"].status == "delivered" and by_key["fleet:A"].version == 2
    assert by_key["fleet:B"].status == "pre_transit" and len(states) == 2
