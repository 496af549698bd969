"""The PostgreSQL sink against the real server: idempotent writes, concurrent open (regression:
the worker's start-up task and its first write opened the pool twice and crashed the worker)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from agents.shipment_state import apply_events
from schemas.events import TZ_GIVEN, TrackingEvent
from sinks.postgres import PostgresSink
from tests.conftest import System


def _event(number: str, i: int, status: str) -> TrackingEvent:
    at = datetime(2026, 11, 20, 8, tzinfo=UTC) + timedelta(hours=i)
    return TrackingEvent(event_id=f"{number}-{i}", carrier="sinktest", tracking_number=number, status=status,
                         substatus=None, code=f"C{i}", description="", occurred_at=at, local_time=at.isoformat(),
                         tz_source=TZ_GIVEN, received_at=datetime.now(UTC))


async def test_concurrent_open_and_idempotent_replay(system: System) -> None:
    sink = PostgresSink(system.settings.database_url, pool_size=2)
    await asyncio.gather(sink.open(), sink.open(), sink.open())
    try:
        events = [_event("SINK1", 0, "in_transit"), _event("SINK1", 1, "delivered")]
        outcome = apply_events(None, events, datetime.now(UTC))
        await sink.write(events, [outcome.state])
        await sink.write(events, [outcome.state])  # a replay after a crash: nothing changes
        with system.db() as conn:
            assert conn.execute("SELECT count(*) FROM tracking_events WHERE carrier = 'sinktest'").fetchone() == (2,)
            row = conn.execute("SELECT status, event_count, version FROM shipments WHERE shipment_key = %s",
                               ("sinktest:SINK1",)).fetchone()
        assert row == ("delivered", 2, 1)
        # an older state (lower version) never overwrites a newer one
        older = apply_events(None, events[:1], datetime.now(UTC)).state
        older.version = 0
        await sink.write([], [older])
        with system.db() as conn:
            assert conn.execute("SELECT status FROM shipments WHERE shipment_key = %s",
                                ("sinktest:SINK1",)).fetchone() == ("delivered",)
    finally:
        await asyncio.gather(sink.close(), sink.close())
