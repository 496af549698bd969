"""The PostgreSQL sink against the real server: idempotent writes, concurrent open (regression:
the worker's start-up task and its first write opened the pool twice and crashed the worker)."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
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


async def test_nul_in_text_is_stored_not_retried_forever(system: System) -> None:
    """PostgreSQL text and jsonb cannot hold NUL, which JSON (``"\\u0000"``) can carry: such an event,
    its shipment and a dead letter holding one are stored (NUL as U+FFFD; the dead letter's exact
    bytes as base64) instead of failing the batch, and with it the worker, forever."""
    from schemas.deadletter import DeadLetter
    from schemas.events import Location

    sink = PostgresSink(system.settings.database_url, pool_size=1)
    await sink.open()
    try:
        event = dataclasses.replace(_event("SINKNUL\x00", 0, "in_transit"), code="C\x00", description="a\x00b",
                                    location=Location(city="Ut\x00recht"), attributes={"k\x00": ["v\x00"]})
        outcome = apply_events(None, [event], datetime.now(UTC))
        await asyncio.wait_for(sink.write([event], [outcome.state]), timeout=20)
        payload = b'{"nul": "\\u0000", "raw": "\x00"}'
        letter = DeadLetter(carrier="sinktest", reason="test", error="parse_error", payload=payload,
                            received_at=datetime.now(UTC), topic="carrier.sinktest.raw", partition=0,
                            offset=987654321, headers={"x-nul": "a\x00"})
        await asyncio.wait_for(sink.write_deadletter(letter), timeout=20)
        with system.db() as conn:
            stored = conn.execute("SELECT code, description, location->>'city', attributes FROM tracking_events "
                                  "WHERE shipment_key = %s", ("sinktest:SINKNUL\ufffd",)).fetchone()
            dead = conn.execute("SELECT payload, payload_b64 FROM dead_letters WHERE source = %s",
                                (letter.source,)).fetchone()
        assert stored == ("C\ufffd", "a\ufffdb", "Ut\ufffdrecht", {"k\ufffd": ["v\ufffd"]})
        assert dead is not None and dead[0] is None and base64.b64decode(str(dead[1])) == payload
    finally:
        await sink.close()


async def test_nul_in_an_alert_is_stored_not_retried_forever(system: System) -> None:
    """An alert's reason quotes the carrier (a substatus, a description): a NUL there too."""
    from trackstream.alerts.lifecycle import decide
    from trackstream.alerts.rules import AlertRules

    sink = PostgresSink(system.settings.database_url, pool_size=1)
    await sink.open()
    try:
        event = dataclasses.replace(_event("SINKALNUL", 0, "exception"), substatus=None, description="bro\x00ken")
        outcome = apply_events(None, [event], datetime.now(UTC))
        alerts = [c.to_dict() for c in decide(outcome.state, datetime.now(UTC), AlertRules())
                  if c.type == "carrier_exception"]
        assert len(alerts) == 1
        await asyncio.wait_for(sink.write([event], [outcome.state], alerts), timeout=20)
        with system.db() as conn:
            row = conn.execute("SELECT state, reason FROM alerts WHERE id = %s", (alerts[0]["id"],)).fetchone()
        assert row == ("open", "carrier reports bro\ufffdken")
    finally:
        await sink.close()
