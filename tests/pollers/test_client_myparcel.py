"""The MyParcel client against a local MyParcel API: barcodes resolved to shipment ids once
(``GET /shipments?barcode=``), several ids per ``/tracktraces`` call, unknown barcodes left out and
looked up again later, deleted shipments forgotten, the shared rate limit measured."""

from __future__ import annotations

import time

import pytest

from pollers.accounts import Account, RateLimit
from pollers.clients.base import TRACKING_NUMBER_HEADER
from pollers.clients.myparcel import MyParcelClient, shipment_id_for
from pollers.http import AuthError, RateLimited
from pollers.service import classify
from tests.fakes.carrier_api import FakeCarrierApi, Scripted
from tests.fakes.carriers import myparcel as fake
from tests.pollers.client_support import FAST_RETRY, NOW, judge, make_client, target

SORTED = [("A01", 2, "De zending is aangemeld bij PostNL", "2026-11-20 09:00:00"),
          ("B01", 3, "Zending is ontvangen door PostNL", "2026-11-20 17:09:55"),
          ("J01", 4, "Zending gesorteerd in sorteercentrum", "2026-11-21 06:13:29")]
OUT = [*SORTED, ("J05", 5, "Bezorger is onderweg", "2026-11-21 08:35:51")]


def _client(api: FakeCarrierApi, *, key: str = "mp-api-key", rate: RateLimit | None = None) -> MyParcelClient:
    return make_client(MyParcelClient, api.base_url, {"api_key": key}, rate=rate)




def _known(api: FakeCarrierApi, shipment_id: int, barcode: str, history: list[tuple[str, int, str, str]]) -> None:
    fake.state(api).add(shipment_id, barcode)
    api.set("myparcel", barcode, fake.tracktrace(shipment_id, barcode, history))


async def test_barcodes_are_resolved_once_and_tracked_together(carrier_api: FakeCarrierApi) -> None:
    _known(carrier_api, 43393092, "3SMYPA126329191", OUT)
    _known(carrier_api, 43393093, "3SMYPA126329192", SORTED)
    _known(carrier_api, 43393094, "3SMYPA126329193", OUT[:2])
    barcodes = ("3SMYPA126329191", "3SMYPA126329192", "3SMYPA126329193")
    client = _client(carrier_api)
    try:
        [first] = await client.fetch([target(b) for b in barcodes])
        [second] = await client.fetch([target(b) for b in barcodes])
    finally:
        await client.http.close()
    st = fake.state(carrier_api)
    assert st.lookups == list(barcodes)  # one lookup per barcode, then remembered
    assert client.lookups == 3
    assert st.tracktrace_ids == [[43393092, 43393093, 43393094]] * 2
    assert [r.path for r in carrier_api.requests("myparcel")][-1] == "/tracktraces/43393092;43393093;43393094"
    assert first.numbers == barcodes and second.payload == first.payload
    assert first.headers[TRACKING_NUMBER_HEADER] == ",".join(barcodes)
    assert first.headers["X-Trackstream-Shipment-Barcodes"] == (
        "43393092=3SMYPA126329191,43393093=3SMYPA126329192,43393094=3SMYPA126329193")
    publish, outcomes = classify("myparcel", first, {}, NOW)
    assert publish
    assert {b: o.status for b, o in outcomes.items()} == {
        "3SMYPA126329191": "out_for_delivery", "3SMYPA126329192": "in_transit", "3SMYPA126329193": "in_transit"}


async def test_an_unknown_barcode_is_left_out_and_looked_up_again_later(carrier_api: FakeCarrierApi) -> None:
    _known(carrier_api, 43393092, "3SMYPA126329191", OUT)
    client = _client(carrier_api)
    try:
        [fetched] = await client.fetch([target("3SMYPA126329191"), target("3SMYPALATER")])
        assert fetched.numbers == ("3SMYPA126329191",)  # the service records the other as not found
        assert await client.fetch([target("3SMYPALATER")]) == []  # nothing known: no tracktraces call
        _known(carrier_api, 43393099, "3SMYPALATER", SORTED[:1])  # the label is made later
        [later] = await client.fetch([target("3SMYPALATER")])
    finally:
        await client.http.close()
    st = fake.state(carrier_api)
    assert st.lookups == ["3SMYPA126329191", "3SMYPALATER", "3SMYPALATER", "3SMYPALATER"]
    assert st.tracktrace_ids == [[43393092], [43393099]]
    assert classify("myparcel", later, {}, NOW)[1]["3SMYPALATER"].status == "pre_transit"


def test_the_lookup_matches_the_barcode_exactly() -> None:
    """A search answer may hold other shipments (e.g. the docs' free-text search): only an exact
    barcode counts, case-insensitively, and the newest shipment wins."""
    body = (b'{"data":{"search_results":{"shipments":[{"id":1,"barcode":"3SMYPA1X"},'
            b'{"id":7,"barcode":"3smypa1"},{"id":5,"barcode":"3SMYPA1"},{"id":"9","barcode":"3SMYPA1"}],'
            b'"page":1,"size":30,"results":4}}}')
    assert shipment_id_for(body, "3SMYPA1") == 7
    assert shipment_id_for(body, "3SMYPA2") is None
    assert shipment_id_for(b"not json", "3SMYPA1") is None


