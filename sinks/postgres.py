"""PostgreSQL, the store of record: idempotent, batched upserts of events and shipments.

Every write is keyed: events by (shipment key, event id) with ``ON CONFLICT DO NOTHING``, shipments
by key with an update that only moves forward in ``version``, outbound messages for subscribers
(``sinks.outbound``) by (subscription, event id, type), in the same transaction. A replay after a crash therefore
changes nothing that was already right. The ``track`` agent awaits ``write`` before it records the
new state in its table and before the input's offset can be committed.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Sequence
from typing import Any

import orjson
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from schemas.deadletter import DeadLetter
from schemas.events import TrackingEvent
from sinks import alerts as alert_rows
from sinks.outbound.subscriptions import enqueue_changes
from tables.shipment_states import ShipmentState
from trackstream import metrics
from trackstream.retry import retry_forever

log = logging.getLogger(__name__)

_EVENT_COLUMNS = (
    "shipment_key", "event_id", "carrier", "tracking_number", "status", "substatus", "code", "description",
    "occurred_at", "local_time", "tz_source", "location", "mapped", "source", "attributes", "received_at",
)
_SHIPMENT_COLUMNS = (
    "shipment_key", "carrier", "tracking_number", "status", "substatus", "status_code",
    "status_description", "last_event_id", "last_event_at", "first_event_at", "delivered_at",
    "last_location", "event_count", "order_number", "customer", "destination_postcode",
    "destination_country", "service_level", "despatched_at", "promised_delivery_date",
    "registered_at", "version", "updated_at",
)

# Batches go through COPY into per-connection staging tables (temporary, emptied at commit), then
# one INSERT ... SELECT ... ON CONFLICT per table: far cheaper per row than executemany.
_STAGING = (
    "CREATE TEMP TABLE IF NOT EXISTS staged_events (LIKE tracking_events INCLUDING DEFAULTS) "
    "ON COMMIT DELETE ROWS",
    "CREATE TEMP TABLE IF NOT EXISTS staged_shipments (LIKE shipments INCLUDING DEFAULTS) "
    "ON COMMIT DELETE ROWS",
)
_COPY_EVENTS = f"COPY staged_events ({', '.join(_EVENT_COLUMNS)}) FROM STDIN"
_COPY_SHIPMENTS = f"COPY staged_shipments ({', '.join(_SHIPMENT_COLUMNS)}) FROM STDIN"
_MERGE_EVENTS = (
    f"INSERT INTO tracking_events ({', '.join(_EVENT_COLUMNS)}) "
    f"SELECT {', '.join(_EVENT_COLUMNS)} FROM staged_events ON CONFLICT (shipment_key, event_id) DO NOTHING"
)
# event_count is counted from the stored events, not taken from the state: after a crash between
# this write and the table write, the replay would count the same events twice.
_MERGE_SHIPMENTS = (
    f"INSERT INTO shipments ({', '.join(_SHIPMENT_COLUMNS)}) "
    "SELECT " + ", ".join(
        "(SELECT count(*) FROM tracking_events t WHERE t.shipment_key = s.shipment_key)"
        if c == "event_count" else f"s.{c}" for c in _SHIPMENT_COLUMNS
    ) + " FROM staged_shipments s "
    "ON CONFLICT (shipment_key) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in _SHIPMENT_COLUMNS[1:])
    + " WHERE shipments.version < EXCLUDED.version"
)

_INSERT_DEADLETTER = """
INSERT INTO dead_letters (source, carrier, error, reason, payload, payload_b64, headers, received_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (source) DO NOTHING
"""


#: PostgreSQL text and jsonb cannot hold NUL; a NUL that a source sent (valid JSON: ``"\u0000"``) is
#: stored as U+FFFD instead of failing the whole batch forever.
_NUL, _REPLACEMENT = "\x00", "\ufffd"


def storable(value: Any) -> Any:
    """``value`` with every NUL in its strings (and, inside JSON, its keys) replaced by U+FFFD."""
    if isinstance(value, str):
        return value.replace(_NUL, _REPLACEMENT) if _NUL in value else value
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable(v) for v in value]
    return value


def _json(value: Any) -> Jsonb | None:
    return Jsonb(storable(value), dumps=_dumps) if value else None


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _row(*values: Any) -> tuple[Any, ...]:
    return tuple(storable(v) if isinstance(v, str) else v for v in values)


def event_row(event: TrackingEvent) -> tuple[Any, ...]:
    return _row(
        event.key, event.event_id, event.carrier, event.tracking_number, event.status,
        event.substatus, event.code, event.description, event.occurred_at, event.local_time,
        event.tz_source, _json(event.location.to_dict() if event.location else None), event.mapped,
        event.source, _json(dict(event.attributes)), event.received_at,
    )


def shipment_row(state: ShipmentState) -> tuple[Any, ...]:
    reg = state.registration or {}
    return _row(
        state.key, state.carrier, state.tracking_number, state.status, state.substatus, state.code,
        state.description, state.last_event_id, state.last_event_at, state.first_event_at,
        state.delivered_at, _json(state.location), 0, reg.get("order_number"),
        reg.get("customer"), reg.get("destination_postcode"), reg.get("destination_country"),
        reg.get("service_level"), reg.get("despatched_at"), reg.get("promised_delivery_date"),
        reg.get("registered_at"), state.version, state.updated_at,
    )


async def _prepare_connection(conn: AsyncConnection[Any]) -> None:
    try:
        for ddl in _STAGING:
            await conn.execute(ddl)
        await conn.commit()
    except BaseException:
        # never leave the session "idle in transaction (aborted)": the pool discards the connection,
        # and an open aborted transaction would hold locks until the server drops it
        await conn.rollback()
        raise


class PostgresSink:
    """Owns the worker's connection pool; opened and closed with the worker."""

    def __init__(self, database_url: str, pool_size: int = 4, public_url: str = "") -> None:
        self.public_url = public_url  # links in outbound messages (TRACKSTREAM_PUBLIC_URL)
        self.pool = AsyncConnectionPool(
            database_url, min_size=1, max_size=pool_size, open=False,
            kwargs={"autocommit": False}, name="trackstream-sink", configure=_prepare_connection,
        )
        self._opened = False
        self._open_lock = asyncio.Lock()

    async def open(self) -> None:
        """Idempotent and safe to call concurrently (the start-up task and the first write race)."""
        async with self._open_lock:
            if not self._opened:
                await self.pool.open(wait=True, timeout=60)
                self._opened = True

    async def close(self) -> None:
        async with self._open_lock:
            if self._opened:
                await self.pool.close()
                self._opened = False

    async def write(self, events: Sequence[TrackingEvent], states: Sequence[ShipmentState],
                    alerts: Sequence[dict[str, Any]] = ()) -> None:
        """Write one batch in one transaction, retrying until PostgreSQL takes it.

        Retrying forever (with backoff) blocks this partition rather than acking input that is not
        stored: at-least-once, nothing accepted is lost.
        """
        if not events and not states and not alerts:
            return
        await self.open()
        await retry_forever(lambda: self._write_once(events, states, alerts), "PostgreSQL write",
                            on_error=metrics.SINK_ERRORS.inc)

    async def _write_once(self, events: Sequence[TrackingEvent], states: Sequence[ShipmentState],
                          alerts: Sequence[dict[str, Any]] = ()) -> None:
        started = time.perf_counter()
        async with self.pool.connection() as conn:
            async with conn.cursor() as cur:
                if events:
                    async with cur.copy(_COPY_EVENTS) as copy:
                        for event in events:
                            await copy.write_row(event_row(event))
                    await cur.execute(_MERGE_EVENTS)
                if states:
                    async with cur.copy(_COPY_SHIPMENTS) as copy:
                        for state in states:
                            await copy.write_row(shipment_row(state))
                    # subscribers' messages, in this transaction (before the upsert: it compares
                    # with the stored status); one indexed lookup when nobody subscribed
                    await enqueue_changes(cur, events, states, self.public_url)
                    await cur.execute(_MERGE_SHIPMENTS)
                if alerts:
                    await alert_rows.apply_changes(cur, alerts)
            await conn.commit()
        metrics.SINK_BATCH_SECONDS.observe(time.perf_counter() - started)
        metrics.SINK_ROWS.labels("events").inc(len(events))
        metrics.SINK_ROWS.labels("shipments").inc(len(states))

    async def write_deadletter(self, letter: DeadLetter) -> None:
        await self.open()
        d = letter.to_dict()
        payload, payload_b64 = d["payload"], d["payload_b64"]
        if payload is not None and _NUL in payload:  # not storable as text: its exact bytes, as base64
            payload, payload_b64 = None, base64.b64encode(letter.payload).decode()
        row = _row(
            letter.source, letter.carrier, letter.error,
            letter.reason, payload, payload_b64, _json(d["headers"]), letter.received_at,
        )

        async def insert() -> None:
            async with self.pool.connection() as conn:
                await conn.execute(_INSERT_DEADLETTER, row)
                await conn.commit()

        await retry_forever(insert, "PostgreSQL dead-letter write", on_error=metrics.SINK_ERRORS.inc)

    async def heartbeat(self, worker_id: str, info: dict[str, Any]) -> None:
        await self.open()
        async with self.pool.connection() as conn:
            await conn.execute(
                "INSERT INTO worker_heartbeats (worker_id, seen_at, info) VALUES (%s, now(), %s) "
                "ON CONFLICT (worker_id) DO UPDATE SET seen_at = now(), info = EXCLUDED.info",
                (worker_id, Jsonb(info)),
            )
            await conn.commit()
