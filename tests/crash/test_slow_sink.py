"""A sink that cannot write for much longer than the partition watchdog's stall time: the backlog
waits, nothing is refetched, nothing is lost or stored twice.

The session worker runs with ``TRACKSTREAM_STALL_SECONDS=3`` (tests/conftest.py). An earlier
watchdog took a slow partition for a stalled one, seeked it back and emptied the streams' buffers,
and under load that committed offsets past events no agent had processed."""

from __future__ import annotations

import asyncio
import re
import uuid

import aiohttp
import orjson
import psycopg
from aiokafka import AIOKafkaProducer

from tests.conftest import System
from tests.crash.test_sigkill import make_stream
from tests.support import eventually
from trackstream.topics import raw_topic

BLOCKED_SECONDS = 12.0  # four times the session worker's stall time


async def refetches(http: aiohttp.ClientSession) -> float:
    async with http.get("/metrics") as resp:
        text = await resp.text()
    found = re.search(r"^trackstream_partition_refetches_total (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def test_a_blocked_sink_is_back_pressure_not_a_stall(system: System, http: aiohttp.ClientSession) -> None:
    assert system.settings.stall_seconds * 4 <= BLOCKED_SECONDS
    system.wait_ready()
    carrier = f"slow{uuid.uuid4().hex[:6]}"
    messages, unique = make_stream(carrier, shipments=300, per_shipment=6, seed=11)
    before = await refetches(http)

    def stored(of: str = carrier) -> int:
        with system.db() as conn:
            row = conn.execute("SELECT count(*) FROM tracking_events WHERE carrier = %s", (of,)).fetchone()
        return int(str(row[0])) if row else 0

    producer = AIOKafkaProducer(bootstrap_servers=system.settings.kafka_bootstrap, acks="all")
    await producer.start()
    # a first stream, stored and committed, so every partition has a committed offset to lag behind
    warm_up, warm_unique = make_stream(f"{carrier}w", shipments=60, per_shipment=6, seed=12)
    for message in warm_up:
        await producer.send(raw_topic("native"), orjson.dumps(message))
    await producer.flush()

    async def warmed_up() -> bool:
        return stored(f"{carrier}w") >= len(warm_unique)

    await eventually(warmed_up, 60, what="the first stream stored")
    await asyncio.sleep(4)  # past Faust's commit interval
    lock = psycopg.connect(system.settings.database_url)  # not autocommit: the lock lasts until rollback
    try:
        # the sink's transactions wait on this lock; everything upstream keeps flowing into its buffers
        lock.execute("LOCK TABLE tracking_events IN ACCESS EXCLUSIVE MODE")
        half = len(messages) // 2
        for message in messages[:half]:
            await producer.send(raw_topic("native"), orjson.dumps(message))
        await producer.flush()
        await asyncio.sleep(BLOCKED_SECONDS / 2)
        for message in messages[half:]:
            await producer.send(raw_topic("native"), orjson.dumps(message))
        await producer.flush()
        await asyncio.sleep(BLOCKED_SECONDS / 2)
    finally:
        lock.rollback()  # releases the lock
        lock.close()
        await producer.stop()

    async def all_stored() -> bool:
        return stored() >= len(unique)

    await eventually(all_stored, 120, interval=0.5, what=f"all {len(unique)} events stored after the sink unblocked")
    with system.db() as conn:
        ids = [r[0] for r in conn.execute("SELECT event_id FROM tracking_events WHERE carrier = %s", (carrier,))]
        counts = {str(r[0]): r[1] for r in conn.execute(
            "SELECT tracking_number, event_count FROM shipments WHERE carrier = %s", (carrier,))}
    assert len(ids) == len(set(ids)) == len(unique)
    assert set(ids) == {e["event_id"] for e in unique}
    assert len(counts) == 300 and set(counts.values()) == {6}
    assert await refetches(http) == before, "a blocked sink was taken for a stalled partition"
