"""Opening and resolving a shipment's alerts as its state changes or time passes: pure functions.

``decide(state, now, rules)`` evaluates the conditions (``trackstream.alerts.detect``), compares them
with the alerts the state has open (``ShipmentState.alerts``), records what opened and what resolved
in the state, sets the state's next due instant (``ShipmentState.due``, what the due-time index
keeps) and returns the changes to publish. One alert per (shipment, type): its id is derived from
the two, so a replayed or duplicated event finds it open already and publishes nothing; a condition
that ends resolves it, with the reason; one that holds again later reopens the same alert.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from agents.shipment_state import location_key
from schemas.events import format_utc, parse_utc
from tables.shipment_states import ShipmentState
from trackstream.alerts.detect import ShipmentFacts, evaluate, next_due
from trackstream.alerts.rules import AlertRules

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
OPEN = "open"
RESOLVED = "resolved"


def alert_id(subject: str, kind: str) -> str:
    """The id of the one alert of ``kind`` about ``subject`` (a shipment key, or a feed)."""
    return "al_" + hashlib.sha256(f"{subject}|{kind}".encode()).hexdigest()[:24]


@dataclass(frozen=True, slots=True)
class AlertChange:
    """An alert opened or resolved: what ``tracking.alerts`` carries and PostgreSQL stores."""

    id: str
    type: str
    state: str  # OPEN | RESOLVED
    severity: str
    subject: str  # the shipment key, or the feed for a feed alert
    carrier: str
    tracking_number: str | None
    customer: str | None
    reason: str
    opened_at: datetime
    at: datetime  # when this change was decided
    resolved_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "type": self.type, "state": self.state, "severity": self.severity,
            "shipment_key": self.subject if self.tracking_number is not None else None, "feed": None
            if self.tracking_number is not None else self.subject, "carrier": self.carrier,
            "tracking_number": self.tracking_number, "customer": self.customer, "reason": self.reason,
            "opened_at": format_utc(self.opened_at), "resolved_at": format_utc(self.resolved_at)
            if self.resolved_at else None, "at": format_utc(self.at),
        }


def _zone(country: str | None) -> tzinfo:
    if not country:
        return UTC
    from carriers.zones import country_zones

    zones = country_zones(country)
    return zones[0] if zones else UTC


def facts_of(state: ShipmentState) -> ShipmentFacts:
    reg = state.registration or {}
    promised = reg.get("promised_delivery_date")
    registered = reg.get("registered_at")
    where = location_key(state.location)
    return ShipmentFacts(
        key=state.key, carrier=state.carrier, status=state.status, substatus=state.substatus,
        description=state.description, last_event_at=state.last_event_at,
        registered_at=parse_utc(registered) if isinstance(registered, str) else None,
        location=where, location_since=state.location_since,
        promised_date=date.fromisoformat(promised) if isinstance(promised, str) else None,
        destination_zone=_zone(reg.get("destination_country")), service_level=reg.get("service_level"),
    )


def _us(instant: datetime) -> int:
    return (instant - _EPOCH) // timedelta(microseconds=1)


def _at(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _resolution(state: ShipmentState) -> str:
    return f"condition ended: shipment is {state.status}" + (f" ({state.substatus})" if state.substatus else "")


def decide(state: ShipmentState, now: datetime, rules: AlertRules) -> list[AlertChange]:
    """Update ``state.alerts`` and ``state.due`` for ``now``; the alerts opened and resolved."""
    reg = state.registration or {}
    thresholds = rules.for_shipment(state.carrier, reg.get("service_level"))
    findings = evaluate(facts_of(state), now, thresholds)
    changes: list[AlertChange] = []
    customer = reg.get("customer")
    for finding in findings:
        opened = state.alerts.get(finding.type)
        if finding.active and opened is None:
            state.alerts[finding.type] = _us(now)
            changes.append(AlertChange(alert_id(state.key, finding.type), finding.type, OPEN, finding.severity,
                                       state.key, state.carrier, state.tracking_number, customer, finding.reason,
                                       now, now))
        elif not finding.active and opened is not None:
            del state.alerts[finding.type]
            changes.append(AlertChange(alert_id(state.key, finding.type), finding.type, RESOLVED, finding.severity,
                                       state.key, state.carrier, state.tracking_number, customer,
                                       _resolution(state), _at(opened), now, now))
    state.due = next_due(findings)
    return changes
