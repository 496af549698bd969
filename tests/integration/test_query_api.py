"""Search with filters and cursor pagination, health, readiness and metrics."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp

from tests.conftest import System
from tests.support import eventually


async def test_search_filters_and_cursor_pagination(http: aiohttp.ClientSession) -> None:
    customer = f"cust-{uuid.uuid4().hex[:8]}"
    numbers = [f"PG{uuid.uuid4().hex[:10].upper()}" for _ in range(7)]
    for i, number in enumerate(numbers):
        reg = {"carrier": "fleet", "tracking_number": number, "customer": customer,
               "destination_country": "BE" if i % 2 else "NL", "despatched_at": f"2026-11-{10 + i:02d}T10:00:00Z"}
        async with http.post("/v1/shipments", json=reg) as resp:
            assert resp.status == 202
    async with http.post("/v1/events", json=[
        {"carrier": "fleet", "tracking_number": numbers[0], "status": "delivered",
         "occurred_at": "2026-11-12T10:00:00Z"}]) as resp:
        assert resp.status == 202

    async def all_there() -> Any:
        async with http.get("/v1/shipments", params={"customer": customer, "limit": "500"}) as resp:
            body = await resp.json()
            items = body["items"]
            return body if len(items) == 7 and any(i["status"] == "delivered" for i in items) else None

    await eventually(all_there, what="seven shipments")
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"customer": customer, "limit": "3"}
        if cursor:
            params["cursor"] = cursor
        async with http.get("/v1/shipments", params=params) as resp:
            assert resp.status == 200
            body = await resp.json()
        pages += 1
        seen += [item["tracking_number"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert sorted(seen) == sorted(numbers) and len(seen) == len(set(seen))

    async with http.get("/v1/shipments", params={"customer": customer, "destination_country": "be"}) as resp:
        items = (await resp.json())["items"]
    assert sorted(i["tracking_number"] for i in items) == sorted(numbers[1::2])
    async with http.get("/v1/shipments", params={"customer": customer, "status": "delivered",
                                                 "carrier": "FLEET"}) as resp:
        assert [i["tracking_number"] for i in (await resp.json())["items"]] == [numbers[0]]
    async with http.get("/v1/shipments", params={"customer": customer, "status": "pending,delivered",
                                                 "despatched_from": "2026-11-13",
                                                 "despatched_to": "2026-11-15"}) as resp:
        assert sorted(i["tracking_number"] for i in (await resp.json())["items"]) == sorted(numbers[3:5])


async def test_search_rejects_bad_parameters(http: aiohttp.ClientSession) -> None:
    for params, error in (({"status": "lost_in_space"}, "invalid_parameter"), ({"limit": "0"}, "invalid_parameter"),
                          ({"limit": "x"}, "invalid_parameter"), ({"cursor": "!!"}, "invalid_cursor"),
                          ({"updated_since": "yesterday"}, "invalid_parameter"),
                          ({"updated_since": "0001-01-01T00:00:00+01:00"}, "invalid_parameter")):
        async with http.get("/v1/shipments", params=params) as resp:
            assert resp.status == 400
            assert (await resp.json())["error"] == error


async def test_unknown_shipment_is_404_json(http: aiohttp.ClientSession) -> None:
    async with http.get("/v1/shipments/fleet/DOESNOTEXIST") as resp:
        assert resp.status == 404
        assert (await resp.json())["error"] == "shipment_not_found"
    async with http.get("/v1/nothing-here") as resp:
        assert resp.status == 404
        assert (await resp.json())["error"] == "not_found"


async def test_health_ready_and_metrics(http: aiohttp.ClientSession, system: System) -> None:
    async with http.get("/healthz") as resp:
        assert resp.status == 200
    async with http.get("/readyz") as resp:
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["status"] == "ready"
    number = f"MX{uuid.uuid4().hex[:8].upper()}"
    async with http.post("/v1/events", json=[{"carrier": "fleet", "tracking_number": number,
                                               "status": "in_transit",
                                               "occurred_at": "2026-11-20T10:00:00+01:00"}]) as resp:
        assert resp.status == 202

    async def metrics() -> str | None:
        async with http.get("/metrics") as resp:
            text = await resp.text()
        wanted = ('trackstream_raw_messages_total{carrier="native"}', "trackstream_events_total{",
                  "trackstream_sink_batch_seconds_bucket", "trackstream_consumer_lag_messages{",
                  'trackstream_ingress_requests_total{endpoint="events",outcome="accepted"}')
        return text if all(w in text for w in wanted) else None

    text = await eventually(metrics, what="worker and API metrics on /metrics")
    assert "tracking_number" not in text and number not in text  # no high-cardinality labels


async def test_unmapped_codes_are_listed_for_operators(http: aiohttp.ClientSession, system: System) -> None:
    import hashlib
    import hmac

    import orjson

    from tests.conftest import samples_dir

    body = orjson.loads((samples_dir() / "sendcloud" / "webhook-parcel_status_changed-raw-body.json").read_bytes())
    number = f"SCUNMP{uuid.uuid4().hex[:8].upper()}"
    body["parcel"]["tracking_number"] = number
    body["parcel"]["status"] = {"id": 4242, "message": "Something new happened"}  # not in any table
    raw = orjson.dumps(body)
    signature = hmac.new(system.env["TRACKSTREAM_SENDCLOUD_SECRET"].encode(), raw, hashlib.sha256).hexdigest()
    async with http.post("/v1/webhooks/sendcloud", data=raw, headers={"Sendcloud-Signature": signature}) as resp:
        assert resp.status == 202

    async def listed() -> Any:
        async with http.get("/v1/carriers/sendcloud/unmapped-codes") as resp:
            assert resp.status == 200
            items = (await resp.json())["items"]
        return [i for i in items if i["code"] == "4242"]

    [item] = await eventually(listed, what="the unmapped code")
    assert item["events"] >= 1 and item["description"] == "Something new happened"
    assert item["first_seen"] <= item["last_seen"] and item["example_shipment"] == f"sendcloud:{number}"
    async with http.get(f"/v1/shipments/sendcloud/{number}") as resp:
        shipment = await resp.json()
    assert shipment["status"] == "unknown" and shipment["substatus"] == "unmapped_code"
    assert shipment["events"][0]["code"] == "4242" and shipment["events"][0]["mapped"] is False


async def test_unknown_postnl_event_code_mapped_by_status_fallback_is_still_listed(
    http: aiohttp.ClientSession,
) -> None:
    import orjson

    from tests.conftest import samples_dir

    body = orjson.loads((samples_dir() / "postnl" / "shippingstatus-v2-status-response-out-for-delivery.json")
                        .read_bytes())
    number = f"3SUNMP{uuid.uuid4().hex[:8].upper()}"
    shipment = body["CompleteStatus"]["Shipment"]
    shipment["Barcode"] = shipment["MainBarcode"] = number
    shipment["Event"][0]["Code"] = "Q99"  # not published by PostNL; its status row (7) still maps it
    async with http.post("/v1/webhooks/postnl", data=orjson.dumps(body),
                         headers={"Authorization": "Bearer test-postnl-token"}) as resp:
        assert resp.status == 202

    async def listed() -> Any:
        async with http.get("/v1/carriers/postnl/unmapped-codes") as resp:
            return [i for i in (await resp.json())["items"] if i["code"] == "Q99"]

    [item] = await eventually(listed, what="the unknown event code")
    assert item["resolved_by_fallback"] == item["events"] >= 1
    async with http.get(f"/v1/shipments/postnl/{number}") as resp:
        assert (await resp.json())["status"] == "out_for_delivery"
