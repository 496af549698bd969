"""The partner story on the real parts (Kafka, PostgreSQL, the worker and the API as processes, a
real HTTP receiver on loopback): a partner subscribes to a tracking number nobody registered;
carrier events arrive (``POST /v1/events``); the receiver answers 500 for a while, the worker and
the API are restarted meanwhile, then it answers 200. Nothing is lost, order is kept, every
delivery verifies with the independent ``standardwebhooks`` package, and the delivery log shows
the retries."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from standardwebhooks import Webhook

from tests.conftest import System
from tests.outbound.receiver import Received, Receiver
from tests.support import bearer, eventually

EVENTS = [("pre_transit", "PRE"), ("in_transit", "TRN"), ("in_transit", "HUB"), ("out_for_delivery", "OFD"),
          ("delivered", "DLV")]


async def test_a_partner_follows_an_unregistered_parcel_through_failures_and_restarts(system: System) -> None:
    healthy = {"ok": False}
    receiver = await Receiver(lambda got: 200 if healthy["ok"] else 500).start()
    partner_id, partner = await system.create_key("track", "subscriptions:write", customers=("partner-e2e",))
    tracking = f"E2E{uuid.uuid4().hex[:10].upper()}"
    carrier = "e2efleet"
    try:
        async with aiohttp.ClientSession(base_url=system.base_url, headers=bearer(partner)) as session:
            async with session.post("/v1/subscriptions", json={
                    "url": receiver.url, "kinds": ["event", "delivered"],
                    "tracking_numbers": [{"carrier": carrier, "tracking_number": tracking}]}) as resp:
                created = await resp.json()
                assert resp.status == 201, created
        sid, secret = created["id"], created["secret"]

        async def registered() -> bool:
            with system.db() as db:
                row = db.execute("SELECT customer FROM shipments WHERE shipment_key = %s",
                                 (f"{carrier}:{tracking}",)).fetchone()
            return row == ("partner-e2e",)

        await eventually(registered, timeout=60, what="the subscribed number registered for the partner")
        start = datetime(2026, 11, 21, 8, tzinfo=UTC)

        async def post(i: int) -> None:
            status, code = EVENTS[i]
            # a session per request: the API process changes in between
            async with aiohttp.ClientSession(base_url=system.base_url, headers=bearer(system.admin_key)) as admin:
                async with admin.post("/v1/events", json=[{
                        "carrier": carrier, "tracking_number": tracking, "status": status, "code": code,
                        "event_id": f"{tracking}-{i}", "occurred_at": (start + timedelta(hours=i)).isoformat(),
                        "location": {"city": "Utrecht", "country": "NL", "postcode": "3511AA"}}]) as resp:
                    assert resp.status == 202, await resp.text()

            # stored before the next is posted: the raw topic's partitions would not keep two
            # posts in order, and the order trackstream accepts events in is the order it sends
            async def stored() -> bool:
                with system.db() as db:
                    return db.execute("SELECT 1 FROM tracking_events WHERE shipment_key = %s AND event_id = %s",
                                      (f"{carrier}:{tracking}", f"{tracking}-{i}")).fetchone() is not None

            await eventually(stored, timeout=60, what=f"event {i} stored")

        for i in range(3):
            await post(i)

        async def failures(n: int) -> Any:
            async def check() -> bool:
                return sum(r.status == 500 for r in receiver.requests) >= n
            return check

        await eventually(await failures(3), timeout=60, what="the receiver refusing deliveries")
        # every process restarts while deliveries wait in the queue
        system.restart_worker()
        system.restart_api()
        system.wait_ready()
        for i in range(3, len(EVENTS)):
            await post(i)
        await eventually(await failures(6), timeout=60, what="retries after the restart")
        healthy["ok"] = True

        async def all_delivered() -> bool:
            return len(receiver.accepted()) == len(EVENTS) + 1  # every event, and the delivered notice

        await eventually(all_delivered, timeout=90, what="every message delivered")
        async with aiohttp.ClientSession(base_url=system.base_url, headers=bearer(partner)) as session:
            async with session.get(f"/v1/subscriptions/{sid}/deliveries") as resp:
                log = await resp.json()
                assert resp.status == 200, log
            async with session.get(f"/v1/track/{carrier}/{tracking}") as resp:
                view = await resp.json()
    finally:
        await receiver.stop()

    verifier = Webhook(secret)
    for got in receiver.requests:
        assert verifier.verify(got.body, got.headers) == got.json()  # an independent verifier agrees
    delivered = [r.json() for r in receiver.accepted()]
    assert [d["sequence"] for d in delivered] == list(range(1, len(EVENTS) + 2))
    assert [(d["type"], d["event_id"]) for d in delivered] == [
        *(("shipment.event", f"{tracking}-{i}") for i in range(len(EVENTS))),
        ("shipment.delivered", f"{tracking}-{len(EVENTS) - 1}")]
    first = delivered[0]
    assert (first["carrier"], first["tracking_number"], first["shipment_key"]) == (carrier, tracking,
                                                                                  f"{carrier}:{tracking}")
    assert (first["status"], first["code"], first["occurred_at"]) == ("pre_transit", "PRE", "2026-11-21T08:00:00Z")
    assert first["location"] == {"city": "Utrecht", "country": "NL"} and "3511AA" not in str(delivered)
    assert first["estimated_delivery"] is None and first["emitted_at"].endswith("Z")
    assert first["snapshot_url"] == f"/v1/track/{carrier}/{tracking}"
    _in_order(receiver.requests)
    # the log: newest first; every message was refused at least once before it went through
    assert [m["status"] for m in log["items"]] == ["delivered"] * (len(EVENTS) + 1)
    attempts = [a for m in log["items"] for a in m["attempt_log"]]
    assert {a["status_code"] for a in attempts} == {500, 200}
    assert sum(a["status_code"] == 500 for a in attempts) == sum(r.status == 500 for r in receiver.requests)
    assert all(a["outcome"] == ("delivered" if a["status_code"] == 200 else "retry") for a in attempts)
    assert all(isinstance(a["duration_ms"], int | float) for a in attempts)
    assert (view["status"], view["estimated_delivery"]) == ("delivered", None)
    assert partner_id == created["owner_key_id"]


def _in_order(requests: list[Received]) -> None:
    """No message was sent before the one before it had succeeded (or been given up)."""
    done = 0
    for got in requests:
        sequence = got.json()["sequence"]
        assert sequence == done + 1, f"sequence {sequence} sent while {done + 1} was not delivered"
        if got.status == 200:
            done = sequence
