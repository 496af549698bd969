"""The push carriers added to the webhook ingress, on the real system: DPD (GET + URL token +
allow-list, XML acknowledgement), FedEx AIV (``fdx-signature``), DHL Parcel NL (``X-API-Key``).

The shared API runs with ``TRACKSTREAM_DPD_PUSH_ALLOW`` / ``TRACKSTREAM_FEDEX_WEBHOOK_ALLOW`` set to
loopback and loopback as the only trusted proxy (``stack_env``): a request whose
``X-Forwarded-For`` names another address comes, for the allow-list, from that address.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson
import pytest
from yarl import URL

from tests.conftest import System, samples_dir
from tests.integration.test_bad_input import expect_error
from tests.integration.test_pipeline import shipment
from tests.support import eventually, raw_payloads

DPD_TOKEN = "test-dpd-push-token"
OUTSIDE = {"X-Forwarded-For": "203.0.113.9"}  # documentation range: no traffic goes there


def digits(n: int) -> str:
    return "".join(random.choice("0123456789") for _ in range(n))


async def timeline(http: aiohttp.ClientSession, carrier: str, number: str, count: int) -> dict[str, Any]:
    async def ready() -> dict[str, Any] | None:
        found = await shipment(http, carrier, number)
        return found if found and len(found["events"]) >= count else None

    result: dict[str, Any] = await eventually(ready, what=f"{count} events of {carrier}:{number}")
    return result


async def raw_messages(system: System, carrier: str, needle: bytes, timeout: float = 30.0) -> list[bytes]:
    """Every payload on ``carrier.<carrier>.raw`` that contains ``needle``, read from the broker."""
    return [item.payload for item in await raw_payloads(system.settings, carrier, needle, timeout)]


# --- DPD: GET with the query, secret in the path ----------------------------------------------------


def dpd_query(pnr: str, status: str, statusdate: str, pushid: str, **extra: str) -> str:
    fields = {"statusdate": statusdate, "receiver": "", "ref": "", "pnr": pnr, "status": status, "pod": "0",
              "weight": "0", "pushid": pushid, "depot": "0998", "scaninfo": "", "services": "", **extra}
    return urlencode(fields)


async def dpd_push(system: System, http: aiohttp.ClientSession, query: str, token: str = DPD_TOKEN,
                   headers: dict[str, str] | None = None) -> aiohttp.ClientResponse:
    path = f"/v1/webhooks/dpd_nl/{token}" if token else "/v1/webhooks/dpd_nl"
    # encoded=True: the query goes out byte for byte, as DPD sends it
    return await http.get(URL(f"{system.base_url}{path}?{query}", encoded=True), headers=headers or {})


async def test_dpd_push_is_acknowledged_stored_raw_and_normalized(http: aiohttp.ClientSession,
                                                                   system: System) -> None:
    pnr = "0190" + digits(10)
    query = dpd_query(pnr, "delivery_carload", "05012022100200", "92056930",
                      scaninfo="Zustellung heute, 09:00–12:00 Uhr")  # non-ASCII, percent-encoded
    async with await dpd_push(system, http, query) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.headers["Content-Type"] == "text/xml"
        assert await resp.read() == b"<push><pushid>92056930</pushid><status>OK</status></push>"
    assert await raw_messages(system, "dpd_nl", pnr.encode()) == [query.encode()]  # exactly as received

    result = await timeline(http, "dpd_nl", pnr, 1)
    [event] = result["events"]
    assert (result["status"], event["code"], event["source"]) == ("out_for_delivery", "delivery_carload", "webhook")
    assert (event["occurred_at"], event["local_time"]) == ("2022-01-05T09:02:00Z", "05012022100200")
    assert event["description"] == "Zustellung heute, 09:00–12:00 Uhr"


async def test_dpd_sample_query_and_duplicate_push_is_stored_once(http: aiohttp.ClientSession,
                                                                   system: System) -> None:
    sample = (samples_dir() / "dpd_nl" / "tracking-push-service-request-query.txt").read_text().strip()
    pnr = "0190" + digits(10)
    query = sample.replace("01906000683796", pnr)
    ack = (samples_dir() / "dpd_nl" / "tracking-push-service-ack-response.xml").read_bytes().strip()
    for _ in range(2):  # DPD redelivers when it misses the acknowledgement
        async with await dpd_push(system, http, query) as resp:
            assert resp.status == 200 and await resp.read() == ack
    later = dpd_query(pnr, "delivery_customer", "06012022143000", "92056999")
    async with await dpd_push(system, http, later) as resp:
        assert resp.status == 200
        assert await resp.read() == b"<push><pushid>92056999</pushid><status>OK</status></push>"

    async def delivered() -> dict[str, Any] | None:
        found = await shipment(http, "dpd_nl", pnr)
        return found if found and found["status"] == "delivered" else None

    result = await eventually(delivered, what="the DPD delivery")
    assert [e["code"] for e in result["events"]] == ["start_order", "delivery_customer"]
    assert result["event_count"] == 2
    with system.db() as conn:
        row = conn.execute("SELECT count(*) FROM tracking_events WHERE carrier = 'dpd_nl' AND tracking_number = %s",
                           (pnr,)).fetchone()
    assert row == (2,)
    assert len(await raw_messages(system, "dpd_nl", pnr.encode())) == 3  # all three were stored


@pytest.mark.parametrize(
    ("token", "headers", "status", "error"),
    [
        ("wrong-token", {}, 401, "invalid_token"),
        (DPD_TOKEN[:-1], {}, 401, "invalid_token"),
        ("", {}, 401, "invalid_token"),  # no token segment at all
        (DPD_TOKEN, OUTSIDE, 403, "source_not_allowed"),  # right token, source outside the allow-list
        ("wrong-token", OUTSIDE, 403, "source_not_allowed"),
    ],
)
async def test_dpd_push_refused(http: aiohttp.ClientSession, system: System, token: str,
                                headers: dict[str, str], status: int, error: str) -> None:
    pnr = "0190" + digits(10)
    query = dpd_query(pnr, "start_order", "05012022100200", "1")
    async with await dpd_push(system, http, query, token, headers) as resp:
        body = await expect_error(resp, status, error)
    assert DPD_TOKEN not in body["message"]
    assert await raw_messages(system, "dpd_nl", pnr.encode()) == []


async def test_dpd_bad_query_and_wrong_methods(http: aiohttp.ClientSession, system: System) -> None:
    async with http.get(f"/v1/webhooks/dpd_nl/{DPD_TOKEN}") as resp:
        await expect_error(resp, 400, "malformed_query")
    async with await dpd_push(system, http, "pnr=1&status") as resp:
        await expect_error(resp, 400, "malformed_query")
    async with http.post("/v1/webhooks/dpd_nl?pnr=1&pushid=1", data=b"{}") as resp:
        await expect_error(resp, 405, "method_not_allowed")
    async with http.get("/v1/webhooks/sendcloud/anything?a=1") as resp:
        await expect_error(resp, 405, "method_not_allowed")
    async with http.get("/v1/webhooks/nosuchcarrier/x?a=1") as resp:
        await expect_error(resp, 404, "unknown_carrier")
    async with http.head(f"/v1/webhooks/dpd_nl/{DPD_TOKEN}?pnr=1&pushid=1") as resp:
        assert resp.status == 405  # a HEAD must never store a push


# --- FedEx Advanced Integrated Visibility ---------------------------------------------------------------


def aiv_payload(number: str, *scans: tuple[str, str, str]) -> bytes:
    """An AIV push in FedEx's published shape (TestWebhookOutputVO): the Track API output plus
    ``outputMetaData``."""
    return orjson.dumps({
        "transactionId": "624deea6-b709-470c-8c39-4b5511281492",
        "outputMetaData": [{"timeStamp": "2024-04-26T16:30:00Z", "attempt": 1}],
        "output": {"completeTrackResults": [{"trackingNumber": number, "trackResults": [{
            "trackingNumberInfo": {"trackingNumber": number, "trackingNumberUniqueId": f"2460426000~{number}~FX",
                                   "carrierCode": "FDXE"},
            "scanEvents": [
                {"date": date, "eventType": code, "eventDescription": text,
                 "scanLocation": {"city": "CLOVIS", "stateOrProvinceCode": "CA", "postalCode": "93612",
                                  "countryCode": "US"}}
                for code, date, text in scans
            ],
        }]}]},
    })


def fdx_signature(body: bytes, token: str) -> str:
    return base64.b64encode(hmac.new(token.encode(), body, hashlib.sha256).digest()).decode()


async def test_fedex_aiv_push_signed_accepted_and_deduplicated(http: aiohttp.ClientSession, system: System) -> None:
    token = system.env["TRACKSTREAM_FEDEX_WEBHOOK_TOKEN"]
    number = "7" + digits(11)
    first = aiv_payload(number, ("OD", "2024-04-26T08:01:00-07:00", "On FedEx vehicle for delivery"))
    second = aiv_payload(number, ("DL", "2024-04-26T09:26:00-07:00", "Delivered"),
                         ("OD", "2024-04-26T08:01:00-07:00", "On FedEx vehicle for delivery"))
    for body in (first, first, second):  # a redelivery, then a push repeating the earlier scan
        headers = {"fdx-signature": fdx_signature(body, token), "Content-Type": "application/json"}
        async with http.post("/v1/webhooks/fedex", data=body, headers=headers) as resp:
            assert resp.status == 200, await resp.text()
            assert resp.content_type == "application/json"
            assert await resp.json() == {"status": "accepted"}

    async def delivered() -> dict[str, Any] | None:
        found = await shipment(http, "fedex", number)
        return found if found and found["status"] == "delivered" else None

    result = await eventually(delivered, what="the FedEx delivery")
    assert [(e["code"], e["status"], e["source"]) for e in result["events"]] == [
        ("OD", "out_for_delivery", "webhook"), ("DL", "delivered", "webhook")]
    assert result["events"][1]["occurred_at"] == "2024-04-26T16:26:00Z"
    assert result["event_count"] == 2


@pytest.mark.parametrize(
    ("signature", "headers", "status", "error"),
    [
        (None, {}, 401, "invalid_signature"),
        ("", {}, 401, "invalid_signature"),
        ("wrong-key", {}, 401, "invalid_signature"),
        ("right", OUTSIDE, 403, "source_not_allowed"),
    ],
)
async def test_fedex_push_refused(http: aiohttp.ClientSession, system: System, signature: str | None,
                                  headers: dict[str, str], status: int, error: str) -> None:
    number = "7" + digits(11)
    body = aiv_payload(number, ("PU", "2024-04-24T18:03:00-07:00", "Picked up"))
    sent = dict(headers)
    if signature == "right":
        sent["fdx-signature"] = fdx_signature(body, system.env["TRACKSTREAM_FEDEX_WEBHOOK_TOKEN"])
    elif signature == "wrong-key":
        sent["fdx-signature"] = fdx_signature(body, "not-the-token")
    elif signature is not None:
        sent["fdx-signature"] = signature
    async with http.post("/v1/webhooks/fedex", data=body, headers=sent) as resp:
        await expect_error(resp, status, error)
    assert await raw_messages(system, "fedex", number.encode()) == []


# --- DHL Parcel NL Track & Trace Pusher -------------------------------------------------------------


def dhl_parcel(barcode: str, *events: tuple[str, str, str]) -> dict[str, Any]:
    return {"barcode": barcode, "barcodes": [barcode], "events": [
        {"category": category, "status": status, "timestamp": at} for category, status, at in events]}


async def test_dhl_parcel_nl_push_accepted_and_deduplicated(http: aiohttp.ClientSession, system: System) -> None:
    key = {"X-API-Key": system.env["TRACKSTREAM_DHL_PARCEL_NL_WEBHOOK_TOKEN"]}
    barcode = "JVGL0" + digits(19)
    sorted_at = ("UNDERWAY", "PARCEL_SORTED_AT_HUB", "2024-01-15T21:40:00Z")
    delivered_at = ("DELIVERED", "DELIVERED_AT_PARCELSTATION", "2024-01-16T13:05:00Z")
    pushes = [dhl_parcel(barcode, sorted_at), [dhl_parcel(barcode, sorted_at)],  # object, then a list
              dhl_parcel(barcode, delivered_at, sorted_at)]
    for payload in pushes:
        async with http.post("/v1/webhooks/dhl_parcel_nl", json=payload, headers=key) as resp:
            assert resp.status == 200, await resp.text()
            assert await resp.json() == {"status": "accepted"}

    async def at_station() -> dict[str, Any] | None:
        found = await shipment(http, "dhl_parcel_nl", barcode)
        return found if found and found["status"] == "available_for_pickup" else None

    result = await eventually(at_station, what="the DHL Parcel NL parcel at the parcel station")
    assert [(e["code"], e["source"]) for e in result["events"]] == [
        ("PARCEL_SORTED_AT_HUB", "webhook"), ("DELIVERED_AT_PARCELSTATION", "webhook")]
    assert result["event_count"] == 2


@pytest.mark.parametrize(
    ("headers", "status", "error"),
    [
        ({}, 401, "invalid_token"),
        ({"X-API-Key": "wrong"}, 401, "invalid_token"),
        ({"Authorization": "Bearer test-dhl-parcel-nl-key"}, 401, "invalid_token"),
    ],
)
async def test_dhl_parcel_nl_push_refused(http: aiohttp.ClientSession, system: System, headers: dict[str, str],
                                          status: int, error: str) -> None:
    barcode = "JVGL0" + digits(19)
    payload = dhl_parcel(barcode, ("UNDERWAY", "PARCEL_SORTED_AT_HUB", "2024-01-15T21:40:00Z"))
    async with http.post("/v1/webhooks/dhl_parcel_nl", json=payload, headers=headers) as resp:
        await expect_error(resp, status, error)
    assert await raw_messages(system, "dhl_parcel_nl", barcode.encode()) == []
