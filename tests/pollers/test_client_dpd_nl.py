"""The DPD NL client (SOAP) against a local server speaking DPD's shipper web service: login token
fetched once and renewed on expiry or when refused, faults told apart (authentication, parcel not
found, server error), the request shaped like DPD's sample, the number passed in the header."""

from __future__ import annotations

import asyncio
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from carriers._util import local
from pollers.accounts import RateLimit
from pollers.clients.base import TRACKING_NUMBER_HEADER, Fetched
from pollers.clients.dpd_nl import DPDNLClient, read_fault, token_expiry, tracking_envelope
from pollers.http import AuthError, TransientError
from pollers.service import classify
from tests.conftest import samples_dir
from tests.fakes.carrier_api import FakeCarrierApi, Scripted
from tests.fakes.carriers import dpd_nl as fake
from tests.pollers.client_support import FAST_RETRY, NOW, make_client, target

STEPS = [
    ("PickedUp", "Parcel handed to DPD", "Mechelen (BE)", "11/20/2026 6:05:00 PM"),
    ("Depot", "At parcel delivery centre", "Nieuwegein (NL)", "11/21/2026 4:09:55 AM"),
    ("Courier", "Parcel out for delivery", "Nieuwegein (NL)", "11/21/2026 7:34:34 AM"),
    ("Delivered", "Delivered", "Nieuwegein (NL)", "11/21/2026 2:15:00 PM"),
]


def _client(api: FakeCarrierApi, *, password: str = "dpd-password") -> DPDNLClient:
    return make_client(DPDNLClient, api.base_url, {"delis_id": "KD1234", "password": password})


async def _fetch(client: DPDNLClient, *numbers: str) -> list[Fetched]:
    try:
        return await client.fetch([target(n) for n in numbers])
    finally:
        await client.http.close()


def _statuses(api: FakeCarrierApi) -> list[int]:
    return [r.status for r in api.requests("dpd_nl")]


async def test_logs_in_once_and_the_response_reaches_the_adapter_with_the_number(
        carrier_api: FakeCarrierApi) -> None:
    first, second = "05308801410058", "05308801410059"
    body = fake.tracking_response(STEPS, reached=3)
    carrier_api.set("dpd_nl", first, body)
    carrier_api.set("dpd_nl", second, fake.tracking_response(STEPS[:1]))
    client = _client(carrier_api)
    fetched = await _fetch(client, first, second)
    assert fake.state(carrier_api).logins == 1 and client.logins == 1
    assert _statuses(carrier_api) == [200, 200]
    assert fetched[0].payload == body  # untouched
    assert fetched[0].numbers == (first,)
    assert fetched[0].headers[TRACKING_NUMBER_HEADER] == first
    assert fetched[0].content_type == "text/xml"
    publish, outcomes = classify("dpd_nl", fetched[0], {}, NOW)
    assert publish and outcomes[first].result == "changed" and outcomes[first].status == "out_for_delivery"
    publish, outcomes = classify("dpd_nl", fetched[1], {}, NOW)
    assert publish and outcomes[second].status == "in_transit"


async def test_the_request_has_the_shape_of_dpds_sample() -> None:
    """Same elements, in the same namespaces and order, as DPD's own getTrackingData request."""
    sample = ET.fromstring((samples_dir() / "dpd_nl" / "parcellifecycle-getTrackingData-request.xml").read_bytes())
    ours = ET.fromstring(tracking_envelope("KD1234", "tok", "en_EN", "05308801410058"))
    assert [e.tag for e in ours.iter()] == [e.tag for e in sample.iter()]
    values = {local(e.tag): (e.text or "").strip() for e in ours.iter() if len(e) == 0}
    assert values == {"delisId": "KD1234", "authToken": "tok", "messageLanguage": "en_EN",
                      "parcelLabelNumber": "05308801410058"}
    # escaping: a hostile value stays text
    odd = ET.fromstring(tracking_envelope("KD<1>", "a&b", "en_EN", "1<2"))
    assert {local(e.tag): e.text for e in odd.iter() if len(e) == 0}["parcelLabelNumber"] == "1<2"


async def test_wrong_password_is_an_auth_error_without_tracking_calls(carrier_api: FakeCarrierApi) -> None:
    client = _client(carrier_api, password="wrong")
    with pytest.raises(AuthError, match="DELICOM_ERR_AUTHENTICATION"):
        await _fetch(client, "05308801410058")
    assert fake.state(carrier_api).logins == 1  # not retried: retrying a wrong password is pointless
    assert carrier_api.requests("dpd_nl") == []


async def test_a_refused_token_is_renewed_and_the_call_repeated(carrier_api: FakeCarrierApi) -> None:
    number = "05308801410058"
    carrier_api.set("dpd_nl", number, fake.tracking_response(STEPS, reached=2))
    client = _client(carrier_api)
    try:
        await client.fetch([target(number)])
        fake.state(carrier_api).revoke()  # e.g. a login elsewhere with the same DELIS id
        [fetched] = await client.fetch([target(number)])
    finally:
        await client.http.close()
    assert _statuses(carrier_api) == [200, 500, 200]
    assert client.logins == 2
    assert classify("dpd_nl", fetched, {}, NOW)[1][number].status == "in_transit"


async def test_a_token_refused_again_after_a_fresh_login_is_an_auth_error(carrier_api: FakeCarrierApi) -> None:
    number = "05308801410058"
    carrier_api.set("dpd_nl", number, fake.tracking_response(STEPS))
    client = _client(carrier_api)
    st = fake.state(carrier_api)
    try:
        await client.fetch([target(number)])
        st.token_ttl = -1.0  # every new token is already expired on DPD's side
        st.revoke()
        with pytest.raises(AuthError, match="fresh token"):
            await client.fetch([target(number)])
    finally:
        await client.http.close()
    assert _statuses(carrier_api) == [200, 500, 500]
    assert st.logins == 2


