"""The alert conditions on a moved clock: when each holds, when it will (``due``), what ends it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from trackstream.alerts.detect import (
    FeedFacts,
    Finding,
    ShipmentFacts,
    business_days_after,
    evaluate,
    feed_silent,
    next_due,
)
from trackstream.alerts.rules import DEFAULTS

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # a Tuesday
H = timedelta(hours=1)
AMS = ZoneInfo("Europe/Amsterdam")


def facts(status: str, **kw: object) -> ShipmentFacts:
    base: dict[str, object] = {"key": "postnl:3S1", "carrier": "postnl", "status": status, "last_event_at": T0,
                               "registered_at": T0 - 2 * H, "destination_zone": AMS}
    base.update(kw)
    return ShipmentFacts(**base)  # type: ignore[arg-type]


def found(f: ShipmentFacts, now: datetime) -> dict[str, Finding]:
    return {x.type: x for x in evaluate(f, now, DEFAULTS)}


def active(f: ShipmentFacts, now: datetime) -> set[str]:
    return {t for t, x in found(f, now).items() if x.active}


def test_a_carrier_exception_holds_at_once_and_ends_with_the_status() -> None:
    f = facts("exception", substatus="customs_hold")
    got = found(f, T0)["carrier_exception"]
    assert got.active and got.reason == "carrier reports customs_hold" and got.severity == "high"
    assert "carrier_exception" not in active(replace(f, status="in_transit", substatus=None), T0)


def test_failed_attempt_without_followup_after_24_hours() -> None:
    f = facts("failed_attempt")
    assert found(f, T0 + 23 * H)["failed_attempt_no_followup"] == Finding(
        "failed_attempt_no_followup", False, T0 + 24 * H, "", "medium")
    assert "failed_attempt_no_followup" in active(f, T0 + 24 * H)
    # a next attempt (out for delivery) ends it
    assert "failed_attempt_no_followup" not in active(replace(f, status="out_for_delivery"), T0 + 30 * H)


def test_stuck_counts_from_the_first_event_at_the_location() -> None:
    f = facts("in_transit", location="NL:Nieuwegein", location_since=T0 - 70 * H, last_event_at=T0)
    assert "stuck_at_location" not in active(f, T0 + H)
    assert found(f, T0 + H)["stuck_at_location"].due == T0 + 2 * H  # 72 h after the first scan there
    assert found(f, T0 + 2 * H)["stuck_at_location"].reason == "no progress from NL:Nieuwegein"
    moved = replace(f, location="NL:Utrecht", location_since=T0 + H)
    assert "stuck_at_location" not in active(moved, T0 + 2 * H)
    assert "stuck_at_location" not in active(replace(f, status="out_for_delivery"), T0 + 5 * H)


def test_silent_intervals_per_status() -> None:
    for status, interval in (("in_transit", 48 * H), ("out_for_delivery", 12 * H), ("pre_transit", 72 * H)):
        f = facts(status)
        assert found(f, T0)["silent_shipment"].due == T0 + interval, status
        assert "silent_shipment" in active(f, T0 + interval), status
    pending = facts("pending", last_event_at=None)  # registered only: counted from the registration
    assert found(pending, T0)["silent_shipment"].due == T0 - 2 * H + 72 * H
    for final in ("delivered", "returned_to_sender", "cancelled"):
        assert found(facts(final), T0 + 1000 * H)["silent_shipment"] == Finding("silent_shipment", False, None,
                                                                                 severity="low")


def test_first_seen_already_old_is_silent_at_once() -> None:
    old = facts("in_transit", last_event_at=T0 - 10 * 24 * H)
    assert "silent_shipment" in active(old, T0)


def test_deadline_ends_with_the_promised_day_in_the_destination_zone() -> None:
    f = facts("in_transit", promised_date=date(2026, 12, 1))
    end = datetime(2026, 12, 1, 23, 0, tzinfo=UTC)  # midnight in Amsterdam (UTC+1 in December)
    assert found(f, end - timedelta(seconds=1))["deadline_breached"].due == end
    assert "deadline_breached" in active(f, end)
    assert "deadline_breached" not in active(replace(f, destination_zone=ZoneInfo("America/New_York")), end)
    assert "deadline_breached" not in active(replace(f, status="delivered"), end + 48 * H)
    # returned to the sender, the promise is broken too
    assert "deadline_breached" in active(replace(f, status="returned_to_sender"), end)


def test_at_risk_when_fewer_business_days_are_left_than_the_status_needs() -> None:
    friday = date(2026, 12, 4)
    f = facts("in_transit", promised_date=friday)  # needs 1 business day
    # Tuesday 10:00 Amsterdam: Wed, Thu, Fri left
    assert "delivery_at_risk" not in active(f, T0)
    due = found(f, T0)["delivery_at_risk"].due
    assert due == datetime(2026, 12, 3, 23, 0, tzinfo=UTC)  # Friday 00:00 Amsterdam: no day after today is left
    assert "delivery_at_risk" in active(f, due)
    pre = replace(f, status="pre_transit")  # needs 2: at risk from Thursday
    assert found(pre, T0)["delivery_at_risk"].due == datetime(2026, 12, 2, 23, 0, tzinfo=UTC)
    # out for delivery can still make it the same day; a breached deadline supersedes the risk
    assert "delivery_at_risk" not in active(replace(f, status="out_for_delivery"), due)
    after = datetime(2026, 12, 5, 0, 0, tzinfo=UTC)
    assert active(f, after) >= {"deadline_breached"} and "delivery_at_risk" not in active(f, after)


def test_weekends_are_not_business_days() -> None:
    assert business_days_after(date(2026, 12, 4), date(2026, 12, 7)) == 1  # Fri → Mon: Monday only
    assert business_days_after(date(2026, 12, 7), date(2026, 12, 7)) == 0
    monday = facts("in_transit", promised_date=date(2026, 12, 7))
    friday_noon = datetime(2026, 12, 4, 11, 0, tzinfo=UTC)
    assert "delivery_at_risk" not in active(monday, friday_noon)


def test_next_due_is_the_earliest_pending_condition() -> None:
    f = facts("failed_attempt", promised_date=date(2026, 12, 10))
    findings = evaluate(f, T0, DEFAULTS)
    assert next_due(findings) == T0 + 24 * H  # before silence (48 h) and the deadline
    assert next_due(evaluate(facts("delivered"), T0, DEFAULTS)) is None


def test_a_silent_feed_is_one_finding_and_needs_active_shipments() -> None:
    feed = FeedFacts("postnl:account-1", T0, active_shipments=500)
    assert feed_silent(feed, T0 + 5 * H, 6 * H).due == T0 + 6 * H
    silent = feed_silent(feed, T0 + 6 * H, 6 * H)
    assert silent.active and "500 active shipment(s)" in silent.reason
    assert not feed_silent(replace(feed, active_shipments=0), T0 + 60 * H, 6 * H).active
