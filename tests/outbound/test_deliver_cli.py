"""``trackstream deliver``: the dispatcher as a process of its own, on the real queue, into a real
receiver; SIGTERM stops it cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile

from tests.outbound.queue_support import Shipments, api_key, event, subscribe
from tests.outbound.receiver import Receiver
from tests.support import eventually


async def test_the_standalone_dispatcher_delivers_and_stops_on_sigterm(queue_db: str, receiver: Receiver) -> None:
    owner = await api_key(queue_db)
    await subscribe(queue_db, owner, receiver.url, numbers=[("dtest", "D1")])
    shipments = Shipments(queue_db)
    try:
        await shipments.write([event("dtest", "D1", 0), event("dtest", "D1", 1)])
    finally:
        await shipments.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKSTREAM_")}
    with tempfile.TemporaryDirectory() as data:
        env.update({"TRACKSTREAM_DATABASE_URL": queue_db, "TRACKSTREAM_OUTBOUND_ALLOW_PRIVATE": "true",
                    "TRACKSTREAM_DATA_DIR": data, "TRACKSTREAM_WORKER_ID": "cli-test"})
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "trackstream.cli", "deliver", env=env,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        try:
            async def delivered() -> bool:
                return len(receiver.accepted()) == 2

            await eventually(delivered, timeout=60, what="both delivered by trackstream deliver")
        finally:
            proc.send_signal(signal.SIGTERM)
            output = (await asyncio.wait_for(proc.communicate(), 30))[0].decode()
    assert proc.returncode == 0, output
    assert [r.json()["event_id"] for r in receiver.accepted()] == ["D1-0", "D1-1"]
