"""FedEx Track API v1 client against the local API: OAuth2 client credentials in a form body (fetched
once, refreshed on 401 and before expiry), 30 numbers per POST with ``includeDetailedScans``,
per-result NOTFOUND errors inside a 200, FedEx's 429 / 503 error bodies, the default rate against
FedEx's published limits, and what the adapter makes of the answers."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from pollers.accounts import Account, RateLimit
from pollers.clients.fedex import FedExClient
from pollers.http import AuthError, RequestRejected
from pollers.ratelimit import TokenBucket
from tests.fakes.carrier_api import FakeCarrierApi, Scripted
from tests.fakes.carriers.fedex import CLIENT, TOO_MANY, UNAVAILABLE, fedex_result
from tests.pollers.client_support import judge, make_client, target

LABEL = ("OC", "IN", "Shipment information sent to FedEx", "2026-11-19T16:20:00-06:00")
PICKED_UP = ("PU", "PU", "Picked up", "2026-11-19T18:02:00-06:00")
ON_VEHICLE = ("OD", "IT", "On FedEx vehicle for delivery", "2026-11-21T08:10:00-06:00")
DELIVERED = ("DL", "DL", "Delivered", "2026-11-21T13:45:00-06:00")


def _client(api: FakeCarrierApi, secret: str = CLIENT[1]) -> FedExClient:
    return make_client(FedExClient, api.base_url, {"client_id": CLIENT[0], "client_secret": secret})


def _token_requests(api: FakeCarrierApi) -> int:
    with api.lock:
        return int(api.state.get("fedex.token_requests", 0))


def _bodies(api: FakeCarrierApi) -> list[dict[str, Any]]:
    with api.lock:
        return list(api.state.get("fedex.bodies", []))


async def test_thirty_numbers_in_one_post_with_detailed_scans_and_one_token(carrier_api: FakeCarrierApi) -> None:
    numbers = [f"7940000{i:05d}" for i in range(30)]
    for i, number in enumerate(numbers):
        scans = [ON_VEHICLE, PICKED_UP, LABEL] if i % 2 else [DELIVERED, ON_VEHICLE, PICKED_UP, LABEL]
        carrier_api.set("fedex", number, fedex_result(number, scans))
    client = _client(carrier_api)
    try:
        responses = await client.fetch([target(n) for n in numbers])
        await client.fetch([target(numbers[0])])
    finally:
        await client.http.close()
    assert _token_requests(carrier_api) == 1
    first = _bodies(carrier_api)[0]
    assert first["body"]["includeDetailedScans"] is True
    assert [i["trackingNumberInfo"]["trackingNumber"] for i in first["body"]["trackingInfo"]] == numbers
    assert first["headers"]["X-locale"] == "en_US"
    assert first["headers"]["Content-Type"] == "application/json"
    assert len(first["headers"]["x-customer-transaction-id"]) == 36
    published, outcomes = judge("fedex", responses)
    assert published == [True]
    assert {n: o.status for n, o in outcomes.items()} == {
        n: ("out_for_delivery" if i % 2 else "delivered") for i, n in enumerate(numbers)}
    assert FedExClient.batch_size(Account("f", "fedex", {}, batch_size=100)) == 30


async def test_wrong_secret_is_an_auth_error(carrier_api: FakeCarrierApi) -> None:
    client = _client(carrier_api, secret="nope")
    try:
        with pytest.raises(AuthError):
            await client.fetch([target("794000000001")])
    finally:
        await client.http.close()
    assert _token_requests(carrier_api) == 1
    assert carrier_api.requests("fedex") == []


async def test_an_expired_token_is_refreshed_and_the_request_repeated(carrier_api: FakeCarrierApi) -> None:
    carrier_api.set("fedex", "794000000002", fedex_result("794000000002", [PICKED_UP, LABEL]))
    client = _client(carrier_api)
    try:
        await client.fetch([target("794000000002")])
        carrier_api.revoke_tokens()
        [fetched] = await client.fetch([target("794000000002")])
    finally:
        await client.http.close()
    assert [r.status for r in carrier_api.requests("fedex")] == [200, 401, 200]
    assert _token_requests(carrier_api) == 2
    assert judge("fedex", [fetched])[1]["794000000002"].status == "in_transit"


async def test_a_token_is_renewed_before_it_expires(carrier_api: FakeCarrierApi) -> None:
    carrier_api.token_ttl = 30
    carrier_api.set("fedex", "794000000003", fedex_result("794000000003", [PICKED_UP]))
    client = _client(carrier_api)
    try:
        await client.fetch([target("794000000003")])
        await client.fetch([target("794000000003")])
    finally:
        await client.http.close()
    assert _token_requests(carrier_api) == 2
    assert [r.status for r in carrier_api.requests("fedex")] == [200, 200]


async def test_notfound_results_inside_a_200(carrier_api: FakeCarrierApi) -> None:
    carrier_api.set("fedex", "794000000004", fedex_result("794000000004", [DELIVERED, PICKED_UP]))
    client = _client(carrier_api)
    try:
        mixed = await client.fetch([target("794000000004"), target("999999999904")])
        unknown = await client.fetch([target("999999999905")])
    finally:
        await client.http.close()
    published, outcomes = judge("fedex", mixed)
    assert published == [True]
    assert (outcomes["794000000004"].status, outcomes["999999999904"].result) == ("delivered", "not_found")
    published, outcomes = judge("fedex", unknown)
    assert published == [False]
    assert outcomes["999999999905"].result == "not_found"


async def test_too_many_requests_and_service_unavailable_are_retried(carrier_api: FakeCarrierApi) -> None:
    carrier_api.set("fedex", "794000000006", fedex_result("794000000006", [PICKED_UP]))
    carrier_api.script("fedex", Scripted(429, {"Content-Type": "application/json"}, orjson.dumps(TOO_MANY)),
                       Scripted(503, {"Content-Type": "application/json"}, orjson.dumps(UNAVAILABLE)))
    client = _client(carrier_api)
    try:
        [fetched] = await client.fetch([target("794000000006")])
    finally:
        await client.http.close()
    assert [r.status for r in carrier_api.requests("fedex")] == [429, 503, 200]
    assert judge("fedex", [fetched])[1]["794000000006"].result == "changed"


async def test_a_request_fedex_rejects_is_not_retried(carrier_api: FakeCarrierApi) -> None:
    client = _client(carrier_api)
    try:
        with pytest.raises(RequestRejected, match=r"TRACKING\.TRACKINGNUMBER\.EMPTY"):
            await client.fetch([])
    finally:
        await client.http.close()
    assert [r.status for r in carrier_api.requests("fedex")] == [400]


def test_the_default_rate_keeps_both_published_limits() -> None:
    rate = FedExClient.rate_limit(Account("f", "fedex", {"client_id": "i", "client_secret": "s"}))
    assert rate == RateLimit(100_000, 86_400, 140)
    bucket = TokenBucket(rate.requests, rate.per_seconds, rate.burst)
    # a full bucket plus ten seconds of refill stays far below 1,400 per 10-second window
    assert bucket.capacity + bucket.fill_rate * 10 <= 1_400
    # and a day of refill is the Track capability's 100,000 requests per project per day
    assert bucket.fill_rate * 86_400 == pytest.approx(100_000)


async def test_a_404_is_a_wrong_url_not_every_number_not_found(carrier_api: FakeCarrierApi) -> None:
    body = orjson.dumps({"transactionId": "624deea6-b709-470c-8c39-4b5511281492", "errors": [{
        "code": "NOT.FOUND.ERROR", "message": "The resource you requested is no longer available. Please modify "
                                              "your request and try again."}]})
    carrier_api.script("fedex", Scripted(404, {"Content-Type": "application/json"}, body))
    client = _client(carrier_api)
    try:
        with pytest.raises(RequestRejected, match="check base_url"):
            await client.fetch([target("794000000007"), target("794000000008")])
    finally:
        await client.http.close()
