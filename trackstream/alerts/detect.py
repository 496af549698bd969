"""Which alert conditions hold for a shipment, and when the time-based ones will: pure functions.

``evaluate(facts, now, thresholds)`` returns one ``Finding`` per shipment-level alert type: whether
its condition holds at ``now`` and, when it does not yet, the instant it will if nothing else
happens (``due``; the due-time index keeps only that, so a tick costs what is due). Time comes in
as a parameter only. The clock of each rule:

- ``carrier_exception``: the shipment's status is ``exception``: at once, no clock.
- ``failed_attempt_no_followup``: the newest event is a failed attempt, and its ``occurred_at`` is
  older than the threshold.
- ``stuck_at_location``: in transit, and the first event at the current location is older than the
  threshold (progress is a change of location, not one more scan at the same one).
- ``silent_shipment``: not final, and the newest event (or, before any, the registration) is older
  than the status's interval. A shipment first seen already that old is due at once.
- ``deadline_breached``: a promised date, undelivered, and that date has ended in the destination's
  local time.
- ``delivery_at_risk``: a promised date not yet ended, and fewer business days left (Monday to
  Friday in the destination's zone, after today, up to the promised date) than the status still
  needs. Superseded by ``deadline_breached`` once the date has ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from schemas.taxonomy import FINAL_STATUSES, PENDING, Status
from trackstream.alerts.rules import (
    CARRIER_EXCEPTION,
    DEADLINE_BREACHED,
    DELIVERY_AT_RISK,
    FAILED_ATTEMPT_NO_FOLLOWUP,
    SILENT_SHIPMENT,
    STUCK_AT_LOCATION,
    Thresholds,
)

SHIPMENT_TYPES = (CARRIER_EXCEPTION, FAILED_ATTEMPT_NO_FOLLOWUP, STUCK_AT_LOCATION, SILENT_SHIPMENT,
                  DELIVERY_AT_RISK, DEADLINE_BREACHED)


@dataclass(frozen=True, slots=True)
class ShipmentFacts:
    """What the rules read of a shipment (built from its state by the caller)."""

    key: str
    carrier: str
    status: str  # a Status, or PENDING
    substatus: str | None = None
    description: str | None = None
    last_event_at: datetime | None = None  # occurred_at of the newest event
    registered_at: datetime | None = None
    location: str | None = None  # a stable text for "where" (code or city + country)
    location_since: datetime | None = None  # occurred_at of the first event at that location
    promised_date: date | None = None
    destination_zone: tzinfo = UTC
    service_level: str | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    type: str
    active: bool
    due: datetime | None  # when not active: when it will be if nothing changes (None: never by time)
    reason: str = ""
    severity: str = "medium"


def _timed(kind: str, since: datetime | None, after: timedelta, now: datetime, reason: str,
           severity: str) -> Finding:
    if since is None:
        return Finding(kind, False, None, severity=severity)
    due = since + after
    return Finding(kind, now >= due, None if now >= due else due, reason if now >= due else "", severity)


def _end_of(day: date, zone: tzinfo) -> datetime:
    """The instant ``day`` ends in ``zone`` (the next day's local midnight), in UTC."""
    return datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)


def _start_of(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, time(0), zone).astimezone(UTC)


def business_days_after(day: date, until: date) -> int:
    """Weekdays in (day, until]."""
    count, d = 0, day + timedelta(days=1)
    while d <= until:
        if d.weekday() < 5:
            count += 1
        d += timedelta(days=1)
    return count


