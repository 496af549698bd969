"""``shipment.changes``: what the ``track`` agent decided, for the sinks.

One message per processed input message: ``{"events": [<TrackingEvent>...], "shipments": [<state>...]}``
with the events ``track`` accepted (new, not duplicates) and the new state of every shipment they
changed (the ``shipment_states`` table's compact form: a JSON array whose first item is its format
version). All belong to the message's partition. The PostgreSQL writer consumes it; any other sink
(a search index, a data lake) can too.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from schemas.events import TrackingEvent
from tables.shipment_states import ShipmentState


def encode_changes(events: Sequence[TrackingEvent], states: Sequence[ShipmentState]) -> bytes:
    events_json = orjson.dumps([e.to_dict() for e in events])
    return b'{"events":' + events_json + b',"shipments":[' + b",".join(s.encode() for s in states) + b"]}"


def decode_changes(payload: bytes) -> tuple[list[TrackingEvent], list[ShipmentState]]:
    body = orjson.loads(payload)
    return ([TrackingEvent.from_dict(e) for e in body["events"]],
            [ShipmentState.from_list(s) for s in body["shipments"]])
