"""The TNT client (ExpressConnect XML 3.1 form post) against a local ExpressConnect: several
consignments per request, unknown numbers (CNF), repeated numbers, the 9000 authorisation error in
the body, 429/5xx backoff."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from pollers.accounts import Account, AccountsError, RateLimit
from pollers.clients.base import TRACKING_NUMBER_HEADER, Fetched
from pollers.clients.tnt import TNTClient, auth_error, track_request
from pollers.http import AuthError, TransientError
from pollers.service import classify
from tests.conftest import samples_dir
from tests.fakes.carrier_api import FakeCarrierApi, Scripted
from tests.fakes.carriers import tnt as fake
from tests.pollers.client_support import FAST_RETRY, NOW, make_client, target

OUT = [("OD", "Out For Delivery.", "20261121", "0747", "QAR"), ("IS", "Shipment Received At Tnt Location",
                                                                "20261120", "2145", "QAR")]
DELIVERED = [("OK", "Shipment Delivered In Good Condition.", "20261121", "1020", "QAR"), *OUT]


def _client(api: FakeCarrierApi, *, password: str = "tnt-password", **extra: str) -> TNTClient:
    return make_client(TNTClient, api.base_url, {"username": "tnt-user", "password": password, **extra})


async def _fetch(client: TNTClient, *numbers: str) -> list[Fetched]:
    try:
        return await client.fetch([target(n) for n in numbers])
    finally:
        await client.http.close()


async def test_several_consignments_in_one_request(carrier_api: FakeCarrierApi) -> None:
    carrier_api.set("tnt", "123456782", fake.consignment("123456782", OUT))
    carrier_api.set("tnt", "123456783", fake.consignment("123456783", DELIVERED, summary="DEL"))
    [fetched] = await _fetch(_client(carrier_api), "123456782", "123456783", "222222222", "123456782")
    st = fake.state(carrier_api)
    assert st.batches == [["123456782", "123456783", "222222222"]]  # one request, each number once
    assert st.criteria == [{"marketType": "INTERNATIONAL", "originCountry": "NL"}]
    assert fetched.numbers == ("123456782", "123456783", "222222222")
    assert fetched.headers[TRACKING_NUMBER_HEADER] == "123456782,123456783,222222222"
    publish, outcomes = classify("tnt", fetched, {}, NOW)
    assert publish
    assert {n: (o.result, o.status) for n, o in outcomes.items()} == {
        "123456782": ("changed", "out_for_delivery"), "123456783": ("changed", "delivered"),
        "222222222": ("not_found", None)}
    # the same answer again is unchanged for the numbers it carries
    again = classify("tnt", fetched, {n: o.payload_hash for n, o in outcomes.items()}, NOW)
    assert not again[0] and again[1]["123456782"].result == "unchanged"


async def test_only_unknown_numbers_is_not_found_and_not_published(carrier_api: FakeCarrierApi) -> None:
    [fetched] = await _fetch(_client(carrier_api), "222222222", "333333333")
    publish, outcomes = classify("tnt", fetched, {}, NOW)
    assert not publish
    assert {o.result for o in outcomes.values()} == {"not_found"}


async def test_a_reused_number_from_tnts_sample_comes_through(carrier_api: FakeCarrierApi) -> None:
    """TNT's own response with 123456782 twice (two consignments) and a CNF."""
    sample = ET.fromstring((samples_dir() / "tnt" / "expressconnect-track-response-v3.1.xml").read_bytes())
    twice = b"".join(ET.tostring(c) for c in sample.iter("Consignment")
                     if c.findtext("ConsignmentNumber") == "123456782")
    carrier_api.set("tnt", "123456782", twice)
    [fetched] = await _fetch(_client(carrier_api), "123456782", "22222222")
    publish, outcomes = classify("tnt", fetched, {}, NOW)
    assert publish and outcomes["123456782"].status == "delivered"
    assert outcomes["22222222"].result == "not_found"


def test_the_request_has_the_shape_of_tnts_sample() -> None:
    sample = ET.fromstring((samples_dir() / "tnt" / "expressconnect-track-request-v3.1.xml").read_bytes())
    ours = ET.fromstring(track_request(["22222222", "123456782"], "US", "INTERNATIONAL"))
    assert [(e.tag, e.attrib, (e.text or "").strip()) for e in ours.iter()] == \
        [(e.tag, e.attrib, (e.text or "").strip()) for e in sample.iter()]
    hostile = ET.fromstring(track_request(["1<2&3"], "NL", "DOMESTIC"))
    assert hostile.findtext("SearchCriteria/ConsignmentNumber") == "1<2&3"


async def test_wrong_credentials_are_an_auth_error(carrier_api: FakeCarrierApi) -> None:
    with pytest.raises(AuthError, match="9000"):
        await _fetch(_client(carrier_api, password="wrong"), "123456782")
    assert len(fake.state(carrier_api).batches) == 1  # not retried
    sample = (samples_dir() / "tnt" / "expressconnect-track-error-response.xml").read_bytes()
    assert auth_error(sample) == "Unauthorized Access"
    assert auth_error(fake.consignment("1", OUT)) is None


async def test_429_then_5xx_then_the_answer(carrier_api: FakeCarrierApi) -> None:
    carrier_api.set("tnt", "123456782", fake.consignment("123456782", OUT))
    carrier_api.script("tnt", Scripted(429, {"Retry-After": "0.3"}), Scripted(502))
    [fetched] = await _fetch(_client(carrier_api), "123456782")
    assert [r.status for r in carrier_api.requests("tnt")] == [429, 502, 200]
    assert classify("tnt", fetched, {}, NOW)[1]["123456782"].status == "out_for_delivery"


async def test_5xx_every_time_is_transient(carrier_api: FakeCarrierApi) -> None:
    carrier_api.script("tnt", *[Scripted(503) for _ in range(FAST_RETRY.attempts)])
    with pytest.raises(TransientError):
        await _fetch(_client(carrier_api), "123456782")


async def test_origin_country_and_market_type_are_sent(carrier_api: FakeCarrierApi) -> None:
    await _fetch(_client(carrier_api, origin_country="de", market_type="domestic"), "123456782")
    assert fake.state(carrier_api).criteria == [{"marketType": "DOMESTIC", "originCountry": "DE"}]


def test_batch_size_and_account_checks() -> None:
    base = {"username": "u", "password": "p"}
    assert TNTClient.batch_size(Account("t", "tnt", base)) == 50
    assert TNTClient.batch_size(Account("t", "tnt", base, batch_size=10)) == 10
    assert TNTClient.batch_size(Account("t", "tnt", base, batch_size=500)) == 50
    assert TNTClient.rate_limit(Account("t", "tnt", base)) == RateLimit(2, 1)
    with pytest.raises(AccountsError, match="origin_country"):
        TNTClient.check(Account("t", "tnt", {**base, "origin_country": "Netherlands"}))
    with pytest.raises(AccountsError, match="market_type"):
        TNTClient.check(Account("t", "tnt", {**base, "market_type": "LOCAL"}))
    with pytest.raises(AccountsError, match="password"):
        TNTClient.check(Account("t", "tnt", {"username": "u"}))