async def test_the_token_is_renewed_before_it_expires(carrier_api: FakeCarrierApi) -> None:
    fake.state(carrier_api).token_ttl = 2  # shorter than the 30-minute leeway: renewed at half its life
    number = "05308801410058"
    carrier_api.set("dpd_nl", number, fake.tracking_response(STEPS))
    client = _client(carrier_api)
    await _fetch(client, number, number)
    assert client.logins == 1  # a short-lived token is still reused while young (no login per call)
    await asyncio.sleep(1.2)  # past half its life
    await _fetch(client, number)
    assert client.logins == 2
    assert set(_statuses(carrier_api)) == {200}  # never sent an expired token


def test_token_expiry_reads_dpds_local_time() -> None:
    now = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)  # 12:00 in Amsterdam (CEST)
    assert token_expiry("2026-07-01T13:00:00.000", now) == pytest.approx(3600)
    assert token_expiry("2026-07-01T11:00:00+00:00", now) == pytest.approx(3600)
    assert token_expiry("", now) == 24 * 3600
    assert token_expiry("2026-06-30T00:00:00", now) == 0.0


async def test_parcel_not_found_fault_is_returned_and_classified_not_found(carrier_api: FakeCarrierApi) -> None:
    client = _client(carrier_api)
    [fetched] = await _fetch(client, "09999999999999")
    assert fetched.headers["http-status"] == "500"
    assert fetched.payload == fake.NOT_FOUND_FAULT
    assert _statuses(carrier_api) == [500]  # a not-found fault is an answer, not retried
    publish, outcomes = classify("dpd_nl", fetched, {}, NOW)
    assert not publish and outcomes["09999999999999"].result == "not_found"


async def test_a_parcel_without_reached_status_is_not_found(carrier_api: FakeCarrierApi) -> None:
    number = "05308801410058"
    carrier_api.set("dpd_nl", number, fake.tracking_response(STEPS, reached=0))
    [fetched] = await _fetch(_client(carrier_api), number)
    publish, outcomes = classify("dpd_nl", fetched, {}, NOW)
    assert not publish and outcomes[number].result == "not_found"


async def test_a_server_fault_is_retried_then_answered(carrier_api: FakeCarrierApi) -> None:
    number = "05308801410058"
    carrier_api.set("dpd_nl", number, fake.tracking_response(STEPS))
    carrier_api.script("dpd_nl", Scripted(500, {"Content-Type": "text/xml"}, fake.SERVER_FAULT),
                       Scripted(503))
    [fetched] = await _fetch(_client(carrier_api), number)
    assert _statuses(carrier_api) == [500, 503, 200]
    assert classify("dpd_nl", fetched, {}, NOW)[1][number].status == "delivered"


async def test_server_faults_every_time_are_a_transient_error(carrier_api: FakeCarrierApi) -> None:
    carrier_api.script("dpd_nl", *[Scripted(500, {"Content-Type": "text/xml"}, fake.SERVER_FAULT)
                                   for _ in range(FAST_RETRY.attempts)])
    with pytest.raises(TransientError, match="DELICOM_ERR_SYSTEM"):
        await _fetch(_client(carrier_api), "05308801410058")
    assert _statuses(carrier_api) == [500] * FAST_RETRY.attempts


async def test_a_500_that_is_not_soap_is_transient(carrier_api: FakeCarrierApi) -> None:
    carrier_api.script("dpd_nl", *[Scripted(500, {"Content-Type": "text/html"}, b"<html>Bad gateway</html>")
                                   for _ in range(FAST_RETRY.attempts)])
    with pytest.raises(TransientError, match="without a SOAP fault"):
        await _fetch(_client(carrier_api), "05308801410058")


async def test_429_is_waited_out(carrier_api: FakeCarrierApi) -> None:
    number = "05308801410058"
    carrier_api.set("dpd_nl", number, fake.tracking_response(STEPS))
    carrier_api.script("dpd_nl", Scripted(429, {"Retry-After": "0.5"}))
    await _fetch(_client(carrier_api), number)
    log = carrier_api.requests("dpd_nl")
    assert [r.status for r in log] == [429, 200]
    assert log[1].at - log[0].at >= 0.45


def test_read_fault_tells_the_kinds_apart() -> None:
    sample = (samples_dir() / "dpd_nl" / "parcellifecycle-fault-response.xml").read_bytes()
    kinds = {name: read_fault(body) for name, body in (
        ("sample", sample), ("auth", fake.AUTH_FAULT), ("not_found", fake.NOT_FOUND_FAULT),
        ("server", fake.SERVER_FAULT))}
    assert {name: f.kind if f else None for name, f in kinds.items()} == {
        "sample": "auth", "auth": "auth", "not_found": "not_found", "server": "server"}
    assert read_fault(fake.tracking_response(STEPS)) is None
    assert read_fault(b"<html>oops") is None



async def test_logins_do_not_spend_the_tracking_budget(carrier_api: FakeCarrierApi) -> None:
    number = "05308801410058"
    carrier_api.set("dpd_nl", number, fake.tracking_response(STEPS))
    client = make_client(DPDNLClient, carrier_api.base_url, {"delis_id": "KD1234", "password": "dpd-password"},
                         rate=RateLimit(1, 60))  # one token now, the next in a minute
    started = time.monotonic()
    await _fetch(client, number)
    assert time.monotonic() - started < 5  # the login did not take the only token
    assert client.logins == 1 and _statuses(carrier_api) == [200]
