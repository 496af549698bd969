"""When to poll a shipment next: a pure function of its status and history.

The field's practice (notes/webhooks-and-polling.md): every 30 min to 2 h, more often near delivery,
never after a final status, retire shipments without news for 30 days. Every interval gets ±10%
jitter so shipments registered together do not stay in lock-step (and a restart does not produce a
storm: the next poll time is stored, and whatever is overdue drains through the token bucket).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from pollers.accounts import Cadence
from schemas.taxonomy import FINAL_STATUSES, Status

NEAR_DELIVERY = frozenset({Status.OUT_FOR_DELIVERY, Status.FAILED_ATTEMPT})


def base_interval(status: str, cadence: Cadence) -> timedelta | None:
    """The polling interval for a shipment in ``status``; None once it is final."""
    if status in FINAL_STATUSES:
        return None
    if status in NEAR_DELIVERY:
        return cadence.near_delivery
    if status == Status.IN_TRANSIT:
        return cadence.in_transit
    if status == Status.EXCEPTION:
        return cadence.exception
    if status == Status.AVAILABLE_FOR_PICKUP:
        return cadence.pickup
    return cadence.pre_transit  # pending, pre_transit, unknown


def jittered(interval: timedelta, rng: random.Random | None = None, spread: float = 0.1) -> timedelta:
    factor = 1.0 + (rng or random).uniform(-spread, spread)
    return interval * factor


def next_poll(result: str, status: str, now: datetime, cadence: Cadence, *, failures: int = 0,
              covered_by_delta: bool = False, rng: random.Random | None = None) -> datetime | None:
    """The next poll time after a poll with ``result`` (changed, unchanged, not_found, error), or
    None when the shipment is final and must not be polled again."""
    if result == "error":
        backoff = min(cadence.max_error, cadence.error * (2 ** min(failures, 20)))
        return now + jittered(backoff, rng)
    interval = base_interval(status, cadence)
    if interval is None:
        return None
    if result == "not_found":
        interval = max(interval, cadence.not_found * min(2 ** min(failures, 3), 6))
    elif covered_by_delta:
        interval = interval * cadence.delta_scale
    return now + jittered(interval, rng)


class Throttle:
    """The account-level pause after calls the carrier still refused with 429 after their retries:
    the carrier's ``Retry-After`` when it gave one, else ``throttle`` doubling per refusal in a row up
    to ``max_throttle`` (a daily quota spent at 10:00 must not be asked every 30 s until midnight)."""

    def __init__(self, cadence: Cadence) -> None:
        self.base = cadence.throttle.total_seconds()
        self.cap = cadence.max_throttle.total_seconds()
        self.streak = 0

    def refused(self, retry_after: float | None) -> float:
        self.streak += 1
        if retry_after is not None:
            return retry_after
        return float(min(self.cap, self.base * 2.0 ** min(self.streak - 1, 30)))

    def served(self) -> None:
        self.streak = 0
