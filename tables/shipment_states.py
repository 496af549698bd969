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
from datetime import UTC, datetime
from typing import Any

import faust
import orjson
from faust.types import TableT

from schemas.events import format_utc, parse_utc


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

    def encode(self) -> bytes:
        return orjson.dumps({
            "key": self.key, "carrier": self.carrier, "tracking_number": self.tracking_number,
            "status": self.status, "substatus": self.substatus, "code": self.code,
            "description": self.description, "last_event_id": self.last_event_id,
            "last_event_at": _fmt(self.last_event_at), "last_rank": self.last_rank,
            "first_event_at": _fmt(self.first_event_at), "delivered_at": _fmt(self.delivered_at),
            "location": self.location, "event_count": self.event_count,
            "registration": self.registration, "seen": self.seen, "version": self.version,
            "updated_at": _fmt(self.updated_at),
        })

    @classmethod
    def decode(cls, payload: bytes) -> ShipmentState:
        d = orjson.loads(payload)
        return cls(
            key=d["key"], carrier=d["carrier"], tracking_number=d["tracking_number"],
            status=d["status"], substatus=d.get("substatus"), code=d.get("code"),
            description=d.get("description"), last_event_id=d.get("last_event_id"),
            last_event_at=_parse(d.get("last_event_at")), last_rank=d.get("last_rank", -1),
            first_event_at=_parse(d.get("first_event_at")), delivered_at=_parse(d.get("delivered_at")),
            location=d.get("location"), event_count=d.get("event_count", 0),
            registration=d.get("registration"), seen=[(int(t), str(i)) for t, i in d.get("seen", [])],
            version=d.get("version", 0), updated_at=_parse(d.get("updated_at")) or datetime.now(UTC),
        )


def _fmt(value: datetime | None) -> str | None:
    return format_utc(value) if value else None


def _parse(value: str | None) -> datetime | None:
    return parse_utc(value) if value else None


def shipment_states_table(app: faust.App, partitions: int) -> TableT[str, bytes]:
    return app.Table(
        "shipment_states",
        key_type=str,
        value_type=bytes,
        partitions=partitions,
        help="Per-shipment state: status, dedup horizon, registration (ShipmentState as JSON).",
    )
