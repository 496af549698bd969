"""SIGKILL the API while it packs concurrent webhooks into shared raw records: every webhook that
got its 202 is stored exactly once, and none that got a 202 is missing from the broker.

A second API process joins the session's stack on a port of its own, takes single-event webhooks
from many concurrent callers (so its packer has records in flight that hold several callers'
payloads), and is killed mid-stream.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from schemas.raw import is_packed, unpack
from tests.conftest import System
from tests.support import bearer, eventually, raw_records
from trackstream.stack.ephemeral import free_port
from trackstream.stack.process import ManagedProcess, port_open, wait_for

CALLERS = 40


async def _packed_records_holding(system: System, needle: bytes) -> list[int]:
    """Item counts of the packed native raw records that hold a payload containing ``needle``."""
    return [len(unpack(value)) for value, _ in await raw_records(system.settings, "native")
            if is_packed(value) and needle in value]


async def test_sigkill_of_the_api_mid_pack_loses_no_acknowledged_webhook(system: System) -> None:
    port = free_port()
    env = dict(system.env, TRACKSTREAM_HTTP_PORT=str(port))
    api = ManagedProcess("api-killed", [sys.executable, "-m", "trackstream.cli", "api"],
                         system.settings.data_dir / "logs" / "api-killed.log", env=env)
    api.start()
    try:
        wait_for(lambda: port_open("127.0.0.1", port), 60, "the second API")
        carrier = f"kill{uuid.uuid4().hex[:6]}"
        base = datetime(2026, 11, 3, 8, 0, tzinfo=UTC)
        acked: set[str] = set()
        refused = 0
        stop_at = time.monotonic() + 3.0  # the kill comes in the middle of this
        counter = iter(range(10**9))

        async def caller(session: aiohttp.ClientSession, c: int) -> None:
            nonlocal refused
            while time.monotonic() < stop_at + 2:
                k = next(counter)
                event: dict[str, Any] = {
                    "carrier": carrier, "tracking_number": f"K{c:02d}N{k:06d}", "status": "in_transit",
                    "code": "SCAN", "occurred_at": (base + timedelta(seconds=k)).isoformat(), "event_id": f"e{k}"}
                try:
                    async with session.post("/v1/events", json=[event]) as resp:
                        if resp.status == 202:
                            acked.add(f"e{k}")
                        else:
                            refused += 1
                except (TimeoutError, aiohttp.ClientError):
                    return  # the API is gone: this caller's last request got no answer

        async def killer() -> None:
            await asyncio.sleep(max(0.0, stop_at - time.monotonic()))
            api.kill()

        timeout = aiohttp.ClientTimeout(total=20)
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}", timeout=timeout,
                                         headers=bearer(system.admin_key)) as session:
            await asyncio.gather(killer(), *(caller(session, c) for c in range(CALLERS)))
        assert not api.alive()
        assert len(acked) > 200, f"too few webhooks were accepted before the kill ({len(acked)})"

        def stored() -> dict[str, int]:
            with system.db() as db:
                rows = db.execute("SELECT event_id, count(*) FROM tracking_events WHERE carrier = %s "
                                  "GROUP BY event_id", (carrier,)).fetchall()
            return {str(event_id): int(str(n)) for event_id, n in rows}

        async def all_acked_stored() -> dict[str, int] | None:
            found = stored()
            return found if acked <= set(found) else None

        found = await eventually(all_acked_stored, timeout=90, what="every acknowledged webhook in PostgreSQL")
        assert all(n == 1 for n in found.values())  # exactly once
        packed = await _packed_records_holding(system, carrier.encode())
        assert max(packed) > 1, "the packer never shared a record between callers: the test proves nothing"
        print(f"\n{len(acked)} acknowledged, {refused} refused, {len(found)} stored; "
              f"{len(packed)} packed records, up to {max(packed)} payloads each")
    finally:
        if api.alive():
            api.stop()
