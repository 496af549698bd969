"""``shipment.changes``: what the ``track`` agent decided, for the sinks.

One message (or, above ``MAX_MESSAGE_BYTES``, several) per processed input message:
``{"events": [<TrackingEvent>...], "shipments": [<state>...], "alerts": [<alert change>...]}``
(``alerts`` only when some opened or resolved)
with the events ``track`` accepted (new, not duplicates) and the new state of every shipment they
changed (the ``shipment_states`` table's compact form: a JSON array whose first item is its format
version). All belong to the message's partition. The PostgreSQL writer consumes it; any other sink
(a search index, a data lake) can too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from schemas.events import MAX_MESSAGE_BYTES, TrackingEvent
from tables.shipment_states import ShipmentState


def encode_changes(events: Sequence[TrackingEvent], states: Sequence[ShipmentState]) -> bytes:
    events_json = orjson.dumps([e.to_dict() for e in events])
    return b'{"events":' + events_json + b',"shipments":[' + b",".join(s.encode() for s in states) + b"]}"


def encode_changes_messages(changes: Sequence[tuple[Sequence[TrackingEvent], ShipmentState]],
                            limit: int = MAX_MESSAGE_BYTES,
                            alerts: Mapping[str, Sequence[dict[str, Any]]] | None = None,
                            ) -> list[tuple[ShipmentState, bytes]]:
    """The changes of several shipments (accepted events, new state, and the alerts each opened or
    resolved, ``alerts`` by shipment key, as ``AlertChange.to_dict``) as messages of at most about
    ``limit`` bytes; a shipment's events, state and alerts always share one message. Each message
    comes with its first shipment's state (whose key it is sent with)."""
    alerts = alerts or {}
    out: list[tuple[ShipmentState, bytes]] = []
    events: list[bytes] = []
    states: list[bytes] = []
    changed: list[bytes] = []
    first: ShipmentState | None = None
    size = _WRAPPER
    for accepted, state in changes:
        encoded_events = [orjson.dumps(e.to_dict()) for e in accepted]
        encoded_state = state.encode()
        encoded_alerts = [orjson.dumps(a) for a in alerts.get(state.key, ())]
        part = (sum(len(e) + 1 for e in encoded_events) + len(encoded_state) + 1
                + sum(len(a) + 1 for a in encoded_alerts))
        if states and first is not None and size + part > limit:
            out.append((first, _message(events, states, changed)))
            events, states, changed, size = [], [], [], _WRAPPER
        if not states:
            first = state
        events.extend(encoded_events)
        states.append(encoded_state)
        changed.extend(encoded_alerts)
        size += part
    if states and first is not None:
        out.append((first, _message(events, states, changed)))
    return out


def encode_alert_changes(alerts: Sequence[dict[str, Any]], limit: int = MAX_MESSAGE_BYTES) -> list[bytes]:
    """Changes messages with alerts only (what a tick opened or resolved), each at most about
    ``limit`` bytes."""
    out: list[bytes] = []
    batch: list[bytes] = []
    size = _WRAPPER
    for alert in alerts:
        encoded = orjson.dumps(alert)
        if batch and size + len(encoded) + 1 > limit:
            out.append(_message([], [], batch))
            batch, size = [], _WRAPPER
        batch.append(encoded)
        size += len(encoded) + 1
    if batch:
        out.append(_message([], [], batch))
    return out


_WRAPPER = len(b'{"events":[],"shipments":[],"alerts":[]}')


def _message(events: list[bytes], states: list[bytes], alerts: Sequence[bytes] = ()) -> bytes:
    body = b'{"events":[' + b",".join(events) + b'],"shipments":[' + b",".join(states) + b"]"
    if alerts:
        body += b',"alerts":[' + b",".join(alerts) + b"]"
    return body + b"}"


def decode_changes(payload: bytes) -> tuple[list[TrackingEvent], list[ShipmentState]]:
    events, states, _ = decode_all_changes(payload)
    return events, states


def decode_all_changes(payload: bytes) -> tuple[list[TrackingEvent], list[ShipmentState], list[dict[str, Any]]]:
    """(events, states, alert changes) of a message."""
    body = orjson.loads(payload)
    alerts = body.get("alerts", [])
    if not isinstance(alerts, list):
        raise ValueError("alerts must be a list")
    return ([TrackingEvent.from_dict(e) for e in body["events"]],
            [ShipmentState.from_list(s) for s in body["shipments"]], alerts)
