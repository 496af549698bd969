"""Bad input: the documented HTTP errors, or the dead-letter topic with a reason; the worker keeps
running and nothing else is affected."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from api.server import init_app
from tests.conftest import System
from tests.support import bearer, eventually, free_port

POSTNL_AUTH = {"Authorization": "Bearer test-postnl-token"}


async def expect_error(resp: aiohttp.ClientResponse, status: int, error: str) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/json"
    body: dict[str, Any] = await resp.json()
    assert body["error"] == error
    assert isinstance(body["message"], str) and body["message"]
    return body


@pytest.mark.parametrize(
    ("path", "data", "headers", "status", "error"),
    [
        ("/v1/webhooks/nosuchcarrier", b"{}", {}, 404, "unknown_carrier"),
        ("/v1/webhooks/postnl", b"{not json", {"Content-Type": "application/json", **POSTNL_AUTH}, 400,
         "malformed_body"),
        ("/v1/webhooks/postnl", b"", POSTNL_AUTH, 400, "malformed_body"),
        ("/v1/webhooks/postnl", b"<a><b></a>", {"Content-Type": "application/xml", **POSTNL_AUTH}, 400,
         "malformed_body"),
        ("/v1/webhooks/postnl", b"{}", {}, 401, "invalid_token"),
        ("/v1/webhooks/postnl", b"{}", {"Authorization": "Bearer wrong"}, 401, "invalid_token"),
        ("/v1/webhooks/sendcloud", b'{"action": "parcel_status_changed"}', {}, 401, "invalid_signature"),
        ("/v1/webhooks/sendcloud", b'{"action": "parcel_status_changed"}',
         {"Sendcloud-Signature": "00" * 32}, 401, "invalid_signature"),
        ("/v1/events", b"[]", {}, 400, "invalid_body"),
        ("/v1/events", b"{\"x\": 1", {}, 400, "malformed_body"),
        ("/v1/shipments", b"{\"carrier\": \"fleet\"}", {}, 422, "invalid_shipment"),
        ("/v1/shipments", b"{\"carrier\": \"fleet\", \"tracking_number\": \"X1\", \"despatched_at\": "
                          b"\"2026-11-20T10:00:00\"}", {}, 422, "invalid_shipment"),
        ("/v1/shipments", b"[1]", {}, 400, "invalid_body"),
    ],
)
async def test_ingress_errors(http: aiohttp.ClientSession, path: str, data: bytes, headers: dict[str, str],
                              status: int, error: str) -> None:
    async with http.post(path, data=data, headers=headers) as resp:
        await expect_error(resp, status, error)


async def test_body_over_limit_is_413(http: aiohttp.ClientSession, system: System) -> None:
    big = b"[" + b"1," * system.settings.max_body_bytes + b"1]"
    async with http.post("/v1/webhooks/postnl", data=big) as resp:
        await expect_error(resp, 413, "payload_too_large")


async def test_invalid_native_events_report_each_item(http: aiohttp.ClientSession, system: System) -> None:
    number = f"BAD{uuid.uuid4().hex[:8].upper()}"
    items = [
        {"carrier": "fleet", "tracking_number": number, "status": "in_transit",
         "occurred_at": "2026-11-20T10:00:00+01:00"},
        {"carrier": "fleet", "tracking_number": number, "status": "teleported",
         "occurred_at": "2026-11-20T10:00:00+01:00"},
        {"carrier": "fleet", "tracking_number": number, "status": "in_transit", "occurred_at": "2026-11-20 10:00"},
    ]
    async with http.post("/v1/events", json=items) as resp:
        body = await expect_error(resp, 422, "invalid_events")
    assert [item["index"] for item in body["items"]] == [1, 2]
    assert [item["field"] for item in body["items"]] == ["status", "occurred_at"]
    assert "status" in body["items"][0]["message"]
    assert "occurred_at" in body["items"][1]["message"]
    await asyncio.sleep(1.0)
    with system.db() as conn:  # nothing of the rejected batch was stored, not even the valid item
        assert conn.execute("SELECT count(*) FROM tracking_events WHERE tracking_number = %s",
                            (number,)).fetchone() == (0,)


async def test_unparseable_payload_is_deadlettered_and_worker_goes_on(
    http: aiohttp.ClientSession, system: System
) -> None:
    marker = uuid.uuid4().hex
    # well-formed JSON, so ingress accepts it, but not a PostNL response
    async with http.post("/v1/webhooks/postnl", json={"unexpected": marker}, headers=POSTNL_AUTH) as resp:
        assert resp.status == 202
    number = f"AFTER{uuid.uuid4().hex[:8].upper()}"
    async with http.post("/v1/events", json=[{"carrier": "fleet", "tracking_number": number,
                                               "status": "in_transit",
                                               "occurred_at": "2026-11-20T10:00:00+01:00"}]) as resp:
        assert resp.status == 202

    async def letter() -> Any:
        with system.db() as conn:
            return conn.execute("SELECT carrier, error, reason, payload FROM dead_letters WHERE payload LIKE %s",
                                (f"%{marker}%",)).fetchone()

    carrier, error, reason, payload = await eventually(letter, what="the dead letter")
    assert carrier == "postnl" and error == "malformed_payload" and reason
    assert marker in payload

    async def next_event() -> Any:
        async with http.get(f"/v1/shipments/fleet/{number}") as resp:
            return resp.status == 200

    await eventually(next_event, what="the event after the bad payload")
    assert system.worker.alive()


async def test_503_when_the_broker_cannot_take_it(system: System) -> None:
    """An API whose Kafka is unreachable answers 503 and is not ready; it never says 202."""
    env = dict(system.env, TRACKSTREAM_KAFKA_BOOTSTRAP=f"127.0.0.1:{free_port()}")
    from trackstream.settings import Settings

    app = init_app(Settings.from_env(env))
    server = TestServer(app, host="127.0.0.1", port=free_port())
    await server.start_server()
    try:
        async with aiohttp.ClientSession(base_url=str(server.make_url("")), headers=bearer(system.admin_key)) as client:
            async with client.post("/v1/events", json=[{"carrier": "fleet", "tracking_number": "NOPE1",
                                                         "status": "in_transit",
                                                         "occurred_at": "2026-11-20T10:00:00+01:00"}]) as resp:
                await expect_error(resp, 503, "broker_unavailable")
            async with client.get("/readyz") as resp:
                body = await expect_error(resp, 503, "not_ready")
                assert any(p.startswith("kafka") for p in body["problems"])
    finally:
        await server.close()
