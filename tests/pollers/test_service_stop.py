"""Stopping the poller service while a poll is in flight: it ends within its grace period, even
when the carrier asked it to wait minutes (``Retry-After``), and the shipment stays due."""

from __future__ import annotations

import asyncio
import time
import uuid

import aiohttp
from aiohttp import web

from pollers.accounts import Account, Cadence, RateLimit
from pollers.service import PollerService
from tests.conftest import System
from tests.support import eventually


async def test_stop_ends_a_poll_waiting_out_a_retry_after(system: System, http: aiohttp.ClientSession) -> None:
    customer = f"stop-{uuid.uuid4().hex[:8]}"
    number = f"STOP{uuid.uuid4().hex[:10].upper()}"
    seen: list[str] = []

    async def refuse(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.json_response({"error": "slow down"}, status=429, headers={"Retry-After": "300"})

    app = web.Application()
    app.router.add_get("/{tail:.*}", refuse)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with http.post("/v1/shipments", json={"carrier": "sendcloud", "tracking_number": number,
                                                     "customer": customer}) as resp:
            assert resp.status == 202, await resp.text()

        async def stored() -> bool:
            with system.db() as conn:
                return conn.execute("SELECT 1 FROM shipments WHERE customer = %s", (customer,)).fetchone() is not None

        await eventually(stored, timeout=30)
        account = Account(f"stop-{customer}", "sendcloud", {"public_key": "p", "secret_key": "s"},
                          base_url=f"http://127.0.0.1:{port}", rate_limit=RateLimit(10, 1), customers=(customer,),
                          cadence=Cadence())
        service = PollerService([account], database_url=system.settings.database_url,
                                kafka_bootstrap=system.settings.kafka_bootstrap, worker_id="stop-test",
                                stop_grace=1.0)
        task = asyncio.create_task(service.run())
        await eventually(lambda: asyncio.sleep(0, bool(seen)), timeout=30)  # the carrier said: come back in 300 s
        await asyncio.sleep(0.5)
        started = time.monotonic()
        service.stop()
        await asyncio.wait_for(task, timeout=20)
        assert time.monotonic() - started < 10
        with system.db() as conn:  # nothing recorded: still due for the next poller
            row = conn.execute("SELECT 1 FROM poll_state WHERE account = %s", (account.name,)).fetchone()
        assert row is None
    finally:
        await runner.cleanup()
