"""The real carrier clients against a local server speaking the carriers' formats: authentication,
token refresh, rate limits (measured), 429 and 5xx backoff, timeouts."""

from __future__ import annotations

import time

import pytest

from pollers.accounts import Account, RateLimit
from pollers.clients.base import Target
from pollers.clients.postnl import PostNLClient
from pollers.clients.ups import UPSClient
from pollers.http import AuthError, CarrierHttp, RateLimited, RetryPolicy, TransientError
from pollers.ratelimit import TokenBucket
from tests.fakes.carrier_api import FakeCarrierApi, Scripted, postnl_status, ups_details

FAST_RETRY = RetryPolicy(attempts=3, base=0.05, cap=0.2, retry_after_cap=5)


def _postnl(api: FakeCarrierApi, *, key: str = "pnl-key", rate: RateLimit | None = None,
            timeout: float = 5.0) -> PostNLClient:
    rate = rate or RateLimit(1000, 1)
    account = Account("pnl", "postnl", {"api_key": key, "customer_number": "11223344"}, base_url=api.base_url,
                      rate_limit=rate, timeout_seconds=timeout)
    bucket = TokenBucket(rate.requests, rate.per_seconds, rate.burst)
    return PostNLClient(account, CarrierHttp("postnl", "pnl", bucket, timeout=timeout, retry=FAST_RETRY))


def _ups(api: FakeCarrierApi, *, secret: str = "ups-secret") -> UPSClient:
    account = Account("ups", "ups", {"client_id": "ups-id", "client_secret": secret}, base_url=api.base_url)
    return UPSClient(account, CarrierHttp("ups", "ups", TokenBucket(1000, 1), retry=FAST_RETRY))


def _t(number: str) -> Target:
    return Target(shipment_key=f"x:{number}", tracking_number=number, status="pending")


async def test_postnl_fetches_with_its_api_key(carrier_api: FakeCarrierApi) -> None:
    body = postnl_status("3SDEVC1", [("B01", "Ontvangen", "20-11-2026 18:00:00")])
    carrier_api.set("postnl", "3SDEVC1", body)
    client = _postnl(carrier_api)
    try:
        [fetched] = await client.fetch([_t("3SDEVC1")])
    finally:
        await client.http.close()
    assert fetched.payload == body
    assert fetched.numbers == ("3SDEVC1",)
    assert fetched.headers["X-Trackstream-Tracking-Number"] == "3SDEVC1"
    assert [r.path for r in carrier_api.requests("postnl")] == ["/shipment/v2/status/barcode/3SDEVC1"]


async def test_postnl_wrong_key_is_an_auth_error(carrier_api: FakeCarrierApi) -> None:
    client = _postnl(carrier_api, key="wrong")
    try:
        with pytest.raises(AuthError):
            await client.fetch([_t("3SDEVC1")])
    finally:
        await client.http.close()
    assert len(carrier_api.requests("postnl")) == 1  # not retried: retrying a wrong key is pointless


async def test_rate_limit_is_respected_measured(carrier_api: FakeCarrierApi) -> None:
    client = _postnl(carrier_api, rate=RateLimit(10, 1))
    started = time.monotonic()
    try:
        for i in range(25):
            await client.fetch([_t(f"3SDEVC{i}")])
    finally:
        await client.http.close()
    elapsed = time.monotonic() - started
    stamps = [r.at for r in carrier_api.requests("postnl")]
    assert len(stamps) == 25
    assert elapsed >= 24 / 10 - 0.05  # one token at start, then 10 per second
    busiest = max(sum(1 for s in stamps if t <= s < t + 1.0) for t in stamps)
    assert busiest <= 10 + 1
    print(f"\nPostNL at 10 req/s: 25 requests in {elapsed:.2f}s, busiest second {busiest} requests")


async def test_429_waits_for_retry_after_then_succeeds(carrier_api: FakeCarrierApi) -> None:
    carrier_api.set("postnl", "3SDEVC1", postnl_status("3SDEVC1", [("B01", "Ontvangen", "20-11-2026 18:00:00")]))
    carrier_api.script("postnl", Scripted(429, {"Retry-After": "1"}, b'{"message":"Too Many Requests"}'))
    client = _postnl(carrier_api)
    try:
        [fetched] = await client.fetch([_t("3SDEVC1")])
    finally:
        await client.http.close()
    log = carrier_api.requests("postnl")
    assert [r.status for r in log] == [429, 200]
    assert log[1].at - log[0].at >= 0.95  # honoured Retry-After
    assert b"3SDEVC1" in fetched.payload


