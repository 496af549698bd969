"""Operators' code mappings on the running system: an unmapped code is listed, a PUT maps it, and new
events with that code come out mapped, with nothing restarted."""

from __future__ import annotations

import hashlib
import hmac
import random
import time
import uuid
from typing import Any, cast
from urllib.parse import quote

import aiohttp
import orjson

from tests.conftest import System
from tests.support import PIGEONPOST_SECRET, eventually


async def _push_sendcloud(http: aiohttp.ClientSession, system: System, number: str, status_id: int,
                          message: str, at_ms: int) -> None:
    body = orjson.dumps({"action": "parcel_status_changed", "timestamp": at_ms,
                         "parcel": {"id": 1, "tracking_number": number,
                                    "status": {"id": status_id, "message": message}}})
    signature = hmac.new(system.env["TRACKSTREAM_SENDCLOUD_SECRET"].encode(), body, hashlib.sha256).hexdigest()
    async with http.post("/v1/webhooks/sendcloud", data=body, headers={"Sendcloud-Signature": signature}) as resp:
        assert resp.status == 202, await resp.text()


async def _stored(http: aiohttp.ClientSession, carrier: str, number: str, count: int = 1) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        async with http.get(f"/v1/shipments/{carrier}/{number}") as resp:
            if resp.status != 200:
                return None
            shipment: dict[str, Any] = await resp.json()
            return shipment if shipment["event_count"] >= count else None

    result: dict[str, Any] = await eventually(check, what=f"{carrier}:{number}")
    return result


async def _unmapped(http: aiohttp.ClientSession, carrier: str) -> dict[str, Any]:
    async with http.get(f"/v1/carriers/{carrier}/unmapped-codes") as resp:
        assert resp.status == 200
        return {item["code"]: item for item in (await resp.json())["items"]}


async def test_a_mapping_put_at_run_time_maps_new_events(system: System, http: aiohttp.ClientSession) -> None:
    code = random.randrange(700_000, 900_000)  # a Sendcloud status id no table knows
    message = f"Brand new status {uuid.uuid4().hex[:8]}"
    worker_pid = system.worker.proc.pid if system.worker.proc else None
    first = f"SCOVR{uuid.uuid4().hex[:8].upper()}"
    await _push_sendcloud(http, system, first, code, message, 1_780_000_000_000)
    before = await _stored(http, "sendcloud", first)
    assert (before["status"], before["substatus"]) == ("unknown", "unmapped_code")
    assert before["events"][0]["mapped"] is False
    assert str(code) in await _unmapped(http, "sendcloud")

    mapping = {"status": "in_transit", "substatus": "sorting"}
    async with http.put(f"/v1/carriers/sendcloud/mappings/{code}", json=mapping) as resp:
        assert resp.status == 201, await resp.text()
        row = await resp.json()
    assert (row["carrier"], row["code"], row["status"], row["substatus"]) == ("sendcloud", str(code), "in_transit",
                                                                              "sorting")
    put_at = time.monotonic()
    async with http.get("/v1/carriers/sendcloud/mappings") as resp:
        assert {item["code"]: item["status"] for item in (await resp.json())["items"]}[str(code)] == "in_transit"
    assert str(code) not in await _unmapped(http, "sendcloud")  # mapped from now on: no longer listed

    # New events with that code, until the worker's refresh (every TRACKSTREAM_MAPPING_REFRESH_SECONDS,
    # 1 s here) has picked the mapping up: each attempt is a new shipment, stored before it is judged.
    mapped: dict[str, Any] | None = None
    attempts = 0
    while mapped is None and time.monotonic() - put_at < 60:
        attempts += 1
        number = f"SCOVR{uuid.uuid4().hex[:8].upper()}"
        await _push_sendcloud(http, system, number, code, message, 1_780_000_100_000)
        shipment = await _stored(http, "sendcloud", number)
        if shipment["events"][0]["mapped"]:
            mapped = shipment
    assert mapped is not None, "the mapping never took effect"
    assert (mapped["status"], mapped["substatus"]) == ("in_transit", "sorting")
    event = mapped["events"][0]
    assert (event["code"], event["description"], event["status"], event["mapped"]) == (
        str(code), message, "in_transit", True)
    assert attempts <= 10
    assert (system.worker.proc.pid if system.worker.proc else None) == worker_pid and system.worker.alive()
    with system.db() as conn:
        row = conn.execute("SELECT attributes FROM tracking_events WHERE shipment_key = %s",
                           (f"sendcloud:{mapped['tracking_number']}",)).fetchone()
    assert row is not None
    attrs = cast(dict[str, Any], row[0])
    assert attrs["mapping_layer"] == "override"
    assert attrs["adapter_mapping"] == {"status": "unknown", "substatus": "unmapped_code", "mapped": False}

    # the first shipment keeps what it had when it was stored
    assert (await _stored(http, "sendcloud", first))["status"] == "unknown"

    # a correction replaces the row (200), and removing it brings the carrier's table back
    async with http.put(f"/v1/carriers/sendcloud/mappings/{code}", json={"status": "exception"}) as resp:
        assert resp.status == 200 and (await resp.json())["substatus"] is None
    async with http.delete(f"/v1/carriers/sendcloud/mappings/{code}") as resp:
        assert resp.status == 204
    async with http.delete(f"/v1/carriers/sendcloud/mappings/{code}") as resp:
        assert resp.status == 404 and (await resp.json())["error"] == "mapping_not_found"
    assert str(code) in await _unmapped(http, "sendcloud")


