"""The Sendcloud client (v3 and v2 tracking) against a local Sendcloud: Basic auth with the key
pair, the number in the header for v2 (which does not echo it), 404 not found, 429 backoff."""

from __future__ import annotations

from dataclasses import replace

import orjson
import pytest

from pollers.accounts import Account, AccountsError, RateLimit
from pollers.clients.base import TRACKING_NUMBER_HEADER, Fetched
from pollers.clients.sendcloud import SendcloudClient
from pollers.http import AuthError
from pollers.service import classify
from tests.fakes.carrier_api import FakeCarrierApi, Scripted
from tests.fakes.carriers import sendcloud as fake
from tests.pollers.client_support import NOW, make_client, target


def _client(api: FakeCarrierApi, *, secret: str = "sc-secret", version: str | None = None) -> SendcloudClient:
    creds = {"public_key": "sc-public", "secret_key": secret}
    if version is not None:
        creds["api_version"] = version
    return make_client(SendcloudClient, api.base_url, creds)


async def _fetch(client: SendcloudClient, *numbers: str) -> list[Fetched]:
    try:
        return await client.fetch([target(n) for n in numbers])
    finally:
        await client.http.close()


async def test_v3_tracking_with_basic_auth(carrier_api: FakeCarrierApi) -> None:
    body = fake.v3_tracking("3SYZXG132912330", [("accepted", "Parcel has been accepted by the carrier.",
                                                  "2026-11-20T18:00:00Z"),
                                                 ("delivered", "Delivered", "2026-11-21T10:12:00Z")])
    carrier_api.set("sendcloud", "3SYZXG132912330", body)
    [fetched] = await _fetch(_client(carrier_api), "3SYZXG132912330")
    assert [r.path for r in carrier_api.requests("sendcloud")] == ["/api/v3/parcels/tracking/3SYZXG132912330"]
    assert fetched.payload == body
    publish, outcomes = classify("sendcloud", fetched, {}, NOW)
    assert publish and outcomes["3SYZXG132912330"].status == "delivered"


async def test_v2_tracking_needs_and_gets_the_number_header(carrier_api: FakeCarrierApi) -> None:
    body = fake.v2_tracking("629", [("shipment-on-route", "", "2026-11-21 08:43:13.615997+00:00"),
                                    ("ready-to-send", "Ready to send", "2026-11-20 14:42:06.318296+00:00")])
    assert b"3SYZXG132912330" not in body  # v2 does not echo the number
    carrier_api.set("sendcloud_v2", "3SYZXG132912330", body)
    [fetched] = await _fetch(_client(carrier_api, version="2"), "3SYZXG132912330")
    assert [r.path for r in carrier_api.requests("sendcloud")] == ["/api/v2/tracking/3SYZXG132912330"]
    assert fetched.headers[TRACKING_NUMBER_HEADER] == "3SYZXG132912330"
    publish, outcomes = classify("sendcloud", fetched, {}, NOW)
    assert publish and outcomes["3SYZXG132912330"].status == "in_transit"
    # without the header the adapter cannot tell whose statuses these are
    headless = replace(fetched, headers={"http-status": "200"})
    assert classify("sendcloud", headless, {}, NOW)[1]["3SYZXG132912330"].result == "error"


@pytest.mark.parametrize("version", ["3", "2"])
async def test_unknown_number_is_a_404_classified_not_found(carrier_api: FakeCarrierApi, version: str) -> None:
    [fetched] = await _fetch(_client(carrier_api, version=version), "UNKNOWN1")
    assert fetched.headers["http-status"] == "404"
    assert "error" in orjson.loads(fetched.payload) or "detail" in orjson.loads(fetched.payload)
    publish, outcomes = classify("sendcloud", fetched, {}, NOW)
    assert not publish and outcomes["UNKNOWN1"].result == "not_found"


@pytest.mark.parametrize("version", ["3", "2"])
async def test_wrong_secret_is_an_auth_error(carrier_api: FakeCarrierApi, version: str) -> None:
    with pytest.raises(AuthError, match="401"):
        await _fetch(_client(carrier_api, secret="nope", version=version), "3SYZXG132912330")
    assert len(carrier_api.requests("sendcloud")) == 1


async def test_429_is_waited_out(carrier_api: FakeCarrierApi) -> None:
    carrier_api.set("sendcloud", "N1", fake.v3_tracking("N1", [("accepted", "Accepted", "2026-11-20T18:00:00Z")]))
    carrier_api.script("sendcloud", Scripted(429, {"Retry-After": "0.5"}, b'{"detail":"Request was throttled."}'))
    await _fetch(_client(carrier_api), "N1")
    log = carrier_api.requests("sendcloud")
    assert [r.status for r in log] == [429, 200]
    assert log[1].at - log[0].at >= 0.45


def test_account_checks() -> None:
    keys = {"public_key": "p", "secret_key": "s"}
    assert SendcloudClient.rate_limit(Account("s", "sendcloud", keys)) == RateLimit(1000, 60)
    SendcloudClient.check(Account("s", "sendcloud", {**keys, "api_version": "v2"}))
    with pytest.raises(AccountsError, match="api_version"):
        SendcloudClient.check(Account("s", "sendcloud", {**keys, "api_version": "4"}))
    with pytest.raises(AccountsError, match="secret_key"):
        SendcloudClient.check(Account("s", "sendcloud", {"public_key": "p"}))
