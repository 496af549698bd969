"""The engine's decisions, pure: what a batch of changes means for subscribers, when a failed
delivery is tried again, when it is given up, when a destination that keeps failing is paused.
Every time comes in as a parameter (``now``), so tests move the clock."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from schemas.events import TrackingEvent
from schemas.taxonomy import Status
from tables.shipment_states import ShipmentState
from trackstream.settings import OutboundSettings

#: What a subscriber can ask for. ``event``: every new carrier event of the shipment (late ones
#: too); ``status_changed``: the shipment's status moved (one per written batch: several moves in
#: one batch are one change, from the stored status to the newest); ``delivered`` / ``exception``:
#: the shipment's status became delivered / exception.
KINDS: dict[str, str] = {
    "event": "every new carrier event of the shipment",
    "status_changed": "the shipment's status changed",
    "delivered": "the shipment was delivered",
    "exception": "the shipment's status became exception",
}
DEFAULT_KINDS: tuple[str, ...] = ("event",)
TYPE_PREFIX = "shipment."


@dataclass(frozen=True, slots=True)
class Change:
    """One thing a subscriber may hear about: a kind, the shipment's new state, the event behind it."""

    kind: str
    event: TrackingEvent
    state: ShipmentState
    previous_status: str | None = None

    @property
    def type(self) -> str:
        return TYPE_PREFIX + self.kind


def changes(events: Sequence[TrackingEvent], states: Sequence[ShipmentState],
            stored_status: Mapping[str, str | None]) -> list[Change]:
    """The changes of one written batch, in order: per shipment its new events by event time, then
    the status change they caused (``stored_status``: the status PostgreSQL had before the batch,
    None for a new shipment). Only shipments in ``stored_status`` are looked at (the ones someone
    subscribed to)."""
    by_key: dict[str, list[TrackingEvent]] = {}
    for event in events:
        if event.key in stored_status:
            by_key.setdefault(event.key, []).append(event)
    out: list[Change] = []
    for state in states:
        if state.key not in stored_status:
            continue
        new = sorted(by_key.get(state.key, ()), key=lambda e: (e.occurred_at, e.event_id))
        out += [Change("event", e, state) for e in new]
        previous = stored_status[state.key]
        causing = next((e for e in new if e.event_id == state.last_event_id), None)
        if causing is None or state.status == previous:
            continue  # a late event, a duplicate, or a registration: the status did not move
        out.append(Change("status_changed", causing, state, previous))
        if state.status == Status.DELIVERED:
            out.append(Change("delivered", causing, state, previous))
        elif state.status == Status.EXCEPTION:
            out.append(Change("exception", causing, state, previous))
    return out


def wanted(change: Change, kinds: Iterable[str], owner_customers: Sequence[str] | None) -> bool:
    """Whether a subscription with ``kinds``, owned by a key bound to ``owner_customers`` (None:
    every customer), gets ``change``."""
    if change.kind not in kinds:
        return False
    if owner_customers is None:
        return True
    customer = (change.state.registration or {}).get("customer")
    return customer is not None and customer in owner_customers


# --- retries -------------------------------------------------------------------------------------


def retry_delay(failures: int, settings: OutboundSettings, rng: random.Random) -> float:
    """Seconds before the next attempt after ``failures`` failed ones: exponential backoff with
    full jitter, uniform in [0, min(max, base × 2^(failures-1))]."""
    ceiling = min(settings.retry_max_seconds, settings.retry_base_seconds * 2 ** min(failures - 1, 60))
    return rng.uniform(0.0, ceiling)


def next_attempt(failures: int, queued_at: datetime, now: datetime, settings: OutboundSettings,
                 rng: random.Random) -> datetime | None:
    """When to try again after a failure at ``now``, or None: give up. Attempts continue until the
    retry window (from ``queued_at``) is over; the last one is made at its end."""
    deadline = queued_at + timedelta(seconds=settings.retry_window_seconds)
    if now >= deadline:
        return None
    return min(now + timedelta(seconds=retry_delay(failures, settings, rng)), deadline)


def should_pause(consecutive_failures: int, failing_since: datetime | None, now: datetime,
                 settings: OutboundSettings) -> bool:
    """A destination keeps failing: at least ``pause_after_failures`` failed attempts in a row,
    and no success for at least ``pause_after_seconds`` (since its first failure after the last
    success)."""
    return (failing_since is not None and consecutive_failures >= settings.pause_after_failures
            and (now - failing_since).total_seconds() >= settings.pause_after_seconds)


def pause_notice(consecutive_failures: int, failing_since: datetime) -> str:
    from schemas.events import format_utc

    return (f"paused by trackstream: {consecutive_failures} delivery attempts in a row failed, none succeeded "
            f"since {format_utc(failing_since)}; fix the receiver, then resume (PATCH state=active)")