def _promise(facts: ShipmentFacts, now: datetime, t: Thresholds) -> tuple[Finding, Finding]:
    sev_risk, sev_breach = t.severity[DELIVERY_AT_RISK], t.severity[DEADLINE_BREACHED]
    none = (Finding(DELIVERY_AT_RISK, False, None, severity=sev_risk),
            Finding(DEADLINE_BREACHED, False, None, severity=sev_breach))
    promised = facts.promised_date
    if promised is None or facts.status in (Status.DELIVERED, Status.CANCELLED):
        return none
    zone = facts.destination_zone
    deadline = _end_of(promised, zone)
    if now >= deadline:
        return (none[0], Finding(DEADLINE_BREACHED, True, None,
                                 f"promised for {promised.isoformat()}, not delivered by its end", sev_breach))
    breach = Finding(DEADLINE_BREACHED, False, deadline, severity=sev_breach)
    needed = t.delivery_at_risk.get(facts.status)
    if needed is None:  # e.g. out for delivery: it can still make it today
        return Finding(DELIVERY_AT_RISK, False, None, severity=sev_risk), breach
    today = now.astimezone(zone).date()
    left = business_days_after(today, promised)
    if left < needed:
        return (Finding(DELIVERY_AT_RISK, True, None,
                        f"{left} business day(s) left until {promised.isoformat()}, {facts.status} needs {needed}",
                        sev_risk), breach)
    day = today + timedelta(days=1)  # the first local day on which fewer are left
    while business_days_after(day, promised) >= needed:
        day += timedelta(days=1)
    return Finding(DELIVERY_AT_RISK, False, _start_of(day, zone), severity=sev_risk), breach


def evaluate(facts: ShipmentFacts, now: datetime, t: Thresholds) -> list[Finding]:
    """One finding per type in ``SHIPMENT_TYPES``, in that order."""
    status = facts.status
    final = status in FINAL_STATUSES
    what = facts.substatus or facts.description or "exception"
    exception = Finding(CARRIER_EXCEPTION, status == Status.EXCEPTION, None,
                        f"carrier reports {what}" if status == Status.EXCEPTION else "",
                        t.severity[CARRIER_EXCEPTION])
    failed = _timed(FAILED_ATTEMPT_NO_FOLLOWUP, facts.last_event_at if status == Status.FAILED_ATTEMPT else None,
                    t.failed_attempt_no_followup, now, "failed delivery attempt not followed up",
                    t.severity[FAILED_ATTEMPT_NO_FOLLOWUP])
    stuck = _timed(STUCK_AT_LOCATION,
                   facts.location_since if status == Status.IN_TRANSIT and facts.location else None,
                   t.stuck_at_location, now, f"no progress from {facts.location}", t.severity[STUCK_AT_LOCATION])
    interval = None if final else t.silent_shipment.get(status)
    since = facts.registered_at if status == PENDING else facts.last_event_at
    silent = _timed(SILENT_SHIPMENT, since if interval is not None else None, interval or timedelta(0), now,
                    f"nothing new since {since.isoformat() if since else ''} ({status})",
                    t.severity[SILENT_SHIPMENT])
    risk, breach = _promise(facts, now, t)
    return [exception, failed, stuck, silent, risk, breach]


def next_due(findings: list[Finding]) -> datetime | None:
    """The earliest instant a finding that does not hold yet will (what the due-time index keeps)."""
    dues = [f.due for f in findings if not f.active and f.due is not None]
    return min(dues) if dues else None


@dataclass(frozen=True, slots=True)
class FeedFacts:
    """A carrier feed (a carrier, or one poll account): when data last arrived, how many of its
    shipments are active."""

    feed: str
    last_received_at: datetime | None
    active_shipments: int


def feed_silent(facts: FeedFacts, now: datetime, threshold: timedelta, severity: str = "high") -> Finding:
    """``silent_carrier_feed``: nothing received for longer than ``threshold`` while the feed has
    active shipments. One finding for the feed, never one per parcel."""
    from trackstream.alerts.rules import SILENT_CARRIER_FEED

    if facts.active_shipments <= 0 or facts.last_received_at is None:
        return Finding(SILENT_CARRIER_FEED, False, None, severity=severity)
    due = facts.last_received_at + threshold
    if now >= due:
        return Finding(SILENT_CARRIER_FEED, True, None,
                       f"nothing received from {facts.feed} since {facts.last_received_at.isoformat()} "
                       f"with {facts.active_shipments} active shipment(s)", severity)
    return Finding(SILENT_CARRIER_FEED, False, due, severity=severity)
