"""Shipment registration (OMS/WMS despatch) and shipment updates: contracts of
``shipments.registered`` and ``shipment.updates``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import orjson

from schemas.events import format_utc, normalize_tracking_number, parse_utc, shipment_key


@dataclass(frozen=True, slots=True)
class ShipmentRegistration:
    carrier: str
    tracking_number: str
    registered_at: datetime
    order_number: str | None = None
    customer: str | None = None
    destination_postcode: str | None = None
    destination_country: str | None = None
    service_level: str | None = None
    despatched_at: datetime | None = None
    promised_delivery_date: date | None = None

    @property
    def key(self) -> str:
        return shipment_key(self.carrier, self.tracking_number)

    def to_dict(self) -> dict[str, Any]:
        return {
            "shipment_key": self.key,
            "carrier": self.carrier,
            "tracking_number": normalize_tracking_number(self.tracking_number),
            "registered_at": format_utc(self.registered_at),
            "order_number": self.order_number,
            "customer": self.customer,
            "destination_postcode": self.destination_postcode,
            "destination_country": self.destination_country,
            "service_level": self.service_level,
            "despatched_at": format_utc(self.despatched_at) if self.despatched_at else None,
            "promised_delivery_date": (
                self.promised_delivery_date.isoformat() if self.promised_delivery_date else None
            ),
        }

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ShipmentRegistration:
        despatched = data.get("despatched_at")
        promised = data.get("promised_delivery_date")
        return cls(
            carrier=data["carrier"],
            tracking_number=normalize_tracking_number(data["tracking_number"]),
            registered_at=parse_utc(data["registered_at"]),
            order_number=data.get("order_number"),
            customer=data.get("customer"),
            destination_postcode=data.get("destination_postcode"),
            destination_country=data.get("destination_country"),
            service_level=data.get("service_level"),
            despatched_at=parse_utc(despatched) if despatched else None,
            promised_delivery_date=date.fromisoformat(promised) if promised else None,
        )

    @classmethod
    def from_json(cls, payload: bytes) -> ShipmentRegistration:
        return cls.from_dict(orjson.loads(payload))


@dataclass(frozen=True, slots=True)
class ShipmentUpdate:
    """A state transition of one shipment, published on ``shipment.updates``."""

    shipment_key: str
    carrier: str
    tracking_number: str
    previous_status: str
    status: str
    substatus: str | None
    event_id: str | None
    occurred_at: datetime | None
    sequence: int  # per-shipment, increases with every transition

    def to_dict(self) -> dict[str, Any]:
        return {
            "shipment_key": self.shipment_key,
            "carrier": self.carrier,
            "tracking_number": self.tracking_number,
            "previous_status": self.previous_status,
            "status": self.status,
            "substatus": self.substatus,
            "event_id": self.event_id,
            "occurred_at": format_utc(self.occurred_at) if self.occurred_at else None,
            "sequence": self.sequence,
        }
