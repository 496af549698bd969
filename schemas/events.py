"""``TrackingEvent``: one normalized carrier event, the contract of the ``tracking.events`` topic.

Wire format (JSON, orjson): a message on ``tracking.events`` is ``{"events": [<event>, ...]}``. One
message carries one or more events whose shipment keys all hash to the message's partition (the
normalizer groups the events of one raw payload by partition), so a consumer can treat each event
on its own while the pipeline pays Faust's per-message cost once per group. Timestamps are RFC 3339
UTC strings ending in ``Z``.

Plain frozen dataclasses instead of ``faust.Record``: orjson (de)serializes them an order of
magnitude faster than Record's ``to_representation`` path, and they carry no Faust metadata, so any
producer or consumer can read the topic.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson

_SPACES = re.compile(r"\s+")


def normalize_tracking_number(tracking_number: str) -> str:
    """Upper-cased, all whitespace removed (DESIGN.md, shipment key)."""
    return _SPACES.sub("", tracking_number).upper()


@lru_cache(maxsize=65536)
def shipment_key(carrier: str, tracking_number: str) -> str:
    """``"<carrier>:<TRACKING_NUMBER>"``: the key of every topic after normalization."""
    return f"{carrier.strip().lower()}:{normalize_tracking_number(tracking_number)}"


def format_utc(instant: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` (fractional seconds kept only when present)."""
    if instant.tzinfo is None:
        raise ValueError("naive datetime: trackstream only handles aware instants")
    utc = instant if instant.tzinfo is UTC else instant.astimezone(UTC)
    # isoformat() is several times faster than strftime; it ends in "+00:00" for UTC
    return utc.isoformat()[:-6] + "Z"


