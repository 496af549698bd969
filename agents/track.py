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
from datetime import datetime
from typing import Any

import faust
import orjson
from faust.types import TP, StreamT, TableT

from agents.alerting import Alerting
from agents.shipment_state import DedupPolicy, Outcome, apply_events, apply_registration
from schemas.changes import encode_alert_changes, encode_changes_messages
from schemas.events import TrackingEvent, decode_events
from schemas.shipments import ShipmentRegistration
from tables.shipment_states import ShipmentState
from trackstream import metrics
from trackstream.alerts.lifecycle import decide
from trackstream.retry import retry_forever
from trackstream.topics import ALERT_TICKS, SHIPMENTS_REGISTERED
from trackstream.topics_faust import Topics

log = logging.getLogger(__name__)
#: alerts per tracking.alerts message (each ~450 bytes: well inside a message's size limit)
ALERTS_PER_MESSAGE = 500


def register(app: faust.App, topics: Topics, states: TableT[str, bytes], policy: DedupPolicy,
             alerting: Alerting | None = None) -> None:
    alerting = alerting or Alerting()

    def load(key: str) -> ShipmentState | None:
        raw = states.get(key)
        return ShipmentState.decode(raw) if raw else None

    async def track(stream: StreamT[bytes]) -> None:
        async for event in stream.events():
            message = event.message
            now = alerting.clock()
            if message.topic == ALERT_TICKS:
                await _tick(message.partition, now)
                continue
            alerting.ensure_index(message.partition, states)
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
            before = {o.state.key: o.state.due for o in changed}
            decided = {o.state.key: [c.to_dict() for c in decide(o.state, now, alerting.rules)] for o in changed}
            alerts = {key: found for key, found in decided.items() if found}
            # The decision must be durable before the table remembers it: RocksDB keeps local
            # writes even when the worker dies before its offsets are committed, and a replay
            # would then see the events as duplicates and never hand them to the sinks.
            await _publish_changes(changed, message.partition, alerts)
            for outcome in changed:
                states[outcome.state.key] = outcome.state.encode()
                alerting.index.move(message.partition, outcome.state.key, before[outcome.state.key],
                                    outcome.state.due)
            if alerts:
                await _publish_alerts([a for found in alerts.values() for a in found], message.partition)
            updates = [o.update.to_dict() for o in changed if o.update is not None]
            if updates:
                await topics.updates.send(
                    key=updates[0]["shipment_key"].encode(), value=orjson.dumps({"updates": updates}),
                    partition=message.partition,
                )
            _count(outcomes)

    async def _tick(partition: int, now: datetime) -> None:
        """Open what fell due on ``partition`` by ``now`` (at most ``alerting.per_tick`` shipments)."""
        alerting.ensure_index(partition, states)
        due = alerting.index.due(partition, now, alerting.per_tick)
        if not due:
            return
        touched: list[tuple[ShipmentState, datetime]] = []
        alerts: list[dict[str, Any]] = []
        for when, key in due:
            state = load(key)
            if state is None or state.due != when:  # stale: the state moved on since
                alerting.index.drop(partition, when, key)
                continue
            alerts += [c.to_dict() for c in decide(state, now, alerting.rules)]
            touched.append((state, when))
        if alerts:  # durable before the table remembers them, as for events
            async def send() -> None:
                sent = [await topics.changes.send(key=touched[0][0].key.encode(), value=value, partition=partition,
                                                  force=True) for value in encode_alert_changes(alerts)]
                await asyncio.gather(*sent)

            await retry_forever(send, "publishing alert changes")
        for state, was in touched:
            states[state.key] = state.encode()
            alerting.index.move(partition, state.key, was, state.due)
        if alerts:
            await _publish_alerts(alerts, partition)
        metrics.ALERT_TICK_DUE.observe(len(due))

    async def _publish_alerts(alerts: list[dict[str, Any]], partition: int) -> None:
        """``tracking.alerts``: a message per batch of at most ``ALERTS_PER_MESSAGE``, keyed by its
        first alert's subject."""
        for start in range(0, len(alerts), ALERTS_PER_MESSAGE):
            batch = alerts[start:start + ALERTS_PER_MESSAGE]
            subject = str(batch[0].get("shipment_key") or batch[0].get("feed") or "")
            await topics.alerts.send(key=subject.encode(), value=orjson.dumps({"alerts": batch}),
                                     partition=partition)
        for alert in alerts:
            metrics.ALERTS.labels(str(alert["type"]), str(alert["state"])).inc()

    async def _publish_changes(changed: list[Outcome], partition: int,
                               alerts: dict[str, list[dict[str, Any]]]) -> None:
        messages = encode_changes_messages([(o.accepted, o.state) for o in changed], alerts=alerts)

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

    async def send_ticks() -> None:
        """Every ``TRACKSTREAM_ALERT_TICK_SECONDS``, every worker ticks the partitions it holds (the
        assignor gives one worker the same partition of all the agent's topics), so the track agent
        visits each partition's due-time index in stream context (a timer cannot write tables).
        After a rebalance a tick may reach the partition's new owner: one more visit, harmless."""
        held = sorted({tp.partition for tp in app.consumer.assignment() if tp.topic == ALERT_TICKS})
        if not held:
            return
        value = orjson.dumps({"at": alerting.clock().isoformat()})
        for partition in held:
            await topics.alert_ticks.send(key=b"tick", value=value, partition=partition)

    async def forget_partitions(sender: object, revoked: set[TP], **kwargs: object) -> None:
        alerting.forget({tp.partition for tp in revoked})

    app.agent(topics.track_input, name="track")(track)
    app.timer(alerting.tick_seconds)(send_ticks)
    app.on_partitions_revoked.connect(forget_partitions)  # type: ignore[arg-type]
