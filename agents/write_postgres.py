"""``write_postgres``: ``shipment.changes`` → PostgreSQL, the store of record.

A sink writes no tables, so it reads in batches (``take``): many messages of all its partitions
become one COPY-based transaction. Within a batch only each shipment's newest state (highest
version) is written; events are deduplicated by the upsert. ``take`` acks the batch after the body
returns, and the body returns only once PostgreSQL committed (``PostgresSink.write`` retries until
it does), so offsets never pass unwritten changes.
"""

from __future__ import annotations

import logging
from typing import Any

import faust
import orjson
from faust.types import StreamT

from schemas.changes import decode_all_changes
from schemas.events import TrackingEvent
from sinks.postgres import PostgresSink
from tables.shipment_states import ShipmentState
from trackstream.settings import Settings
from trackstream.topics_faust import Topics

log = logging.getLogger(__name__)


def merge_changes(payloads: list[bytes]) -> tuple[list[TrackingEvent], list[ShipmentState]]:
    """Events of all payloads, and per shipment only the state with the highest version (pure)."""
    events, states, _ = merge_all_changes(payloads)
    return events, states


def merge_all_changes(payloads: list[bytes]) -> tuple[list[TrackingEvent], list[ShipmentState], list[dict[str, Any]]]:
    """``merge_changes`` plus the alert changes of all payloads, in order."""
    events: list[TrackingEvent] = []
    alerts: list[dict[str, Any]] = []
    newest: dict[str, ShipmentState] = {}
    for payload in payloads:
        try:
            batch_events, states, batch_alerts = decode_all_changes(payload)
        except (ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
            log.error("undecodable shipment.changes message skipped: %s", exc)
            continue
        events += batch_events
        alerts += batch_alerts
        for state in states:
            kept = newest.get(state.key)
            if kept is None or state.version > kept.version:
                newest[state.key] = state
    return events, list(newest.values()), alerts


def register(app: faust.App, topics: Topics, sink: PostgresSink, settings: Settings) -> None:
    async def write_postgres(stream: StreamT[bytes]) -> None:
        async for payloads in stream.take(settings.sink_batch, within=settings.sink_within):
            events, states, alerts = merge_all_changes(list(payloads))
            await sink.write(events, states, alerts)

    app.agent(topics.changes, name="write_postgres")(write_postgres)
