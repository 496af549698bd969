"""Helpers for the per-carrier client tests: a client on the fake API with quick retries, targets,
and what ``pollers.service.classify`` makes of the responses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from pollers.accounts import Account, RateLimit
from pollers.clients.base import CarrierClient, Fetched, Target
from pollers.http import CarrierHttp, RetryPolicy
from pollers.ratelimit import TokenBucket
from pollers.service import Outcome, classify

FAST_RETRY = RetryPolicy(attempts=3, base=0.05, cap=0.2, retry_after_cap=5)
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
C = TypeVar("C", bound=CarrierClient)


def make_client(cls: type[C], base_url: str, credentials: Mapping[str, str], *, rate: RateLimit | None = None,
                timeout: float = 5.0, batch_size: int | None = None) -> C:
    rate = rate or RateLimit(1000, 1)
    account = Account(f"test-{cls.carrier}", cls.carrier, dict(credentials), base_url=base_url, rate_limit=rate,
                      timeout_seconds=timeout, batch_size=batch_size)
    bucket = TokenBucket(rate.requests, rate.per_seconds, rate.burst)
    return cls(account, CarrierHttp(cls.carrier, account.name, bucket, timeout=timeout, retry=FAST_RETRY))


def target(number: str, postcode: str | None = None) -> Target:
    return Target(shipment_key=f"x:{number}", tracking_number=number, status="pending", postcode=postcode)


def judge(carrier: str, responses: Sequence[Fetched],
          previous: Mapping[str, str | None] | None = None) -> tuple[list[bool], dict[str, Outcome]]:
    """Per response whether the service would publish it; per number its outcome (a "changed"
    outcome wins over others, as in ``AccountPoller._poll``)."""
    published: list[bool] = []
    outcomes: dict[str, Outcome] = {}
    for fetched in responses:
        publish, per_number = classify(carrier, fetched, previous or {}, NOW)
        published.append(publish)
        for number, outcome in per_number.items():
            if number not in outcomes or outcome.result == "changed":
                outcomes[number] = outcome
    return published, outcomes
