"""A carrier with no Python module, only a definition file (``tests/fixtures/carriers/pigeonpost.yaml``,
copied into the test system's own ``TRACKSTREAM_CARRIERS_DIR``), end to end on the real parts:
signed webhook → its raw topic → the worker's normalizer → PostgreSQL → the query API."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from typing import Any

import aiohttp
import orjson

import carriers
from tests.conftest import System
from tests.support import PIGEONPOST_SECRET, eventually


def _sign(body: bytes, secret: str = PIGEONPOST_SECRET) -> dict[str, str]:
    return {"X-Pigeon-Signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
            "Content-Type": "application/json"}


def _push(ref: str, history: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({"data": {"shipments": [{"ref": ref, "history": history}]}})


async def test_signed_push_of_a_configured_carrier_becomes_a_shipment(
    system: System, http: aiohttp.ClientSession,
) -> None:
    assert "pigeonpost" not in carriers.ADAPTERS  # no module: only the definition file
    assert system.settings.configured_carriers == ("pigeonpost",)
    ref = f"pp-{uuid.uuid4().hex[:10]}"
    unmapped = f"Z{uuid.uuid4().hex[:6].upper()}"
    body = _push(ref, [
        {"id": f"{ref}-1", "status": {"code": "ACC", "text": "Accepted at the loft"},
         "time": "2026-10-25T02:30:00", "where": {"city": "Gent", "country": "BE"}},
        {"id": f"{ref}-2", "status": {"code": unmapped, "text": "Pigeon resting"},
         "time": "2026-10-25T09:00:00+01:00"},
        {"id": f"{ref}-3", "status": {"code": "DEL", "text": "Delivered to the roof"},
         "time": "2026-10-25T16:45:00Z"},
    ])
    async with http.post("/v1/webhooks/pigeonpost", data=body, headers=_sign(body)) as resp:
        assert resp.status == 202, await resp.text()

    async def stored() -> dict[str, Any] | None:
        async with http.get(f"/v1/shipments/pigeonpost/{ref}") as resp:
            if resp.status == 404:
                return None
            assert resp.status == 200, await resp.text()
            shipment: dict[str, Any] = await resp.json()
            return shipment if shipment["event_count"] == 3 else None

    shipment = await eventually(stored, what="the configured carrier's shipment")
    assert (shipment["carrier"], shipment["tracking_number"]) == ("pigeonpost", ref.upper())
    assert (shipment["status"], shipment["substatus"], shipment["code"]) == ("delivered", "delivered_recipient", "DEL")
    first, second, third = shipment["events"]
    assert (first["code"], first["status"], first["substatus"], first["event_id"]) == (
        "ACC", "in_transit", "accepted", f"{ref}-1")
    # local time in Gent, the autumn hour that occurs twice: the first (summer-time) occurrence
    assert (first["occurred_at"], first["local_time"], first["tz_source"]) == (
        "2026-10-25T00:30:00Z", "2026-10-25T02:30:00", "country")
    assert first["location"] == {"city": "Gent", "country": "BE"} and first["source"] == "webhook"
    assert (second["code"], second["status"], second["mapped"]) == (unmapped, "unknown", False)
    assert (third["occurred_at"], third["tz_source"]) == ("2026-10-25T16:45:00Z", "given")

    async with http.get("/v1/carriers/pigeonpost/unmapped-codes") as resp:
        items = {item["code"]: item for item in (await resp.json())["items"]}
    assert items[unmapped]["description"] == "Pigeon resting"
    assert items[unmapped]["example_shipment"] == f"pigeonpost:{ref.upper()}"


async def test_bad_signature_is_refused_and_nothing_is_stored(system: System, http: aiohttp.ClientSession) -> None:
    ref = f"pp-{uuid.uuid4().hex[:10]}"
    body = _push(ref, [{"status": {"code": "DEL"}, "time": "2026-11-01T10:00:00Z"}])
    for headers in (_sign(body, "not-the-secret"), _sign(body + b" "), {"X-Pigeon-Signature": "xyz"}, {}):
        async with http.post("/v1/webhooks/pigeonpost", data=body, headers=headers) as resp:
            assert resp.status == 401
            answer = await resp.json()
            assert answer["error"] == "invalid_signature", answer
    async with http.post("/v1/webhooks/pigeonpost", data=body, headers=_sign(body)) as resp:
        assert resp.status == 202
    async with http.post("/v1/webhooks/no-such-bird", data=body, headers=_sign(body)) as resp:
        assert resp.status == 404 and (await resp.json())["error"] == "unknown_carrier"

    async def stored() -> Any:
        async with http.get(f"/v1/shipments/pigeonpost/{ref}") as resp:
            return resp.status == 200 and (await resp.json())["status"] == "delivered"

    await eventually(stored, what="the correctly signed push")
    with system.db() as conn:
        rows = conn.execute("SELECT count(*) FROM tracking_events WHERE shipment_key = %s",
                            (f"pigeonpost:{ref.upper()}",)).fetchone()
    assert rows == (1,)  # four refused pushes of the same body left nothing behind


async def test_unreadable_payload_of_a_configured_carrier_is_dead_lettered(
    system: System, http: aiohttp.ClientSession,
) -> None:
    marker = uuid.uuid4().hex
    body = orjson.dumps({"data": {"shipments": [{"ref": "pp-x", "marker": marker}]}})  # no history
    async with http.post("/v1/webhooks/pigeonpost", data=body, headers=_sign(body)) as resp:
        assert resp.status == 202

    async def dead_lettered() -> Any:
        with system.db() as conn:
            return conn.execute("SELECT carrier, error, reason FROM dead_letters WHERE payload LIKE %s",
                                (f"%{marker}%",)).fetchone()

    carrier, error, reason = await eventually(dead_lettered, what="the dead letter")
    assert (carrier, error) == ("pigeonpost", "malformed_payload")
    assert "no events at 'history'" in reason
