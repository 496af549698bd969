"""DHL Parcel NL client against the local track-trace gateway and Unified API: batched keys with the
receiver's postcode (``+`` as ``%2B``), not-found answers, a 404 batch bisected, aliases, 429/5xx,
the Unified API's key, and what the adapter makes of the answers."""

from __future__ import annotations

import time

import pytest

from pollers.accounts import Account, RateLimit, parse_accounts
from pollers.clients.dhl_parcel_nl import UNIFIED_BASE_URL, UNIFIED_RATE, DHLParcelNLClient, clean_postcode
from pollers.http import AuthError
from tests.fakes.carrier_api import FakeCarrierApi, Scripted
from tests.fakes.carriers.dhl_parcel_nl import UNIFIED, UNIFIED_KEY, native_parcel, unified_shipment
from tests.pollers.client_support import judge, make_client, target

SORTED = ("UNDERWAY", "PARCEL_SORTED_AT_HUB", "2026-11-20T17:00:00Z")
OUT = ("IN_DELIVERY", "OUT_FOR_DELIVERY", "2026-11-21T07:30:00Z")
DELIVERED = ("DELIVERED", "DELIVERED", "2026-11-21T10:05:00Z")


def _native(api: FakeCarrierApi) -> DHLParcelNLClient:
    return make_client(DHLParcelNLClient, api.base_url, {})


def _keys(api: FakeCarrierApi) -> list[list[tuple[str, str | None]]]:
    with api.lock:
        return [list(k) for k in api.state.get("dhl_parcel_nl.keys", [])]


async def test_one_request_carries_every_key_with_its_postcode(carrier_api: FakeCarrierApi) -> None:
    carrier_api.set("dhl_parcel_nl", "3SDHL0001", native_parcel("3SDHL0001", [SORTED]))
    carrier_api.set("dhl_parcel_nl", "3SDHL0002", native_parcel("3SDHL0002", [SORTED, OUT]))
    carrier_api.set("dhl_parcel_nl", "3SDHL0003", native_parcel("3SDHL0003", [SORTED, OUT, DELIVERED]))
    client = _native(carrier_api)
    try:
        responses = await client.fetch([target("3SDHL0001", "1234 ab"), target("3SDHL0002"),
                                        target("3SDHL0003", "3542AD")])
    finally:
        await client.http.close()
    # the postcode arrives as such: a bare "+" would have reached the server as a space
    assert _keys(carrier_api) == [[("3SDHL0001", "1234AB"), ("3SDHL0002", None), ("3SDHL0003", "3542AD")]]
    assert len(carrier_api.requests("dhl_parcel_nl")) == 1
    [fetched] = responses
    assert fetched.numbers == ("3SDHL0001", "3SDHL0002", "3SDHL0003")
    assert fetched.headers["X-Trackstream-Tracking-Number"] == "3SDHL0001,3SDHL0002,3SDHL0003"
    published, outcomes = judge("dhl_parcel_nl", responses)
    assert published == [True]
    assert {n: (o.result, o.status) for n, o in outcomes.items()} == {
        "3SDHL0001": ("changed", "in_transit"), "3SDHL0002": ("changed", "out_for_delivery"),
        "3SDHL0003": ("changed", "delivered")}


async def test_an_unknown_parcel_is_not_found_and_not_published(carrier_api: FakeCarrierApi) -> None:
    client = _native(carrier_api)
    try:
        responses = await client.fetch([target("3SNOPE0001")])
    finally:
        await client.http.close()
    assert [r.status for r in carrier_api.requests("dhl_parcel_nl")] == [404]
    assert responses[0].payload == b"No parcel found for the given key(s)"
    published, outcomes = judge("dhl_parcel_nl", responses)
    assert published == [False]
    assert outcomes["3SNOPE0001"].result == "not_found"


async def test_a_batch_answers_the_known_parcels_and_the_unknown_one_is_not_found(
        carrier_api: FakeCarrierApi) -> None:
    carrier_api.set("dhl_parcel_nl", "3SDHL0011", native_parcel("3SDHL0011", [SORTED]))
    client = _native(carrier_api)
    try:
        responses = await client.fetch([target("3SDHL0011"), target("3SNOPE0011")])
    finally:
        await client.http.close()
    assert len(carrier_api.requests("dhl_parcel_nl")) == 1
    _, outcomes = judge("dhl_parcel_nl", responses)
    assert outcomes["3SDHL0011"].result == "changed"
    assert outcomes["3SNOPE0011"].result == "not_found"


async def test_a_batch_answered_404_as_a_whole_is_bisected(carrier_api: FakeCarrierApi) -> None:
    carrier_api.state["dhl_parcel_nl.all_or_nothing"] = True
    known = ["3SDHL0021", "3SDHL0022", "3SDHL0023"]
    for number in known:
        carrier_api.set("dhl_parcel_nl", number, native_parcel(number, [SORTED, OUT]))
    client = _native(carrier_api)
    try:
        responses = await client.fetch([target(n) for n in [*known[:2], "3SNOPE0021", known[2]]])
    finally:
        await client.http.close()
    asked = [[barcode for barcode, _ in keys] for keys in _keys(carrier_api)]
    assert asked == [["3SDHL0021", "3SDHL0022", "3SNOPE0021", "3SDHL0023"], ["3SDHL0021", "3SDHL0022"],
                     ["3SNOPE0021", "3SDHL0023"], ["3SNOPE0021"], ["3SDHL0023"]]
    published, outcomes = judge("dhl_parcel_nl", responses)
    assert published == [True, False, True]
    assert {n: o.result for n, o in outcomes.items()} == {
        "3SDHL0021": "changed", "3SDHL0022": "changed", "3SNOPE0021": "not_found", "3SDHL0023": "changed"}
    assert outcomes["3SDHL0023"].status == "out_for_delivery"


