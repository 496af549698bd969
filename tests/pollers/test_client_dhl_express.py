"""DHL Express (MyDHL API) client against the local ``/mydhlapi/tracking``: HTTP Basic, several
waybills in one request with the documented query, not-found problem documents (a 404 batch
bisected), 5xx problem documents retried, and what the adapter makes of the answers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

import carriers
from pollers.accounts import Account, RateLimit
from pollers.clients.dhl_express import DHLExpressClient
from pollers.http import AuthError, TransientError
from tests.fakes.carrier_api import FakeCarrierApi, Scripted
from tests.fakes.carriers.dhl_express import AUTH, mydhl_shipment
from tests.pollers.client_support import NOW, judge, make_client, target

PICKED_UP = ("2026-11-20", "14:02:00", "PU", "Shipment picked up", "LEJ|LEIPZIG-DE")
ARRIVED = ("2026-11-21", "05:40:00", "AF", "Arrived at DHL Sort Facility AMSTERDAM-NL", "AMS|AMSTERDAM-NL")
COURIER = ("2026-11-21", "09:15:00", "WC", "With delivery courier", "AMS|AMSTERDAM-NL")
DELIVERED = ("2026-11-21", "13:20:00", "OK", "Delivered : J JANSEN", "AMS|AMSTERDAM-NL")


def _client(api: FakeCarrierApi, password: str = AUTH[1]) -> DHLExpressClient:
    return make_client(DHLExpressClient, f"{api.base_url}/mydhlapi", {"username": AUTH[0], "password": password})


def _requests(api: FakeCarrierApi) -> list[dict[str, Any]]:
    with api.lock:
        return list(api.state.get("dhl_express.requests", []))


async def test_one_request_for_several_waybills_with_basic_auth(carrier_api: FakeCarrierApi) -> None:
    carrier_api.set("dhl_express", "1000000001", mydhl_shipment("1000000001", [PICKED_UP, ARRIVED]))
    carrier_api.set("dhl_express", "1000000002", mydhl_shipment("1000000002", [PICKED_UP, ARRIVED, COURIER]))
    carrier_api.set("dhl_express", "1000000003", mydhl_shipment("1000000003", [PICKED_UP, COURIER, DELIVERED]))
    client = _client(carrier_api)
    try:
        responses = await client.fetch([target("1000000001"), target("1000000002"), target("1000000003")])
    finally:
        await client.http.close()
    [sent] = _requests(carrier_api)
    assert sent["query"] == [("shipmentTrackingNumber", "1000000001"), ("shipmentTrackingNumber", "1000000002"),
                             ("shipmentTrackingNumber", "1000000003"), ("trackingView", "all-checkpoints"),
                             ("levelOfDetail", "all")]
    assert sent["headers"]["Authorization"].startswith("Basic ")
    assert len(sent["headers"]["Message-Reference"]) == 36
    published, outcomes = judge("dhl_express", responses)
    assert published == [True]
    assert {n: (o.result, o.status) for n, o in outcomes.items()} == {
        "1000000001": ("changed", "in_transit"), "1000000002": ("changed", "out_for_delivery"),
        "1000000003": ("changed", "delivered")}


async def test_every_checkpoint_arrives_in_utc_from_the_service_area(carrier_api: FakeCarrierApi) -> None:
    carrier_api.set("dhl_express", "1000000011", mydhl_shipment("1000000011", [PICKED_UP, ARRIVED, COURIER]))
    client = _client(carrier_api)
    try:
        [fetched] = await client.fetch([target("1000000011")])
    finally:
        await client.http.close()
    parser = carriers.get_parser("dhl_express")
    assert parser is not None
    events = parser(fetched.payload, dict(fetched.headers), NOW)
    assert [(e.code, e.occurred_at) for e in events] == [
        ("PU", datetime(2026, 11, 20, 13, 2, tzinfo=UTC)),  # Leipzig, CET
        ("AF", datetime(2026, 11, 21, 4, 40, tzinfo=UTC)),
        ("WC", datetime(2026, 11, 21, 8, 15, tzinfo=UTC)),
    ]


async def test_wrong_password_is_an_auth_error_without_retries(carrier_api: FakeCarrierApi) -> None:
    client = _client(carrier_api, password="nope")
    try:
        with pytest.raises(AuthError):
            await client.fetch([target("1000000001")])
    finally:
        await client.http.close()
    assert [r.status for r in carrier_api.requests("dhl_express")] == [401]


async def test_unknown_waybill_is_not_found_and_not_published(carrier_api: FakeCarrierApi) -> None:
    client = _client(carrier_api)
    try:
        responses = await client.fetch([target("1999999999")])
    finally:
        await client.http.close()
    assert [r.status for r in carrier_api.requests("dhl_express")] == [404]
    published, outcomes = judge("dhl_express", responses)
    assert published == [False]
    assert outcomes["1999999999"].result == "not_found"


async def test_a_batch_lists_the_known_waybills_the_others_are_not_found(carrier_api: FakeCarrierApi) -> None:
    carrier_api.set("dhl_express", "1000000021", mydhl_shipment("1000000021", [PICKED_UP]))
    client = _client(carrier_api)
    try:
        responses = await client.fetch([target("1000000021"), target("1999999921")])
    finally:
        await client.http.close()
    assert len(carrier_api.requests("dhl_express")) == 1
    _, outcomes = judge("dhl_express", responses)
    assert outcomes["1000000021"].result == "changed"
    assert outcomes["1999999921"].result == "not_found"


async def test_a_batch_answered_404_as_a_whole_is_bisected(carrier_api: FakeCarrierApi) -> None:
    carrier_api.state["dhl_express.all_or_nothing"] = True
    carrier_api.set("dhl_express", "1000000031", mydhl_shipment("1000000031", [PICKED_UP]))
    carrier_api.set("dhl_express", "1000000032", mydhl_shipment("1000000032", [PICKED_UP, DELIVERED]))
    client = _client(carrier_api)
    try:
        responses = await client.fetch([target("1000000031"), target("1999999931"), target("1000000032")])
    finally:
        await client.http.close()
    asked = [[v for k, v in r["query"] if k == "shipmentTrackingNumber"] for r in _requests(carrier_api)]
    assert asked == [["1000000031", "1999999931", "1000000032"], ["1000000031"], ["1999999931", "1000000032"],
                     ["1999999931"], ["1000000032"]]
    _, outcomes = judge("dhl_express", responses)
    assert {n: o.result for n, o in outcomes.items()} == {
        "1000000031": "changed", "1999999931": "not_found", "1000000032": "changed"}


async def test_two_hundred_waybills_go_in_one_request(carrier_api: FakeCarrierApi) -> None:
    numbers = [f"2{i:09d}" for i in range(200)]
    for number in numbers[::50]:
        carrier_api.set("dhl_express", number, mydhl_shipment(number, [PICKED_UP]))
    client = _client(carrier_api)
    try:
        responses = await client.fetch([target(n) for n in numbers])
    finally:
        await client.http.close()
    assert [r.status for r in carrier_api.requests("dhl_express")] == [200]
    _, outcomes = judge("dhl_express", responses)
    assert sum(o.result == "changed" for o in outcomes.values()) == 4
    assert sum(o.result == "not_found" for o in outcomes.values()) == 196
    assert DHLExpressClient.batch_size(Account("x", "dhl_express", {}, batch_size=1000)) == 200


async def test_5xx_problem_documents_are_retried_then_transient(carrier_api: FakeCarrierApi) -> None:
    carrier_api.set("dhl_express", "1000000041", mydhl_shipment("1000000041", [PICKED_UP]))
    problem = b'{"instance":"/expressapi/tracking","detail":"Service unavailable","title":"Unavailable","status":"503"}'
    carrier_api.script("dhl_express", Scripted(503, {"Content-Type": "application/json"}, problem))
    client = _client(carrier_api)
    try:
        [fetched] = await client.fetch([target("1000000041")])
        carrier_api.script("dhl_express", *[Scripted(500, body=problem) for _ in range(3)])
        with pytest.raises(TransientError):
            await client.fetch([target("1000000041")])
    finally:
        await client.http.close()
    assert [r.status for r in carrier_api.requests("dhl_express")] == [503, 200, 500, 500, 500]
    assert judge("dhl_express", [fetched])[1]["1000000041"].result == "changed"


def test_defaults() -> None:
    account = Account("x", "dhl_express", {"username": "u", "password": "p"})
    assert DHLExpressClient.rate_limit(account) == RateLimit(1, 1)
    assert DHLExpressClient.batch_size(account) == 200
    assert DHLExpressClient.required_credentials == ("username", "password")
