"""What a carrier API client is: it turns shipments to poll into carrier responses, untouched.

A client knows its carrier's endpoints, authentication, batching and published rate limit. It does
not parse: the pure adapter in ``carriers/<carrier>.py`` does, in the ``normalize`` agent, exactly as
for webhooks. Its HTTP goes through ``pollers.http.CarrierHttp`` (token bucket, retries, error
classes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

from carriers.base import TRACKING_NUMBER_HEADER as TRACKING_NUMBER_HEADER
from pollers.accounts import Account, RateLimit
from pollers.http import CarrierHttp, Response

#: Header every client sets on its responses: the HTTP status the carrier answered.
HTTP_STATUS_HEADER = "http-status"


@dataclass(frozen=True)
class Target:
    """One shipment to poll."""

    shipment_key: str
    tracking_number: str
    status: str
    postcode: str | None = None
    payload_hash: str | None = None
    failures: int = 0


@dataclass(frozen=True)
class Fetched:
    """One carrier response, as the carrier sent it, and the numbers it answers for."""

    payload: bytes
    numbers: tuple[str, ...]
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)
    #: numbers the carrier reported an error for inside an otherwise good answer (number → reason):
    #: scheduled as errors (retried soon, backing off) rather than as "not found"
    failed: Mapping[str, str] = field(default_factory=dict)


def answer(resp: Response, numbers: Sequence[str], *, default_type: str = "application/json",
           headers: Mapping[str, str] | None = None, failed: Mapping[str, str] | None = None) -> Fetched:
    """The carrier's response as it came, with the numbers asked for (also in
    ``TRACKING_NUMBER_HEADER``, comma-joined, when there are any) and its HTTP status."""
    out = {TRACKING_NUMBER_HEADER: ",".join(numbers)} if numbers else {}
    out[HTTP_STATUS_HEADER] = str(resp.status)
    return Fetched(resp.body, tuple(numbers), resp.content_type or default_type, {**out, **(headers or {})},
                   dict(failed or {}))


class CarrierClient:
    """Base class; subclasses set the class attributes and implement ``fetch`` (and ``delta``)."""

    carrier: ClassVar[str]
    default_base_url: ClassVar[str]
    default_rate: ClassVar[RateLimit]
    max_batch: ClassVar[int] = 1
    required_credentials: ClassVar[tuple[str, ...]] = ()

    def __init__(self, account: Account, http: CarrierHttp) -> None:
        self.account = account
        self.http = http
        self.base_url = self.resolved_base_url(account)

    @classmethod
    def resolved_base_url(cls, account: Account) -> str:
        """The host this account's requests go to (the account's ``base_url`` wins)."""
        return account.base_url or cls.default_base_url

    @classmethod
    def check(cls, account: Account) -> None:
        for name in cls.required_credentials:
            account.credential(name)

    @classmethod
    def rate_limit(cls, account: Account) -> RateLimit:
        return account.rate_limit or cls.default_rate

    @classmethod
    def batch_size(cls, account: Account) -> int:
        return max(1, min(account.batch_size or cls.max_batch, cls.max_batch))

    async def fetch(self, targets: Sequence[Target]) -> list[Fetched]:
        """One or more requests for these targets (at most ``batch_size`` of them)."""
        raise NotImplementedError

    def supports_delta(self) -> bool:
        """Whether this account has a delta feed (then per-shipment polls are a slower safety net)."""
        return False

    async def delta(self, since: datetime, until: datetime) -> list[Fetched]:
        """Everything that changed in the account in ``[since, until)`` (carriers with a delta feed)."""
        raise NotImplementedError
