"""The track agent's decisions, as pure functions: dedup, event-time order, never backwards,
registration merged in either order, bounded dedup memory, informational notices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agents.shipment_state import DedupPolicy, apply_events, apply_registration
from schemas.events import TZ_GIVEN, TrackingEvent
from schemas.shipments import ShipmentRegistration
from tables.shipment_states import ShipmentState

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def ev(i: int, status: str, hours: float, *, eid: str | None = None, **attributes: Any) -> TrackingEvent:
    at = T0 + timedelta(hours=hours)
    return TrackingEvent(event_id=eid or f"e{i}", carrier="fleet", tracking_number="ABC1", status=status,
                         substatus=None, code=f"C{i}", description="", occurred_at=at, local_time=at.isoformat(),
                         tz_source=TZ_GIVEN, received_at=NOW, attributes=attributes)


def reg(**fields: Any) -> ShipmentRegistration:
    return ShipmentRegistration(carrier="fleet", tracking_number="abc 1", registered_at=NOW, **fields)


def test_newest_event_sets_status_and_transition_is_reported() -> None:
    out = apply_events(None, [ev(1, "in_transit", 1), ev(2, "out_for_delivery", 5)], NOW)
    assert out.state.status == "out_for_delivery" and out.state.last_event_id == "e2"
    assert out.update is not None and (out.update.previous_status, out.update.status) == ("pending", "out_for_delivery")
    assert out.state.version == 1 and out.state.event_count == 2 and out.state.first_event_at == T0 + timedelta(hours=1)


def test_duplicates_are_absorbed_and_change_nothing() -> None:
    first = apply_events(None, [ev(1, "in_transit", 1)], NOW).state
    again = apply_events(first, [ev(1, "in_transit", 1)], NOW)
    assert again.duplicates == 1 and again.accepted == [] and not again.changed and again.update is None
    assert again.state.version == 1
    within = apply_events(None, [ev(1, "in_transit", 1), ev(1, "in_transit", 1)], NOW)
    assert within.duplicates == 1 and len(within.accepted) == 1


def test_late_older_event_never_moves_status_backwards() -> None:
    delivered = apply_events(None, [ev(3, "delivered", 10)], NOW).state
    late = apply_events(delivered, [ev(1, "in_transit", 2)], NOW)
    assert late.late == 1 and [e.event_id for e in late.accepted] == ["e1"]
    assert late.state.status == "delivered" and late.update is None
    assert late.state.first_event_at == T0 + timedelta(hours=2)
    assert late.state.delivered_at == T0 + timedelta(hours=10)


def test_newer_event_always_wins_even_after_delivery() -> None:
    delivered = apply_events(None, [ev(3, "delivered", 10)], NOW).state
    later = apply_events(delivered, [ev(4, "returned_to_sender", 30)], NOW)
    assert later.state.status == "returned_to_sender"


def test_same_instant_ties_break_by_journey_rank_not_arrival_order() -> None:
    a = apply_events(None, [ev(2, "delivered", 5), ev(1, "out_for_delivery", 5)], NOW).state
    b = apply_events(None, [ev(1, "out_for_delivery", 5), ev(2, "delivered", 5)], NOW).state
    c = apply_events(apply_events(None, [ev(2, "delivered", 5)], NOW).state, [ev(1, "out_for_delivery", 5)], NOW).state
    assert a.status == b.status == c.status == "delivered"


def test_informational_notice_joins_timeline_but_not_status() -> None:
    state = apply_events(None, [ev(1, "out_for_delivery", 1)], NOW).state
    notice = apply_events(state, [ev(2, "unknown", 3, status_change=False)], NOW)
    assert [e.event_id for e in notice.accepted] == ["e2"]
    assert notice.state.status == "out_for_delivery" and notice.update is None


def test_dedup_memory_is_bounded_by_count_and_horizon() -> None:
    policy = DedupPolicy(horizon=timedelta(days=2), max_ids=3)
    state = apply_events(None, [ev(i, "in_transit", i) for i in range(6)], NOW, policy).state
    assert [eid for _, eid in state.seen] == ["e3", "e4", "e5"]
    far = apply_events(state, [ev(9, "in_transit", 24 * 10)], NOW, policy).state
    assert [eid for _, eid in far.seen] == ["e9"]  # everything older than the horizon is forgotten


def test_registration_merges_in_either_order_and_never_blanks_fields() -> None:
    events_first = apply_events(None, [ev(1, "in_transit", 1)], NOW).state
    merged = apply_registration(events_first, reg(order_number="O1", customer="acme"), NOW)
    assert merged.state.status == "in_transit" and merged.state.registration is not None
    assert merged.state.registration["order_number"] == "O1" and merged.update is None
    registered_first = apply_registration(None, reg(order_number="O1", customer="acme"), NOW)
    assert registered_first.state.status == "pending" and registered_first.update is not None
    then_events = apply_events(registered_first.state, [ev(1, "in_transit", 1)], NOW).state
    assert then_events.status == "in_transit" and then_events.registration == merged.state.registration
    partial = apply_registration(then_events, reg(destination_country="NL"), NOW).state
    assert partial.registration is not None
    assert partial.registration["order_number"] == "O1" and partial.registration["destination_country"] == "NL"
    same = apply_registration(partial, reg(destination_country="NL"), NOW)
    assert not same.changed  # idempotent on the shipment key


def test_state_round_trips_through_its_encoding() -> None:
    state = apply_registration(apply_events(None, [ev(1, "delivered", 1)], NOW).state,
                               reg(order_number="O1"), NOW).state
    assert ShipmentState.decode(state.encode()) == state
    with pytest.raises(ValueError):
        ShipmentState.decode(b'[99, "x"]')
