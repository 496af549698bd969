"""``shipment_states``: shipment key → ``ShipmentState`` (orjson bytes), RocksDB-backed.

Invariants:
- one entry per shipment key, written only by the ``track`` agent while it processes a message of
  the key's partition (``tracking.events`` / ``shipments.registered`` are co-partitioned with the
  table's changelog);
- ``status`` is the status of the newest event by (occurred_at, status rank, event id); an older
  event never changes it;
- ``seen`` holds (occurred_at ms, event id) of the events within the dedup horizon, newest last,
  bounded in count: deduplication lives inside the shipment's state, so one event costs one table
  write, not two;
- ``version`` grows by one with every change; the PostgreSQL upsert only moves forward in it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import faust
import orjson
from faust.types import TableT


@dataclass(slots=True)
class ShipmentState:
    key: str
    carrier: str
    tracking_number: str
    status: str
    substatus: str | None = None
    code: str | None = None
    description: str | None = None
    last_event_id: str | None = None
    last_event_at: datetime | None = None
    last_rank: int = -1
    first_event_at: datetime | None = None
    delivered_at: datetime | None = None
    location: dict[str, Any] | None = None
    event_count: int = 0
    registration: dict[str, Any] | None = None
    seen: list[tuple[int, str]] = field(default_factory=list)
    version: int = 0
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    #: occurred_at of the first event at the current location (``stuck_at_location``)
    location_since: datetime | None = None
    #: the alert types the stream has open for this shipment → when each opened (µs since the epoch)
    alerts: dict[str, int] = field(default_factory=dict)
    #: the earliest instant a time-based alert condition will hold if nothing changes (due index)
    due: datetime | None = None

    def encode(self) -> bytes:
        return orjson.dumps([
            _VERSION, self.key, self.carrier, self.tracking_number, self.status, self.substatus,
            self.code, self.description, self.last_event_id, _us(self.last_event_at), self.last_rank,
            _us(self.first_event_at), _us(self.delivered_at), self.location, self.event_count,
            self.registration, self.seen, self.version, _us(self.updated_at),
            _us(self.location_since), self.alerts, _us(self.due),
        ])

    @classmethod
    def decode(cls, payload: bytes) -> ShipmentState:
        return cls.from_list(orjson.loads(payload))

    @classmethod
    def from_list(cls, d: list[Any]) -> ShipmentState:
        if not isinstance(d, list) or not d or d[0] not in (1, _VERSION):
            raise ValueError(f"not a shipment state (version 1 or {_VERSION}): {str(d)[:80]}")
        extra: dict[str, Any] = {}
        if d[0] >= 2:  # version 1 (before alerts) reads with none open and nothing due
            extra = {"location_since": _dt(d[19]), "alerts": dict(d[20]), "due": _dt(d[21])}
        return cls(
            key=d[1], carrier=d[2], tracking_number=d[3], status=d[4], substatus=d[5], code=d[6],
            description=d[7], last_event_id=d[8], last_event_at=_dt(d[9]), last_rank=d[10],
            first_event_at=_dt(d[11]), delivered_at=_dt(d[12]), location=d[13], event_count=d[14],
            registration=d[15], seen=[(t, i) for t, i in d[16]], version=d[17],
            updated_at=_dt(d[18]) or datetime.now(UTC), **extra,
        )


#: Encoding: a JSON array (positional, compact) whose first item is this format version; instants
#: are integer microseconds since the epoch (exact, and much cheaper than ISO text to read back).
#: Version 2 appends location_since, alerts and due; version 1 states still read.
_VERSION = 2
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


def _us(value: datetime | None) -> int | None:
    return (value - _EPOCH) // _MICRO if value is not None else None


def _dt(value: int | None) -> datetime | None:
    return _EPOCH + timedelta(microseconds=value) if value is not None else None


def shipment_states_table(app: faust.App, partitions: int) -> TableT[str, bytes]:
    return app.Table(
        "shipment_states",
        key_type=str,
        value_type=bytes,
        partitions=partitions,
        help="Per-shipment state: status, dedup horizon, registration (ShipmentState as JSON).",
    )