async def test_a_deleted_shipment_is_forgotten_and_not_found(carrier_api: FakeCarrierApi) -> None:
    _known(carrier_api, 43393092, "3SMYPA126329191", OUT)
    client = _client(carrier_api)
    try:
        await client.fetch([target("3SMYPA126329191")])
        fake.state(carrier_api).shipments.clear()  # deleted at MyParcel
        [gone] = await client.fetch([target("3SMYPA126329191")])
        assert gone.headers["http-status"] == "404"
        assert client.shipment_ids == {}
        assert await client.fetch([target("3SMYPA126329191")]) == []
    finally:
        await client.http.close()
    publish, outcomes = classify("myparcel", gone, {}, NOW)
    assert not publish and outcomes["3SMYPA126329191"].result == "not_found"
    assert fake.state(carrier_api).lookups == ["3SMYPA126329191", "3SMYPA126329191"]


async def test_wrong_api_key_is_an_auth_error(carrier_api: FakeCarrierApi) -> None:
    client = _client(carrier_api, key="wrong")
    try:
        with pytest.raises(AuthError, match="401"):
            await client.fetch([target("3SMYPA126329191")])
    finally:
        await client.http.close()
    assert [r.status for r in carrier_api.requests("myparcel")] == [401]


async def test_429_on_tracktraces_is_waited_out_and_persistent_429_is_rate_limited(
        carrier_api: FakeCarrierApi) -> None:
    _known(carrier_api, 43393092, "3SMYPA126329191", OUT)
    client = _client(carrier_api)
    try:
        await client.resolve("3SMYPA126329191")
        carrier_api.script("myparcel", Scripted(429, {"Retry-After": "0.4"}))
        [fetched] = await client.fetch([target("3SMYPA126329191")])
        assert classify("myparcel", fetched, {}, NOW)[1]["3SMYPA126329191"].status == "out_for_delivery"
        carrier_api.script("myparcel", *[Scripted(429, {"Retry-After": "0.1"}) for _ in range(FAST_RETRY.attempts)])
        with pytest.raises(RateLimited):
            await client.fetch([target("3SMYPA126329191")])
    finally:
        await client.http.close()
    assert [r.status for r in carrier_api.requests("myparcel")][1:3] == [429, 200]


async def test_lookups_and_tracktraces_share_the_rate_limit_measured(carrier_api: FakeCarrierApi) -> None:
    for i in range(6):
        _known(carrier_api, 1000 + i, f"3SMYPARATE{i}", SORTED)
    client = _client(carrier_api, rate=RateLimit(4, 1))
    started = time.monotonic()
    try:
        for i in range(6):
            await client.fetch([target(f"3SMYPARATE{i}")])  # a lookup and a tracktraces call each
    finally:
        await client.http.close()
    elapsed = time.monotonic() - started
    stamps = [r.at for r in carrier_api.requests("myparcel")]
    assert len(stamps) == 12
    assert elapsed >= 11 / 4 - 0.05
    busiest = max(sum(1 for s in stamps if t <= s < t + 1.0) for t in stamps)
    assert busiest <= 4 + 1
    print(f"\nMyParcel at 4 req/s: 12 requests in {elapsed:.2f}s, busiest second {busiest}")


def test_defaults() -> None:
    account = Account("mp", "myparcel", {"api_key": "k"})
    assert MyParcelClient.rate_limit(account) == RateLimit(100, 300)
    assert MyParcelClient.batch_size(account) == 30


async def test_a_batch_refused_for_one_deleted_id_is_asked_in_halves(carrier_api: FakeCarrierApi) -> None:
    """Should MyParcel answer a whole call with 404 for one id it no longer has, the others still
    get their answers and only the deleted one is forgotten."""
    barcodes = [f"3SMYPABISECT{i}" for i in range(4)]
    for i, barcode in enumerate(barcodes):
        _known(carrier_api, 2000 + i, barcode, OUT)
    st = fake.state(carrier_api)
    st.strict_ids = True
    client = _client(carrier_api)
    try:
        for barcode in barcodes:
            await client.resolve(barcode)
        del st.shipments[2002]  # deleted at MyParcel
        responses = await client.fetch([target(b) for b in barcodes])
    finally:
        await client.http.close()
    assert st.tracktrace_ids == [[2000, 2001, 2002, 2003], [2000, 2001], [2002, 2003], [2002], [2003]]
    published, outcomes = judge("myparcel", responses)
    assert published == [True, False, True]  # the first half, the deleted one (not found), the last
    assert {b: o.result for b, o in outcomes.items()} == {
        barcodes[0]: "changed", barcodes[1]: "changed", barcodes[2]: "not_found", barcodes[3]: "changed"}
    assert set(client.shipment_ids) == {barcodes[0], barcodes[1], barcodes[3]}
