"""Pure transitions of a shipment's state: what the ``track`` agent decides, without Faust.

``apply_events`` folds a batch of one shipment's events into its state; ``apply_registration``
merges OMS/WMS registration data, in whichever order the two arrive.

Ordering rule: the newest event by (occurred_at, status rank, event id) sets the status. A late
event (older than the current newest) enters the timeline in PostgreSQL in event-time order and
changes nothing else; a duplicate (same event id inside the dedup horizon) changes nothing at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from schemas.events import TrackingEvent
from schemas.shipments import ShipmentRegistration, ShipmentUpdate
from schemas.taxonomy import PENDING, STATUS_RANK, Status
from tables.shipment_states import ShipmentState


@dataclass(frozen=True, slots=True)
class DedupPolicy:
    horizon: timedelta = timedelta(days=60)
    max_ids: int = 500


@dataclass(slots=True)
class Outcome:
    state: ShipmentState
    accepted: list[TrackingEvent] = field(default_factory=list)
    duplicates: int = 0
    late: int = 0
    update: ShipmentUpdate | None = None
    changed: bool = False


def _ms(instant: datetime) -> int:
    return int(instant.timestamp() * 1000)


def _order_key(event: TrackingEvent) -> tuple[datetime, int, str]:
    return (event.occurred_at, STATUS_RANK.get(event.status, 0), event.event_id)


def is_informational(event: TrackingEvent) -> bool:
    """Adapters mark notices that say nothing about where the parcel is (a new delivery window, a
    delivery photo) with ``attributes["status_change"] = False``: they join the timeline but never
    set the shipment's status."""
    return event.attributes.get("status_change") is False


def location_key(location: dict[str, Any] | None) -> str | None:
    """What "the same location" means for ``stuck_at_location``: the carrier's location code, else
    its city and country, else its own text; None when the event says nothing about where."""
    if not location:
        return None
    if location.get("code"):
        return f"code:{location['code']}"
    if location.get("city"):
        return f"{location.get('country') or ''}:{str(location['city']).strip().lower()}"
    text = location.get("text")
    return f"text:{text}" if text else None


def new_state(key: str, carrier: str, tracking_number: str) -> ShipmentState:
    return ShipmentState(key=key, carrier=carrier, tracking_number=tracking_number, status=PENDING)


def apply_events(
    state: ShipmentState | None,
    events: Iterable[TrackingEvent],
    now: datetime,
    policy: DedupPolicy = DedupPolicy(),
) -> Outcome:
    batch = sorted(events, key=_order_key)
    if not batch:
        raise ValueError("apply_events needs at least one event")
    first = batch[0]
    current = state or new_state(first.key, first.carrier, first.tracking_number)
    previous_status = current.status
    outcome = Outcome(state=current)
    seen_ids = {event_id for _, event_id in current.seen}
    horizon_start = _ms(current.last_event_at - policy.horizon) if current.last_event_at else None
    for event in batch:
        if event.event_id in seen_ids:
            outcome.duplicates += 1
            continue
        seen_ids.add(event.event_id)
        occurred_ms = _ms(event.occurred_at)
        outcome.accepted.append(event)
        current.event_count += 1
        if horizon_start is None or occurred_ms >= horizon_start:
            current.seen.append((occurred_ms, event.event_id))
        if current.first_event_at is None or event.occurred_at < current.first_event_at:
            current.first_event_at = event.occurred_at
        rank = STATUS_RANK.get(event.status, 0)
        newest = (current.last_event_at, current.last_rank, current.last_event_id or "")
        if is_informational(event):
            pass  # a notice (new delivery window, photo available): timeline only
        elif current.last_event_at is None or (event.occurred_at, rank, event.event_id) > newest:
            current.status = event.status
            current.substatus = event.substatus
            current.code = event.code
            current.description = event.description
            current.last_event_id = event.event_id
            current.last_event_at = event.occurred_at
            current.last_rank = rank
            if event.location is not None:
                where = event.location.to_dict()
                if current.location_since is None or location_key(where) != location_key(current.location):
                    current.location_since = event.occurred_at
                current.location = where
            horizon_start = _ms(event.occurred_at - policy.horizon)
        else:
            outcome.late += 1
        if event.status == Status.DELIVERED and (
            current.delivered_at is None or event.occurred_at < current.delivered_at
        ):
            current.delivered_at = event.occurred_at
    if not outcome.accepted:
        return outcome
    _prune(current, horizon_start, policy.max_ids)
    current.version += 1
    current.updated_at = now
    outcome.changed = True
    if current.status != previous_status:
        outcome.update = _update(current, previous_status)
    return outcome


def _prune(state: ShipmentState, horizon_start: int | None, max_ids: int) -> None:
    seen = sorted(state.seen)
    if horizon_start is not None:
        seen = [entry for entry in seen if entry[0] >= horizon_start]
    state.seen = seen[-max_ids:]


def apply_registration(
    state: ShipmentState | None, registration: ShipmentRegistration, now: datetime
) -> Outcome:
    current = state or new_state(registration.key, registration.carrier, registration.tracking_number)
    merged = registration.to_dict()
    for identity in ("shipment_key", "carrier", "tracking_number"):
        merged.pop(identity, None)
    if current.registration is not None:
        # Idempotent on the shipment key: a re-registration fills gaps and updates given fields,
        # and never blanks out what an earlier registration said.
        merged = {**current.registration, **{k: v for k, v in merged.items() if v is not None}}
        merged["registered_at"] = current.registration.get("registered_at", merged["registered_at"])
    outcome = Outcome(state=current)
    if merged == current.registration:
        return outcome
    previous_status = current.status if state is not None else ""
    current.registration = merged
    current.version += 1
    current.updated_at = now
    outcome.changed = True
    if state is None:
        outcome.update = _update(current, previous_status)
    return outcome


def _update(state: ShipmentState, previous_status: str) -> ShipmentUpdate:
    return ShipmentUpdate(
        shipment_key=state.key,
        carrier=state.carrier,
        tracking_number=state.tracking_number,
        previous_status=previous_status,
        status=state.status,
        substatus=state.substatus,
        event_id=state.last_event_id,
        occurred_at=state.last_event_at,
        sequence=state.version,
    )