def format_utc_seconds(instant: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` exactly (sub-second digits dropped): the CLI's output format."""
    return format_utc(instant.replace(microsecond=0))


def parse_utc(text: str) -> datetime:
    """Parse an ISO 8601 instant that carries an offset (or ``Z``); reject naive text."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"timestamp without offset: {text!r}")
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError(f"timestamp out of range: {text!r}") from exc


def derive_event_id(carrier: str, tracking_number: str, occurred_at: datetime, code: str) -> str:
    """Deterministic id for carriers without their own event id.

    A hash of carrier, tracking number, the UTC instant and the carrier code: never free text such
    as location names, which carriers rewrite between deliveries of the same event.
    """
    material = "|".join(
        (carrier.lower(), normalize_tracking_number(tracking_number), format_utc(occurred_at), code)
    )
    return hashlib.sha256(material.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Location:
    """Where an event happened, as far as the carrier says."""

    city: str | None = None
    postcode: str | None = None
    country: str | None = None  # ISO 3166-1 alpha-2
    lat: float | None = None
    lon: float | None = None
    code: str | None = None  # carrier depot / facility code
    text: str | None = None  # the carrier's own free text

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in (
            ("city", self.city), ("postcode", self.postcode), ("country", self.country),
            ("lat", self.lat), ("lon", self.lon), ("code", self.code), ("text", self.text),
        ) if v is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Location | None:
        if not data:
            return None
        lat, lon = data.get("lat"), data.get("lon")
        return cls(
            city=data.get("city"), postcode=data.get("postcode"), country=data.get("country"),
            lat=float(lat) if lat is not None else None, lon=float(lon) if lon is not None else None,
            code=data.get("code"), text=data.get("text"),
        )


#: Where the UTC offset of ``occurred_at`` came from (``carriers.zones`` resolves local times in
#: this order; README "Contracts", Time).
TZ_GIVEN = "given"  # the carrier gave an offset or UTC
TZ_COORDINATES = "coordinates"  # the zone at the event's latitude / longitude
TZ_LOCATION_CODE = "location_code"  # the zone of the event's IATA-style location code (airport, city)
TZ_LOCATION = "location"  # the zone of the event's city / state / province (stored events: its country too)
TZ_COUNTRY = "country"  # the event's country, whose zones all agree at that time
TZ_SHIPMENT_COUNTRY = "shipment_country"  # the shipment's origin / destination country on that leg
TZ_CARRIER_ZONE = "carrier_zone"  # the carrier writes every local time in one zone, wherever the event (MyParcel)
TZ_ASSUMED = "assumed"  # nothing placed the event: the carrier's home zone, assumed (counted)
TZ_HOME = "home"  # written before trackstream resolved zones from data: the carrier's home zone
#: every value an event may carry, stored ones included
TZ_SOURCES = (TZ_GIVEN, TZ_COORDINATES, TZ_LOCATION_CODE, TZ_LOCATION, TZ_COUNTRY, TZ_SHIPMENT_COUNTRY,
              TZ_CARRIER_ZONE, TZ_ASSUMED, TZ_HOME)


@dataclass(frozen=True, slots=True)
class TrackingEvent:
    event_id: str
    carrier: str
    tracking_number: str  # normalized (upper case, no spaces)
    status: str  # schemas.taxonomy.Status value
    substatus: str | None
    code: str  # the carrier's own code, always kept
    description: str  # the carrier's own text, always kept
    occurred_at: datetime  # aware, UTC
    local_time: str  # the carrier's original timestamp text
    tz_source: str  # one of TZ_SOURCES
    received_at: datetime  # when trackstream got the payload (UTC)
    location: Location | None = None
    mapped: bool = True  # False: the carrier code is not in the mapping table (status unknown)
    source: str = "webhook"  # webhook / poll / feed / api
    attributes: Mapping[str, Any] = field(default_factory=dict)  # carrier extras (order number, ...)

    @property
    def key(self) -> str:
        return shipment_key(self.carrier, self.tracking_number)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "event_id": self.event_id,
            "shipment_key": self.key,
            "carrier": self.carrier,
            "tracking_number": self.tracking_number,
            "status": self.status,
            "substatus": self.substatus,
            "code": self.code,
            "description": self.description,
            "occurred_at": format_utc(self.occurred_at),
            "local_time": self.local_time,
            "tz_source": self.tz_source,
            "received_at": format_utc(self.received_at),
            "location": self.location.to_dict() if self.location else None,
            "mapped": self.mapped,
            "source": self.source,
        }
        if self.attributes:
            out["attributes"] = dict(self.attributes)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrackingEvent:
        return cls(
            event_id=data["event_id"],
            carrier=data["carrier"],
            tracking_number=data["tracking_number"],
            status=data["status"],
            substatus=data.get("substatus"),
            code=data.get("code") or "",
            description=data.get("description") or "",
            occurred_at=parse_utc(data["occurred_at"]),
            local_time=data.get("local_time") or "",
            tz_source=data.get("tz_source") or TZ_GIVEN,
            received_at=parse_utc(data["received_at"]),
            location=Location.from_dict(data.get("location")),
            mapped=bool(data.get("mapped", True)),
            source=data.get("source") or "webhook",
            attributes=data.get("attributes") or {},
        )


#: Largest ``tracking.events`` / ``shipment.changes`` message a worker writes (bytes, approximately):
#: well below the broker's and the producer's 1 MB message limit, which a batch grouped per
#: partition would otherwise exceed under a backlog (a large file feed), stalling the partition.
MAX_MESSAGE_BYTES = 512 * 1024


def encode_events(events: Iterable[TrackingEvent]) -> bytes:
    return orjson.dumps({"events": [e.to_dict() for e in events]})


def encode_event_messages(events: Iterable[TrackingEvent],
                          limit: int = MAX_MESSAGE_BYTES) -> list[tuple[TrackingEvent, bytes]]:
    """``{"events": [...]}`` messages of at most ``limit`` bytes (one event alone may exceed it),
    in order; each with its first event (whose key the message is sent with)."""
    out: list[tuple[TrackingEvent, bytes]] = []
    parts: list[bytes] = []
    first: TrackingEvent | None = None
    size = 0
    for event in events:
        part = orjson.dumps(event.to_dict())
        if parts and first is not None and size + len(part) + 1 > limit:
            out.append((first, b'{"events":[' + b",".join(parts) + b"]}"))
            parts, size = [], 0
        if not parts:
            first = event
        parts.append(part)
        size += len(part) + 1
    if parts and first is not None:
        out.append((first, b'{"events":[' + b",".join(parts) + b"]}"))
    return out


def decode_events(payload: bytes) -> list[TrackingEvent]:
    body = orjson.loads(payload)
    return [TrackingEvent.from_dict(item) for item in body["events"]]
