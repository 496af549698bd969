"""Two workers running: both run the poller service, exactly one polls the account; SIGKILL that
one and the other takes over the polling and the stream, with nothing lost."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import aiohttp

from tests.conftest import WORKER_POLLED_CUSTOMER, System
from tests.fakes.carrier_api import postnl_status
from tests.integration.test_pipeline import shipment
from tests.support import eventually

ACCOUNT = "session-postnl"  # the account every worker of the session polls (tests/conftest.py)


def holder(system: System) -> str | None:
    with system.db() as conn:
        row = conn.execute("SELECT holder FROM poller_leases WHERE account = %s", (ACCOUNT,)).fetchone()
    return str(row[0]) if row else None


def pollers_since(system: System, since: datetime) -> set[str]:
    with system.db() as conn:
        return {str(r[0]) for r in conn.execute(
            "SELECT DISTINCT polled_by FROM poll_state WHERE account = %s AND last_polled_at > %s",
            (ACCOUNT, since))}


def heartbeat_since(system: System, worker: str, since: datetime) -> bool:
    with system.db() as conn:
        row = conn.execute("SELECT seen_at > %s FROM worker_heartbeats WHERE worker_id = %s",
                           (since, worker)).fetchone()
    return bool(row and row[0])


async def polled_to(http: aiohttp.ClientSession, system: System, status: str) -> str:
    number = f"3STW{uuid.uuid4().hex[:10].upper()}"
    system.carrier_api.set("postnl", number, postnl_status(number, [("J05", "Bezorger onderweg",
                                                                     "21-11-2026 09:15:00")]))
    async with http.post("/v1/shipments", json={"carrier": "postnl", "tracking_number": number,
                                                "customer": WORKER_POLLED_CUSTOMER}) as resp:
        assert resp.status == 202, await resp.text()

    async def arrived() -> bool:
        found = await shipment(http, "postnl", number)
        return found is not None and found["status"] == status

    await eventually(arrived, 120, what=f"{number} polled and stored")
    return number


async def test_two_workers_poll_once_and_fail_over(system: System, http: aiohttp.ClientSession) -> None:
    system.wait_ready()
    started = datetime.now(UTC)
    second = system.stack.start_worker("worker-2", system.env)
    killed_first = False
    try:
        async def joined() -> bool:
            if not second.alive():
                raise AssertionError(f"worker-2 died:\n{second.tail()}")
            return heartbeat_since(system, "worker-2", started) and heartbeat_since(system, "worker-1", started)

        await eventually(joined, 120, what="both workers holding partitions")
        both_up = datetime.now(UTC)
        await polled_to(http, system, "out_for_delivery")
        leader = holder(system)
        assert leader in ("worker-1", "worker-2")
        # while both run, every poll of the account was made by the lease holder alone
        assert pollers_since(system, both_up) == {leader}

        # SIGKILL the polling worker: the other takes the lease (its lock retry) and the partitions
        if leader == "worker-1":
            system.worker.kill()
            killed_first = True
        else:
            second.kill()
        survivor = "worker-2" if leader == "worker-1" else "worker-1"
        killed_at = datetime.now(UTC)
        number = await polled_to(http, system, "out_for_delivery")
        assert holder(system) == survivor
        assert pollers_since(system, killed_at) == {survivor}
        found = await shipment(http, "postnl", number)
        assert found is not None and found["event_count"] == 1
    finally:
        if killed_first or not system.worker.alive():
            system.restart_worker()
        if second.alive():
            second.stop()
        system.stack.children.remove(second)
    system.wait_ready()

    async def back_to_worker_1() -> bool:
        return holder(system) == "worker-1"

    await eventually(back_to_worker_1, 60, what="worker-1 polling the account again")
