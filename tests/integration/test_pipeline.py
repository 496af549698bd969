"""End to end on the real parts: HTTP ingress → Kafka → Faust worker → PostgreSQL → query API."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from typing import Any

import aiohttp
import orjson

from tests.conftest import System, samples_dir
from tests.support import eventually


def tn(prefix: str = "T") -> str:
    return f"{prefix}{uuid.uuid4().hex[:12].upper()}"


def native(carrier: str, tracking: str, status: str, at: str, code: str, **extra: Any) -> dict[str, Any]:
    return {"carrier": carrier, "tracking_number": tracking, "status": status, "occurred_at": at,
            "code": code, **extra}


async def post_events(http: aiohttp.ClientSession, events: list[dict[str, Any]]) -> None:
    async with http.post("/v1/events", json=events) as resp:
        assert resp.status == 202, await resp.text()


async def shipment(http: aiohttp.ClientSession, carrier: str, tracking: str) -> dict[str, Any] | None:
    async with http.get(f"/v1/shipments/{carrier}/{tracking}") as resp:
        if resp.status == 404:
            body = await resp.json()
            assert body["error"] == "shipment_not_found"
            return None
        assert resp.status == 200, await resp.text()
        result: dict[str, Any] = await resp.json()
        return result


async def test_duplicate_event_is_stored_once(system: System, http: aiohttp.ClientSession) -> None:
    number = tn()
    event = native("fleet", number, "in_transit", "2026-11-20T10:00:00+01:00", "SCAN")
    await post_events(http, [event])
    await post_events(http, [event])
    marker = native("fleet", number, "out_for_delivery", "2026-11-20T12:00:00+01:00", "OFD")
    await post_events(http, [marker])

    async def done() -> dict[str, Any] | None:
        s = await shipment(http, "fleet", number)
        return s if s and s["status"] == "out_for_delivery" else None

    body = await eventually(done, what="the marker event")
    assert [e["code"] for e in body["events"]] == ["SCAN", "OFD"]
    assert body["event_count"] == 2
    with system.db() as conn:
        rows = conn.execute("SELECT count(*) FROM tracking_events WHERE tracking_number = %s",
                            (number,)).fetchone()
    assert rows == (2,)


async def test_late_older_event_enters_timeline_and_leaves_status(http: aiohttp.ClientSession) -> None:
    number = tn()
    await post_events(http, [native("fleet", number, "delivered", "2026-11-21T15:00:00+01:00", "DLV")])

    async def delivered() -> dict[str, Any] | None:
        s = await shipment(http, "fleet", number)
        return s if s and s["status"] == "delivered" else None

    await eventually(delivered, what="delivery")
    # a scan from the morning arrives after the delivery was recorded
    await post_events(http, [native("fleet", number, "in_transit", "2026-11-21T08:00:00+01:00", "SCAN")])

    async def two_events() -> dict[str, Any] | None:
        s = await shipment(http, "fleet", number)
        return s if s and len(s["events"]) == 2 else None

    body = await eventually(two_events, what="the late event")
    assert body["status"] == "delivered"
    assert body["code"] == "DLV"
    assert [e["code"] for e in body["events"]] == ["SCAN", "DLV"]
    assert [e["occurred_at"] for e in body["events"]] == ["2026-11-21T07:00:00Z", "2026-11-21T14:00:00Z"]
    assert body["delivered_at"] == "2026-11-21T14:00:00Z"


async def test_registration_after_first_events_merges(http: aiohttp.ClientSession) -> None:
    number = tn()
    await post_events(http, [native("fleet", number, "in_transit", "2026-11-20T09:30:00+01:00", "SCAN")])

    async def has_event() -> dict[str, Any] | None:
        return await shipment(http, "fleet", number)

    first = await eventually(has_event, what="the first event")
    assert first["order_number"] is None
    registration = {"carrier": "fleet", "tracking_number": number.lower(), "order_number": "ORD-77",
                    "customer": "acme", "destination_postcode": "3532VA", "destination_country": "nl",
                    "service_level": "next_day", "despatched_at": "2026-11-20T08:00:00+01:00",
                    "promised_delivery_date": "2026-11-21"}
    async with http.post("/v1/shipments", json=registration) as resp:
        assert resp.status == 202
        assert (await resp.json())["shipment_key"] == f"fleet:{number}"

    async def merged() -> dict[str, Any] | None:
        s = await shipment(http, "fleet", number)
        return s if s and s["order_number"] == "ORD-77" else None

    body = await eventually(merged, what="the registration")
    assert body["status"] == "in_transit"  # registration never touches the status
    assert body["destination_country"] == "NL"
    assert body["promised_delivery_date"] == "2026-11-21"
    assert body["despatched_at"] == "2026-11-20T07:00:00Z"
    assert len(body["events"]) == 1


async def test_registration_before_events_is_pending_then_moves(http: aiohttp.ClientSession) -> None:
    number = tn()
    async with http.post("/v1/shipments", json={"carrier": "fleet", "tracking_number": number,
                                                 "customer": "globex"}) as resp:
        assert resp.status == 202

    async def pending() -> dict[str, Any] | None:
        return await shipment(http, "fleet", number)

    body = await eventually(pending, what="the registered shipment")
    assert body["status"] == "pending" and body["events"] == []
    await post_events(http, [native("fleet", number, "out_for_delivery", "2026-11-21T08:00:00Z", "OFD")])

    async def moved() -> dict[str, Any] | None:
        s = await shipment(http, "fleet", number)
        return s if s and s["status"] == "out_for_delivery" else None

    body = await eventually(moved, what="the first event")
    assert body["customer"] == "globex"


async def test_sendcloud_signed_webhook_end_to_end(http: aiohttp.ClientSession, system: System) -> None:
    sample = orjson.loads((samples_dir() / "sendcloud" / "webhook-parcel_status_changed-raw-body.json").read_bytes())
    number = tn("SC")
    sample["parcel"]["tracking_number"] = number
    sample["parcel"]["status"] = {"id": 11, "message": "Delivered"}
    body = orjson.dumps(sample)
    secret = system.env["TRACKSTREAM_SENDCLOUD_SECRET"].encode()
    signature = hmac.new(secret, body, hashlib.sha256).hexdigest()
    async with http.post("/v1/webhooks/sendcloud", data=body,
                         headers={"Sendcloud-Signature": signature, "Content-Type": "application/json"}) as resp:
        assert resp.status == 202, await resp.text()

    async def stored() -> dict[str, Any] | None:
        return await shipment(http, "sendcloud", number)

    result = await eventually(stored, what="the sendcloud parcel")
    assert result["status"] == "delivered"
    assert result["events"][0]["occurred_at"] == "2018-05-02T14:38:05.993000Z"


async def test_postnl_response_timeline(http: aiohttp.ClientSession) -> None:
    body = (samples_dir() / "postnl" / "shippingstatus-v2-status-response-out-for-delivery.json").read_bytes()
    headers = {"Content-Type": "application/json", "Authorization": "Bearer test-postnl-token"}
    async with http.post("/v1/webhooks/postnl", data=body, headers=headers) as resp:
        assert resp.status == 202

    async def stored() -> dict[str, Any] | None:
        s = await shipment(http, "postnl", "3SDEVC288882229")
        return s if s and len(s["events"]) == 4 else None

    result = await eventually(stored, what="the PostNL shipment")
    assert result["status"] == "out_for_delivery"
    assert [e["code"] for e in result["events"]] == ["A01", "B01", "J01", "J05"]
    assert result["events"][-1]["occurred_at"] == "2022-11-08T09:13:20Z"


async def test_myparcel_and_ups_pushes_are_authenticated_and_stored(
    http: aiohttp.ClientSession, anonymous: aiohttp.ClientSession
) -> None:
    notification = "webhook-shipment_status_change-notification-doc-example.json"
    myparcel = (samples_dir() / "myparcel" / notification).read_bytes()
    ups = (samples_dir() / "ups" / "track-alert-webhook-delivered-cie.json").read_bytes()
    async with anonymous.post("/v1/webhooks/myparcel", data=myparcel,
                         headers={"X-MyParcel-Authorization": base64.b64encode(b"wrong").decode()}) as resp:
        assert resp.status == 401 and (await resp.json())["error"] == "invalid_token"
    async with anonymous.post("/v1/webhooks/ups", data=ups, headers={"credential": "nope"}) as resp:
        assert resp.status == 401 and (await resp.json())["error"] == "invalid_token"
    auth = base64.b64encode(b"test-myparcel-key").decode()
    async with anonymous.post("/v1/webhooks/myparcel", data=myparcel,
                              headers={"X-MyParcel-Authorization": auth}) as resp:
        assert resp.status == 202, await resp.text()
    async with anonymous.post("/v1/webhooks/ups", data=ups, headers={"credential": "test-ups-credential"}) as resp:
        assert resp.status == 200, await resp.text()  # UPS Track Alert: "return a 200 status"
        assert await resp.json() == {"status": "accepted"}
    ups_number = orjson.loads(ups)["trackingNumber"]

    async def stored() -> Any:
        a = await shipment(http, "myparcel", "3SMYPA749883621")
        b = await shipment(http, "ups", ups_number)
        return (a, b) if a and b else None

    mp, up = await eventually(stored, what="the MyParcel and UPS pushes")
    assert mp["status"] == "pre_transit"
    assert up["status"] == "delivered"


async def test_registration_without_carrier_detects_it_from_the_number(http: aiohttp.ClientSession) -> None:
    number = "1Z" + uuid.uuid4().hex[:16].upper()
    async with http.post("/v1/shipments", json={"tracking_number": number, "order_number": "O-UPS"}) as resp:
        assert resp.status == 202, await resp.text()
        assert (await resp.json())["shipment_key"] == f"ups:{number}"
    async with http.post("/v1/shipments", json={"tracking_number": "3SDEVC288882229"}) as resp:
        assert resp.status == 422 and (await resp.json())["error"] == "carrier_unknown"
    async with http.post("/v1/shipments", json={"carrier": "fleet", "tracking_number": number}) as resp:
        assert (await resp.json())["shipment_key"] == f"fleet:{number}"  # explicit carrier wins
