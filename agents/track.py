"""``track``: per-shipment state from ``tracking.events`` and ``shipments.registered``.

For each message (a group of events of one partition, or one registration) the agent folds the
events into each shipment's state with the pure functions of ``agents.shipment_state``, publishes
the accepted events and new states on ``shipment.changes`` and waits for the broker's
acknowledgement, then records the new states in the ``shipment_states`` table and publishes the
transitions on ``shipment.updates``. The changes are durable first: if the worker dies after that,
the replayed message finds its events already seen, and the sinks still get them from
``shipment.changes``; if it dies before, the replay does everything again (sinks are idempotent).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from datetime import UTC, datetime

import faust
import orjson
from faust.types import StreamT, TableT

from agents.shipment_state import DedupPolicy, Outcome, apply_events, apply_registration
from schemas.changes import encode_changes_messages
from schemas.events import TrackingEvent, decode_events
from schemas.shipments import ShipmentRegistration
from tables.shipment_states import ShipmentState
from trackstream import metrics
from trackstream.retry import retry_forever
from trackstream.topics import SHIPMENTS_REGISTERED
from trackstream.topics_faust import Topics

log = logging.getLogger(__name__)


def register(app: faust.App, topics: Topics, states: TableT[str, bytes], policy: DedupPolicy) -> None:
    def load(key: str) -> ShipmentState | None:
        raw = states.get(key)
        return ShipmentState.decode(raw) if raw else None

    async def track(stream: StreamT[bytes]) -> None:
        async for event in stream.events():
            message = event.message
            now = datetime.now(UTC)
            try:
                if message.topic == SHIPMENTS_REGISTERED:
                    registration = ShipmentRegistration.from_json(message.value or b"")
                    outcomes = [apply_registration(load(registration.key), registration, now)]
                else:
                    outcomes = _apply(decode_events(message.value or b""), now)
            except (ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
                # Only trackstream's own producers write these topics; log and skip what is broken
                # rather than stop the partition. The raw input is still in its raw topic.
                log.error("undecodable message %s:%s:%s: %s", message.topic, message.partition,
                          message.offset, exc)
                continue
            changed = [o for o in outcomes if o.changed]
            if not changed:
                _count(outcomes)
                continue
            # The decision must be durable before the table remembers it: RocksDB keeps local
            # writes even when the worker dies before its offsets are committed, and a replay
            # would then see the events as duplicates and never hand them to the sinks.
            await _publish_changes(changed, message.partition)
            for outcome in changed:
                states[outcome.state.key] = outcome.state.encode()
            updates = [o.update.to_dict() for o in changed if o.update is not None]
            if updates:
                await topics.updates.send(
                    key=updates[0]["shipment_key"].encode(), value=orjson.dumps({"updates": updates}),
                    partition=message.partition,
                )
            _count(outcomes)

    async def _publish_changes(changed: list[Outcome], partition: int) -> None:
        messages = encode_changes_messages([(o.accepted, o.state) for o in changed])

        async def send() -> None:
            sent = [await topics.changes.send(key=first.key.encode(), value=value, partition=partition, force=True)
                    for first, value in messages]
            await asyncio.gather(*sent)

        await retry_forever(send, "publishing shipment changes")

    def _apply(events: list[TrackingEvent], now: datetime) -> list[Outcome]:
        by_key: dict[str, list[TrackingEvent]] = defaultdict(list)
        for e in events:
            by_key[e.key].append(e)
        return [apply_events(load(key), group, now, policy) for key, group in by_key.items()]

    def _count(outcomes: list[Outcome]) -> None:
        for o in outcomes:
            carrier = o.state.carrier
            if o.duplicates:
                metrics.DUPLICATES.labels(carrier).inc(o.duplicates)
            if o.late:
                metrics.LATE.labels(carrier).inc(o.late)
            if o.update is not None:
                metrics.STATE_CHANGES.labels(carrier, o.state.status).inc()

    app.agent(topics.track_input, name="track")(track)