async def test_a_configured_carrier_can_be_mapped_too(system: System, http: aiohttp.ClientSession) -> None:
    code = f"Q{uuid.uuid4().hex[:6].upper()}"
    async with http.put(f"/v1/carriers/pigeonpost/mappings/{quote(code + '/x', safe='')}",
                        json={"status": "available_for_pickup", "substatus": "at_pickup_point"}) as resp:
        assert resp.status == 201, await resp.text()
        assert (await resp.json())["code"] == f"{code}/x"  # a code with a slash, percent-encoded in the path
    mapped: dict[str, Any] | None = None
    started = time.monotonic()
    while mapped is None and time.monotonic() - started < 60:
        ref = f"pp-{uuid.uuid4().hex[:10]}"
        body = orjson.dumps({"data": {"shipments": [{"ref": ref, "history": [
            {"status": {"code": f"{code}/x", "text": "At the loft"}, "time": "2026-11-02T10:00:00Z"}]}]}})
        signature = hmac.new(PIGEONPOST_SECRET.encode(), body, hashlib.sha256).hexdigest()
        async with http.post("/v1/webhooks/pigeonpost", data=body, headers={"X-Pigeon-Signature": signature}) as resp:
            assert resp.status == 202
        shipment = await _stored(http, "pigeonpost", ref)
        if shipment["events"][0]["mapped"]:
            mapped = shipment
    assert mapped is not None and (mapped["status"], mapped["substatus"]) == ("available_for_pickup",
                                                                              "at_pickup_point")


async def test_mapping_requests_are_validated(http: aiohttp.ClientSession) -> None:
    cases: list[tuple[str, str, Any, int, str]] = [
        ("PUT", "/v1/carriers/sendcloud/mappings/77", {"status": "arrived"}, 422, "invalid_mapping"),
        ("PUT", "/v1/carriers/sendcloud/mappings/77", {"status": "delivered", "substatus": "x"}, 422,
         "invalid_mapping"),
        ("PUT", "/v1/carriers/sendcloud/mappings/77", ["delivered"], 422, "invalid_mapping"),
        ("PUT", "/v1/carriers/sendcloud/mappings/%2077", {"status": "delivered"}, 422, "invalid_mapping"),
        ("PUT", "/v1/carriers/sendcloud/mappings/" + "7" * 201, {"status": "delivered"}, 422, "invalid_mapping"),
        ("PUT", "/v1/carriers/pigeon/mappings/77", {"status": "delivered"}, 404, "unknown_carrier"),
        ("PUT", "/v1/carriers/native/mappings/77", {"status": "delivered"}, 404, "unknown_carrier"),
        ("GET", "/v1/carriers/pigeon/mappings", None, 404, "unknown_carrier"),
        ("DELETE", "/v1/carriers/pigeon/mappings/77", None, 404, "unknown_carrier"),
    ]
    for method, path, body, status, error in cases:
        async with http.request(method, path, json=body) as resp:
            answer = await resp.json()
            assert (resp.status, answer["error"]) == (status, error), (method, path, answer)
            assert answer["message"]
    async with http.put("/v1/carriers/sendcloud/mappings/77", data=b"{nope") as resp:
        assert resp.status == 400 and (await resp.json())["error"] == "malformed_body"
    async with http.get("/v1/carriers/sendcloud/mappings") as resp:
        assert "77" not in {item["code"] for item in (await resp.json())["items"]}