async def test_persistent_429_raises_rate_limited(carrier_api: FakeCarrierApi) -> None:
    carrier_api.script("postnl", *[Scripted(429, {"Retry-After": "0.2"}) for _ in range(5)])
    client = _postnl(carrier_api)
    try:
        with pytest.raises(RateLimited) as info:
            await client.fetch([_t("3SDEVC1")])
    finally:
        await client.http.close()
    assert info.value.retry_after == 0.2
    assert len(carrier_api.requests("postnl")) == FAST_RETRY.attempts


async def test_5xx_is_retried_with_backoff(carrier_api: FakeCarrierApi) -> None:
    carrier_api.set("postnl", "3SDEVC1", postnl_status("3SDEVC1", [("B01", "Ontvangen", "20-11-2026 18:00:00")]))
    carrier_api.script("postnl", Scripted(503), Scripted(500))
    client = _postnl(carrier_api)
    try:
        await client.fetch([_t("3SDEVC1")])
    finally:
        await client.http.close()
    assert [r.status for r in carrier_api.requests("postnl")] == [503, 500, 200]


async def test_5xx_every_time_is_a_transient_error(carrier_api: FakeCarrierApi) -> None:
    carrier_api.script("postnl", *[Scripted(502) for _ in range(3)])
    client = _postnl(carrier_api)
    try:
        with pytest.raises(TransientError):
            await client.fetch([_t("3SDEVC1")])
    finally:
        await client.http.close()


async def test_a_slow_carrier_times_out_and_is_retried(carrier_api: FakeCarrierApi) -> None:
    carrier_api.set("postnl", "3SDEVC1", postnl_status("3SDEVC1", [("B01", "Ontvangen", "20-11-2026 18:00:00")]))
    carrier_api.script("postnl", Scripted(200, body=b"{}", delay=2.0))
    client = _postnl(carrier_api, timeout=0.5)
    started = time.monotonic()
    try:
        [fetched] = await client.fetch([_t("3SDEVC1")])
    finally:
        await client.http.close()
    assert b"3SDEVC1" in fetched.payload  # the second try got the real answer
    assert time.monotonic() - started >= 0.5


async def test_ups_token_is_fetched_once_and_reused(carrier_api: FakeCarrierApi) -> None:
    for n in ("1Z1", "1Z2", "1Z3"):
        carrier_api.set("ups", n, ups_details(n, [("I", "OR", "005", "Origin Scan", "20261120101500")]))
    client = _ups(carrier_api)
    try:
        for n in ("1Z1", "1Z2", "1Z3"):
            [fetched] = await client.fetch([_t(n)])
            assert n.encode() in fetched.payload
    finally:
        await client.http.close()
    assert carrier_api.token_requests == 1
    assert client.oauth.fetched == 1


async def test_ups_refreshes_a_revoked_token_and_retries(carrier_api: FakeCarrierApi) -> None:
    carrier_api.set("ups", "1Z1", ups_details("1Z1", [("I", "OR", "005", "Origin Scan", "20261120101500")]))
    client = _ups(carrier_api)
    try:
        await client.fetch([_t("1Z1")])
        carrier_api.revoke_tokens()  # e.g. rotated or expired early on UPS's side
        [fetched] = await client.fetch([_t("1Z1")])
    finally:
        await client.http.close()
    assert b"1Z1" in fetched.payload
    assert carrier_api.token_requests == 2
    assert [r.status for r in carrier_api.requests("ups")] == [200, 401, 200]


async def test_ups_token_refresh_before_expiry(carrier_api: FakeCarrierApi) -> None:
    carrier_api.token_ttl = 30  # shorter than the one-minute leeway: every call needs a fresh token
    carrier_api.set("ups", "1Z1", ups_details("1Z1", [("I", "OR", "005", "Origin Scan", "20261120101500")]))
    client = _ups(carrier_api)
    try:
        await client.fetch([_t("1Z1")])
        await client.fetch([_t("1Z1")])
    finally:
        await client.http.close()
    assert carrier_api.token_requests == 2
    assert all(r.status == 200 for r in carrier_api.requests("ups"))


async def test_ups_wrong_client_secret_is_an_auth_error(carrier_api: FakeCarrierApi) -> None:
    client = _ups(carrier_api, secret="nope")
    try:
        with pytest.raises(AuthError):
            await client.fetch([_t("1Z1")])
    finally:
        await client.http.close()
    assert carrier_api.requests("ups") == []
