"""SIGKILL the worker in the middle of a stream of thousands of events, restart it, and check that
PostgreSQL holds every event exactly once and every shipment in its correct final state."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from agents.gap_guard import EXIT_SKIPPED_MESSAGES
from schemas.raw import RawItem, pack
from tests.conftest import System
from trackstream.topics import raw_topic

STATUSES = ["pre_transit", "in_transit", "in_transit", "out_for_delivery", "failed_attempt",
            "out_for_delivery", "delivered"]


def make_stream(carrier: str, shipments: int, per_shipment: int, seed: int) -> tuple[list[list[dict[str, Any]]],
                                                                                         list[dict[str, Any]]]:
    """Raw messages (lists of native events) with ~5% redeliveries and ~5% late events, plus the
    unique events. Every shipment's events have distinct instants, so its final status is the
    status of its newest event."""
    rng = random.Random(seed)
    start = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)
    unique: list[dict[str, Any]] = []
    per: dict[str, list[dict[str, Any]]] = {}
    for s in range(shipments):
        number = f"K{s:05d}"
        at = start + timedelta(minutes=rng.randint(0, 600))
        events = []
        for i in range(per_shipment):
            at += timedelta(minutes=rng.randint(5, 300))
            events.append({"carrier": carrier, "tracking_number": number, "status": STATUSES[i % len(STATUSES)],
                           "code": f"C{i}", "occurred_at": at.isoformat(), "event_id": f"{number}-{i}"})
        unique += events
        per[number] = events
    # interleave shipments; swap ~5% of neighbouring events of one shipment (late arrivals)
    order: list[dict[str, Any]] = []
    cursors = {n: 0 for n in per}
    while cursors:
        number = rng.choice(list(cursors))
        i = cursors[number]
        events = per[number]
        if i + 1 < len(events) and rng.random() < 0.05:
            order += [events[i + 1], events[i]]
            cursors[number] = i + 2
        else:
            order.append(events[i])
            cursors[number] = i + 1
        if cursors[number] >= len(events):
            del cursors[number]
    # ~5% redeliveries, some much later in the stream
    for event in rng.sample(unique, len(unique) // 20):
        order.insert(rng.randint(0, len(order)), event)
    messages = [order[i:i + 5] for i in range(0, len(order), 5)]
    return messages, unique


async def test_sigkill_mid_stream_loses_and_duplicates_nothing(system: System) -> None:
    carrier = f"crash{uuid.uuid4().hex[:6]}"
    system.wait_ready()  # the worker has its partitions: the kill lands mid-stream, not mid-join
    messages, unique = make_stream(carrier, shipments=600, per_shipment=6, seed=7)
    assert len(unique) == 3600 and len(messages) > 700
    producer = AIOKafkaProducer(bootstrap_servers=system.settings.kafka_bootstrap, acks="all")
    await producer.start()

    def stored() -> int:
        with system.db() as conn:
            row = conn.execute("SELECT count(*) FROM tracking_events WHERE carrier = %s", (carrier,)).fetchone()
        return int(str(row[0])) if row else 0

    killed_at: int | None = None
    try:
        # the packed path (schemas.raw), as the ingress writes a burst: most records hold several
        # payloads, every fifth one a single payload as feeds and records from before packing do
        records: list[bytes] = []
        for start in range(0, len(messages), 4):
            chunk = [orjson.dumps(m) for m in messages[start:start + 4]]
            records += chunk[:1] if start % 20 == 0 else [pack([RawItem(c, {"source": "api"}) for c in chunk])]
            if start % 20 == 0:
                records += [pack([RawItem(c, {"source": "api"}) for c in chunk[1:]])] if chunk[1:] else []
        for index, record in enumerate(records):
            await producer.send_and_wait(raw_topic("native"), record)
            if index % 20 == 0:
                await asyncio.sleep(0.05)  # a stream, not one burst
            if killed_at is None and index > len(records) // 3 and stored() > 0:
                killed_at = stored()
                system.worker.kill()  # SIGKILL: no shutdown, no final commit
                assert not system.worker.alive()
                system.restart_worker()
    finally:
        await producer.stop()
    assert killed_at is not None and 0 < killed_at < len(unique), "the kill must land mid-stream"

    restarts = await _wait_all_stored(system, stored, len(unique))
    print(f"\nstored all {len(unique)} events after the kill; extra restarts of a stalled worker: {restarts}")
    with system.db() as conn:
        rows = conn.execute("SELECT event_id, tracking_number, status FROM tracking_events WHERE carrier = %s",
                            (carrier,)).fetchall()
        ids = [r[0] for r in rows]
        assert len(ids) == len(set(ids)) == len(unique)
        assert set(ids) == {e["event_id"] for e in unique}
        shipments = {r[0]: r[1:] for r in conn.execute(
            "SELECT tracking_number, status, event_count, last_event_id FROM shipments WHERE carrier = %s",
            (carrier,))}
    expected: dict[str, dict[str, Any]] = {}
    for event in unique:
        current = expected.get(event["tracking_number"])
        if current is None or event["occurred_at"] > current["occurred_at"]:
            expected[event["tracking_number"]] = event
    assert len(shipments) == len(expected)
    wrong = {n: (shipments[n], e["status"]) for n, e in expected.items()
             if shipments[n] != (e["status"], 6, e["event_id"])}
    assert not wrong, f"{len(wrong)} shipments in a wrong final state, e.g. {list(wrong.items())[:3]}"
    system.wait_ready()


STALL_RESTART_SECONDS = 60.0


async def _wait_all_stored(system: System, stored: Any, total: int, timeout: float = 420.0) -> int:
    """Wait until every event is stored. A restarted worker that makes no progress for a minute is
    restarted again, as an orchestrator's readiness probe would (``/readyz`` stays unready while a
    worker recovers or holds no partitions): an upstream Faust stall after a hard kill, seen now
    and then on loaded machines. Returns how many extra restarts that took (at most 2)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last, since, restarts = stored(), loop.time(), 0
    while loop.time() < deadline:
        now_stored = stored()
        if now_stored >= total:
            return restarts
        if now_stored != last:
            last, since = now_stored, loop.time()
        elif not system.worker.alive() and system.worker.returncode == EXIT_SKIPPED_MESSAGES:
            # the worker stopped rather than commit past messages it skipped (agents/gap_guard.py);
            # `trackstream up` restarts it the same way
            print("\nthe worker stopped to avoid skipping messages; restarting it")
            system.restart_worker()
            since = loop.time()
        elif loop.time() - since > STALL_RESTART_SECONDS and restarts < 2:
            restarts += 1
            system.restart_worker()
            since = loop.time()
        await asyncio.sleep(0.5)
    raise AssertionError(f"only {stored()} of {total} events stored after {timeout}s and {restarts} extra restarts")
