"""Alerts on the real system: the stream opens them (at once, or on a tick when a condition falls
due), keeps one per (shipment, type) through replays, resolves them when the condition ends; the
API lists, acknowledges and resolves them, per customer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from tests.conftest import System
from tests.support import bearer, eventually


def _event(number: str, status: str, at: datetime, **extra: Any) -> dict[str, Any]:
    return {"carrier": "fleet", "tracking_number": number, "status": status, "occurred_at": at.isoformat(),
            **extra}


async def _post(http: aiohttp.ClientSession, *events: dict[str, Any]) -> None:
    async with http.post("/v1/events", json=list(events)) as resp:
        assert resp.status == 202, await resp.text()


async def _alerts(http: aiohttp.ClientSession, **params: str) -> list[dict[str, Any]]:
    async with http.get("/v1/alerts", params={**params, "limit": "500"}) as resp:
        assert resp.status == 200, await resp.text()
        items: list[dict[str, Any]] = (await resp.json())["items"]
        return items


async def _one(http: aiohttp.ClientSession, number: str, kind: str, state: str) -> dict[str, Any]:
    async def found() -> Any:
        items = await _alerts(http, shipment_key=f"fleet:{number}", type=kind)
        return items[0] if items and items[0]["state"] == state else None

    alert: dict[str, Any] = await eventually(found, timeout=60, what=f"{kind} {state} for {number}")
    return alert


async def test_a_carrier_exception_opens_at_once_and_resolves_when_the_shipment_moves_on(
    http: aiohttp.ClientSession,
) -> None:
    number = f"AX{uuid.uuid4().hex[:8].upper()}"
    now = datetime.now(UTC)
    await _post(http, _event(number, "in_transit", now - timedelta(hours=3)),
                _event(number, "exception", now - timedelta(hours=2), substatus="damaged", event_id="x1"))
    opened = await _one(http, number, "carrier_exception", "open")
    assert opened["reason"] == "carrier reports damaged" and opened["severity"] == "high"
    assert opened["id"].startswith("al_") and opened["occurrences"] == 1
    async with http.get(f"/v1/shipments/fleet/{number}") as resp:
        shown = (await resp.json())["alerts"]
    assert [a["type"] for a in shown] == ["carrier_exception"]
    # the same event again (a replay): no second alert, nothing moves
    await _post(http, _event(number, "exception", now - timedelta(hours=2), substatus="damaged", event_id="x1"))
    await _post(http, _event(number, "in_transit", now - timedelta(hours=1)))
    resolved = await _one(http, number, "carrier_exception", "resolved")
    assert resolved["id"] == opened["id"] and resolved["resolved_by"] == "system"
    assert "in_transit" in resolved["resolution"]
    assert len(await _alerts(http, shipment_key=f"fleet:{number}")) == 1


async def test_a_failed_attempt_nobody_followed_up_opens_on_a_tick(http: aiohttp.ClientSession) -> None:
    number = f"AF{uuid.uuid4().hex[:8].upper()}"
    # 24 h (the default) after the attempt is a few seconds from now: not yet when the event is
    # processed, so only a tick can open it
    attempt = datetime.now(UTC) - timedelta(hours=24) + timedelta(seconds=6)
    await _post(http, _event(number, "out_for_delivery", attempt - timedelta(hours=2)),
                _event(number, "failed_attempt", attempt))

    async def shipment_stored() -> bool:
        async with http.get(f"/v1/shipments/fleet/{number}") as resp:
            return resp.status == 200 and (await resp.json())["status"] == "failed_attempt"

    await eventually(shipment_stored, what="the failed attempt")
    assert datetime.now(UTC) < attempt + timedelta(hours=24)
    assert await _alerts(http, shipment_key=f"fleet:{number}") == []
    alert = await _one(http, number, "failed_attempt_no_followup", "open")
    assert datetime.fromisoformat(alert["opened_at"]) >= attempt + timedelta(hours=24)
    assert alert["reason"] == "failed delivery attempt not followed up"
    await _post(http, _event(number, "delivered", datetime.now(UTC) - timedelta(minutes=5)))
    await _one(http, number, "failed_attempt_no_followup", "resolved")


async def test_a_deadline_in_the_destinations_past_is_breached(http: aiohttp.ClientSession) -> None:
    number = f"AD{uuid.uuid4().hex[:8].upper()}"
    yesterday = (datetime.now(UTC) - timedelta(days=2)).date().isoformat()
    async with http.post("/v1/shipments", json={"carrier": "fleet", "tracking_number": number,
                                                "destination_country": "NL",
                                                "promised_delivery_date": yesterday}) as resp:
        assert resp.status == 202
    alert = await _one(http, number, "deadline_breached", "open")
    assert yesterday in alert["reason"]


async def test_people_acknowledge_and_resolve_and_customers_see_their_own(
    system: System, http: aiohttp.ClientSession,
) -> None:
    customer, other = f"al-{uuid.uuid4().hex[:6]}", f"al-{uuid.uuid4().hex[:6]}"
    numbers = [f"AC{uuid.uuid4().hex[:8].upper()}" for _ in range(3)]
    now = datetime.now(UTC)
    for i, number in enumerate(numbers):
        async with http.post("/v1/shipments", json={"carrier": "fleet", "tracking_number": number,
                                                    "customer": customer if i < 2 else other}) as resp:
            assert resp.status == 202
    for number in numbers:
        async def registered(n: str = number) -> bool:
            async with http.get(f"/v1/shipments/fleet/{n}") as resp:
                return resp.status == 200

        await eventually(registered, what="registration")
    await _post(http, *(_event(n, "exception", now - timedelta(hours=1), substatus="address_issue") for n in numbers))
    alerts = [await _one(http, n, "carrier_exception", "open") for n in numbers]
    assert [a["customer"] for a in alerts] == [customer, customer, other]

    _, reader = await system.create_key("alerts:read", customers=(customer,))
    _, writer = await system.create_key("alerts:write", "alerts:read", customers=(customer,))
    async with aiohttp.ClientSession(base_url=system.base_url, headers=bearer(reader)) as mine:
        seen = {a["id"] for a in await _alerts(mine)}
        assert alerts[0]["id"] in seen and alerts[1]["id"] in seen and alerts[2]["id"] not in seen
        async with mine.get(f"/v1/alerts/{alerts[2]['id']}") as resp:
            assert resp.status == 404
        async with mine.post(f"/v1/alerts/{alerts[0]['id']}/ack") as resp:
            assert resp.status == 403
    async with aiohttp.ClientSession(base_url=system.base_url, headers=bearer(writer)) as ops:
        async with ops.post(f"/v1/alerts/{alerts[0]['id']}/ack", json={"note": "calling the carrier"}) as resp:
            body = await resp.json()
            assert resp.status == 200 and body["state"] == "acknowledged"
            assert body["acknowledged_by"] == writer.partition(".")[0]
        async with ops.post(f"/v1/alerts/{alerts[2]['id']}/ack") as resp:
            assert resp.status == 404  # another customer's: as if it did not exist
        # bulk, over a filter: only this key's customer's alerts change, the other customer's stay open
        async with ops.post("/v1/alerts/resolve", json={"filter": {"type": "carrier_exception"},
                                                         "note": "address fixed"}) as resp:
            assert resp.status == 200
            assert (await resp.json())["changed"] == 2
    states = {a["id"]: a for a in await _alerts(http, type="carrier_exception")}
    assert states[alerts[0]["id"]]["state"] == states[alerts[1]["id"]]["state"] == "resolved"
    assert states[alerts[0]["id"]]["resolution"] == "address fixed"
    assert states[alerts[2]["id"]]["state"] == "open"