async def test_a_parcel_registered_under_its_alias_keeps_that_number(carrier_api: FakeCarrierApi) -> None:
    body = native_parcel("3SDHL0031", [SORTED, DELIVERED], aliases=("JVGL0031",))
    carrier_api.set("dhl_parcel_nl", "JVGL0031", body)
    carrier_api.set("dhl_parcel_nl", "3SDHL0032", native_parcel("3SDHL0032", [SORTED]))
    client = _native(carrier_api)
    try:
        responses = await client.fetch([target("JVGL0031"), target("3SDHL0032")])
    finally:
        await client.http.close()
    _, outcomes = judge("dhl_parcel_nl", responses)
    assert outcomes["JVGL0031"].result == "changed"
    assert outcomes["JVGL0031"].status == "delivered"


async def test_429_and_5xx_are_retried_with_the_whole_batch(carrier_api: FakeCarrierApi) -> None:
    carrier_api.set("dhl_parcel_nl", "3SDHL0041", native_parcel("3SDHL0041", [SORTED]))
    carrier_api.set("dhl_parcel_nl", "3SDHL0042", native_parcel("3SDHL0042", [SORTED]))
    carrier_api.script("dhl_parcel_nl", Scripted(429, {"Retry-After": "1"}), Scripted(502))
    client = _native(carrier_api)
    try:
        started = time.monotonic()
        responses = await client.fetch([target("3SDHL0041"), target("3SDHL0042")])
    finally:
        await client.http.close()
    assert time.monotonic() - started >= 0.95  # Retry-After honoured
    assert [r.status for r in carrier_api.requests("dhl_parcel_nl")] == [429, 502, 200]
    assert [len(keys) for keys in _keys(carrier_api)] == [2, 2, 2]
    assert judge("dhl_parcel_nl", responses)[1]["3SDHL0042"].result == "changed"


def test_native_needs_no_credentials_and_batches_twenty() -> None:
    [account] = parse_accounts({"accounts": [{"name": "dhl", "carrier": "dhl_parcel_nl"}]}, "test")
    assert DHLParcelNLClient.batch_size(account) == 20
    assert DHLParcelNLClient.rate_limit(account) == RateLimit(2, 1)
    assert DHLParcelNLClient.batch_size(Account("x", "dhl_parcel_nl", {}, batch_size=500)) == 20


@pytest.mark.parametrize(("given", "sent"), [("1234 ab", "1234AB"), (" 3542AD ", "3542AD"), ("B-1000", "B-1000"),
                                             ("", None), (None, None), ("12/34", None)])
def test_postcodes_are_cleaned_or_left_out(given: str | None, sent: str | None) -> None:
    assert clean_postcode(given) == sent


async def test_unified_api_with_its_key_one_number_per_request(carrier_api: FakeCarrierApi) -> None:
    carrier_api.set(UNIFIED, "3SUNI0001", unified_shipment("3SUNI0001", [
        ("transit", "PARCEL_ARRIVED_AT_LOCAL_DEPOT", "2026-11-21T06:10:00+01:00", "Parcel at the depot"),
        ("pre-transit", "PRENOTIFICATION_RECEIVED", "2026-11-20T09:00:00+01:00", "Data received")]))
    client = make_client(DHLParcelNLClient, carrier_api.base_url, {"api_key": UNIFIED_KEY})
    try:
        responses = await client.fetch([target("3SUNI0001", "3542 ad"), target("3SUNI0404")])
    finally:
        await client.http.close()
    assert [r.status for r in carrier_api.requests(UNIFIED)] == [200, 404]
    with carrier_api.lock:
        queries = carrier_api.state["dhl_parcel_nl.unified_queries"]
    assert queries[0] == {"trackingNumber": "3SUNI0001", "service": "parcel-nl", "recipientPostalCode": "3542AD"}
    published, outcomes = judge("dhl_parcel_nl", responses)
    assert published == [True, False]
    assert (outcomes["3SUNI0001"].result, outcomes["3SUNI0001"].status) == ("changed", "in_transit")
    assert outcomes["3SUNI0404"].result == "not_found"


async def test_unified_api_with_a_wrong_key_is_an_auth_error(carrier_api: FakeCarrierApi) -> None:
    client = make_client(DHLParcelNLClient, carrier_api.base_url, {"api_key": "wrong"})
    try:
        with pytest.raises(AuthError):
            await client.fetch([target("3SUNI0001")])
    finally:
        await client.http.close()
    assert [r.status for r in carrier_api.requests(UNIFIED)] == [401]


def test_unified_defaults() -> None:
    account = Account("u", "dhl_parcel_nl", {"api_key": "k"})
    assert DHLParcelNLClient.batch_size(account) == 1
    assert DHLParcelNLClient.rate_limit(account) == UNIFIED_RATE == RateLimit(250, 86_400)
    assert DHLParcelNLClient.rate_limit(Account("u", "dhl_parcel_nl", {"api_key": "k"},
                                                rate_limit=RateLimit(1, 1))) == RateLimit(1, 1)
    client = DHLParcelNLClient(account, None)  # type: ignore[arg-type]  # only the base URL is looked at
    assert client.base_url == UNIFIED_BASE_URL
