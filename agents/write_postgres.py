"""``write_postgres``: ``shipment.changes`` → PostgreSQL, the store of record.

A sink writes no tables, so it reads in batches (``take``): many messages of all its partitions
become one COPY-based transaction. Within a batch only each shipment's newest state (highest
version) is written; events are deduplicated by the upsert. ``take`` acks the batch after the body
returns, and the body returns only once PostgreSQL committed (``PostgresSink.write`` retries until
it does), so offsets never pass unwritten changes.
"""

from __future__ import annotations

import logging

import faust
import orjson
from faust.types import StreamT

from schemas.changes import decode_changes
from schemas.events import TrackingEvent
from sinks.postgres import PostgresSink
from tables.shipment_states import ShipmentState
from trackstream.settings import Settings
from trackstream.topics_faust import Topics

log = logging.getLogger(__name__)


def merge_changes(payloads: list[bytes]) -> tuple[list[TrackingEvent], list[ShipmentState]]:
    """Events of all payloads, and per shipment only the state with the highest version (pure)."""
    events: list[TrackingEvent] = []
    newest: dict[str, ShipmentState] = {}
    for payload in payloads:
        try:
            batch_events, states = decode_changes(payload)
        except (ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
            log.error("undecodable shipment.changes message skipped: %s", exc)
            continue
        events += batch_events
        for state in states:
            kept = newest.get(state.key)
            if kept is None or state.version > kept.version:
                newest[state.key] = state
    return events, list(newest.values())


def register(app: faust.App, topics: Topics, sink: PostgresSink, settings: Settings) -> None:
    async def write_postgres(stream: StreamT[bytes]) -> None:
        async for payloads in stream.take(settings.sink_batch, within=settings.sink_within):
            events, states = merge_changes(list(payloads))
            await sink.write(events, states)

    app.agent(topics.changes, name="write_postgres")(write_postgres)
