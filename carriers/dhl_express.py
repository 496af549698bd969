"""DHL Express adapter: MyDHL API tracking (JSON), legacy XML-PI ``TrackingResponse`` and the Unified API.

All are polled (``source="poll"``); DHL Express has no public push, so no ``verify_webhook``.

Shapes. **MyDHL** ``{"shipments": [{"shipmentTrackingNumber", "events", "pieces"}]}``: the waybill is
the tracking number; piece license plates go to ``attributes["piece_ids"]``; ``shipments[].status``
("Success") is not a tracking status and is ignored. When a shipment has no events
(``levelOfDetail=piece``) the piece events are used once per (date, time, offset, code) with
``attributes["piece_tracking_number"]``. ``shipments: []`` and problem documents (``{"title",
"detail", "status": "404"}``) are ``CarrierErrorResponse`` (``not_found`` for 404 / "not found").
**XML-PI** ``TrackingResponse``: one ``AWBInfo`` per waybill, ``ShipmentInfo/ShipmentEvent`` (else
``PieceInfo/PieceEvent``). An ``AWBInfo`` whose ``ActionStatus`` is not ``success`` is skipped when
others have data; when none has, ``CarrierErrorResponse(not_found=True)``. ``*ErrorResponse`` roots
are carrier errors; DTDs are refused. **Unified** (``{"shipments": [{"id", "service": "express"}]}``):
``dhl_parcel_nl.parse_unified`` with this carrier's mapper: an event ``status`` that is an Express
code maps through ``event_codes``, else the coarse ``statusCode``.

Mapping (``mappings/dhl_express.json``): ``typeCode`` / ``EventCode`` → ``event_codes`` (every code
of DHL's unified Express list, 101-104 and ``PO``); unknown codes (XML-PI ``RW``) are ``UNMAPPED``
with code and text kept. Rows with a ``flag`` (PD partial, DD damaged) set ``attributes[flag]``.

Time. ``date`` + ``time`` are local at the event's service area without offset; with
``requestGMTOffsetPerEvent=true`` MyDHL adds ``GMTOffset`` (``TZ_GIVEN``). Otherwise
``carriers.zones`` resolves the service area: its code is an IATA airport or city code
(``TZ_LOCATION_CODE``: LAX, JFK, HMO Hermosillo, MIL Milan), trusted when the airport lies in the
country ending the description (``SYDNEY-AU``, ``KINGSTON-JAM``, ``Barcelona - Spain``; names and
3-letter codes via ``country_names``); else the city and state of the description
(``SPRINGFIELD GARDENS,NY-USA``, ``TZ_LOCATION``); else that country when its zones agree
(``TZ_COUNTRY``); else, without a country, the shipment's origin (shipper, origin service area) or
destination country on that leg (``TZ_SHIPMENT_COUNTRY``). Nothing placed: Europe/Berlin, DHL
Express's head-office zone, as ``TZ_ASSUMED``. DST-correct via ``base.localize``. ``local_time`` is
``date time[ offset]``. Events are returned per waybill oldest first by UTC instant.

Signed-by: ``signedBy``/``Signatory`` of delivery events only (XML-PI puts account numbers and
weights there on other events), else the name in ``"Delivered : ALBY H"``. Whitespace runs in XML-PI
descriptions (line breaks) are collapsed. Ids are derived: carrier, waybill, UTC instant, code.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from carriers import dhl_parcel_nl, zones
from carriers._util import (
    as_list,
    as_utc,
    child_text,
    children,
    compact,
    load_json,
    load_xml,
    local,
    obj,
    sub,
    text,
    tracking_number,
)
from carriers.base import (
    UNMAPPED,
    CarrierErrorResponse,
    CodeMapping,
    PayloadError,
    load_mapping_file,
    parse_code_table,
)
from carriers.zones import DESTINATION, Place
from schemas.events import TZ_GIVEN, Location, TrackingEvent, derive_event_id, format_utc

CARRIER = "dhl_express"
HOME_ZONE = "Europe/Berlin"
_DELIVERY_CODES = frozenset({"OK", "PD", "DD"})
_SIGNED = re.compile(r"^\s*delivered\s*:\s*(\S.*?)\s*$", re.IGNORECASE)
_SPACES = re.compile(r"\s+")
_OFFSET = re.compile(r"^[+-]\d{2}:?\d{2}$")
_AWB_IN_TEXT = re.compile(r"AWBNumber\s+(\w+)", re.IGNORECASE)
_LEADING = b"\xef\xbb\xbf \t\r\n"  # BOM and whitespace before an XML declaration


@dataclass(frozen=True, slots=True)
class _Tables:
    events: dict[str, CodeMapping]
    flags: dict[str, str]
    unified: dict[str, CodeMapping]
    country_names: dict[str, str]


@cache
def _tables() -> _Tables:
    data = load_mapping_file("dhl_express.json")
    rows = data["event_codes"]
    return _Tables(
        parse_code_table(rows), {c: r["flag"] for c, r in rows.items() if isinstance(r, dict) and r.get("flag")},
        parse_code_table(data["unified_status_codes"]), dict(data["country_names"]),
    )


def map_event_code(code: str) -> CodeMapping | None:
    return _tables().events.get(code.strip().upper())


def map_unified_status_code(code: str) -> CodeMapping | None:
    """The Unified Tracking API's coarse ``statusCode`` (``transit``, ``delivered``, ...)."""
    return _tables().unified.get(code.strip().lower())


def event_flag(code: str) -> str | None:
    return _tables().flags.get(code.strip().upper())


def _unified_mapper(status: str, status_code: str) -> tuple[str, CodeMapping, bool, str]:
    found = map_event_code(status) if status else None
    if found is not None:
        return status.strip().upper(), found, True, "event_code"
    coarse = _tables().unified.get(status_code.strip().lower()) if status_code else None
    if coarse is not None:
        return status_code, coarse, True, "unified_status_code"
    code = status.strip().upper() if dhl_parcel_nl.code_like(status.strip().upper()) else ""
    return code or status_code or status, UNMAPPED, False, "none"


# --- places and time ----------------------------------------------------------------------------


def _clean(value: str) -> str:
    return _SPACES.sub(" ", value).strip()


def country_of(area_description: str) -> str | None:
    """``SYDNEY-AU`` → AU, ``KINGSTON-JAM`` → JM, ``Barcelona - Spain`` → ES; None when unknown."""
    tail = _clean(area_description).rsplit("-", 1)[-1].strip().upper() if "-" in area_description else ""
    if not tail:
        return None
    if len(tail) == 2 and tail.isalpha():
        return tail
    return _tables().country_names.get(tail)


def area_location(code: str, description: str) -> Location | None:
    description = _clean(description)
    if not code and not description:
        return None
    city = description.rsplit("-", 1)[0].strip() if "-" in description else description
    return Location(city=city or None, country=country_of(description), code=code or None, text=description or None)


@dataclass(frozen=True, slots=True)
class Shipment:
    """The shipment's own countries, for an event whose service area names none."""

    origin_country: str = ""
    destination_country: str = ""


def shipment_countries(origin: str, origin_area: tuple[str, str], destination: str,
                       destination_area: tuple[str, str]) -> Shipment:
    """Shipper / receiver country, else the country of the service area's description or code."""
    def country(given: str, area: tuple[str, str]) -> str:
        return (zones.country_code(given) or zones.country_code(country_of(area[1]))
                or (zones.code_country(area[0]) if area[0] else ""))
    return Shipment(country(origin, origin_area), country(destination, destination_area))


def event_place(location: Location | None, shipment: Shipment | None = None, leg: str | None = None) -> Place:
    """What a service area says about an event's zone: code, city (``SPRINGFIELD GARDENS,NY`` → city
    and state), country, plus the shipment's countries."""
    shipment = shipment or Shipment()
    city, region = "", ""
    if location is not None and location.city:
        head, _, tail = location.city.rpartition(",")
        city, region = (head.strip(), tail.strip()) if head else (location.city, "")
    return Place(
        code=(location.code or "") if location else "", city=city, region=region,
        country=(location.country or "") if location else "", origin_country=shipment.origin_country,
        destination_country=shipment.destination_country, leg=leg,
    )


def local_instant(date: str, time: str, offset: str, place: Place, what: str) -> tuple[datetime, str, str]:
    """(UTC instant, tz_source, original text) for a DHL Express ``date`` + ``time`` pair."""
    if not date:
        raise PayloadError(f"{what}: missing date")
    raw = f"{date} {time}".strip()
    try:
        naive = datetime.fromisoformat(f"{date}T{time or '00:00:00'}")
    except ValueError as exc:
        raise PayloadError(f"{what}: unreadable date/time {raw!r}") from exc
    if naive.tzinfo is not None:  # an offset inside ``time``: honoured as given
        return as_utc(naive, what), TZ_GIVEN, raw
    if offset:
        if not _OFFSET.match(offset):
            raise PayloadError(f"{what}: unreadable GMTOffset {offset!r}")
        try:  # the pattern admits offsets no zone has (+25:00, +01:60) and digits beyond ASCII
            given = datetime.fromisoformat(f"{date}T{time or '00:00:00'}{offset}")
        except ValueError as exc:
            raise PayloadError(f"{what}: unreadable GMTOffset {offset!r}") from exc
        return as_utc(given, what), TZ_GIVEN, f"{raw} {offset}"
    instant, source = zones.localize_at(naive, place, HOME_ZONE)
    return instant, source, raw


def _extra_time(raw: str, place: Place) -> str:
    """An estimated-delivery style timestamp (naive: read at ``place``) as UTC text ("" when unreadable)."""
    try:
        return format_utc(zones.localize_at(datetime.fromisoformat(raw.strip().replace(" ", "T")), place, HOME_ZONE)[0])
    except (ValueError, PayloadError):
        return ""


# --- one event ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Raw:
    date: str
    time: str
    offset: str
    code: str
    description: str
    signed_by: str
    location: Location | None
    extra: dict[str, Any]


def _event(number: str, raw: _Raw, attrs: Mapping[str, Any], what: str, received_at: datetime,
           shipment: Shipment) -> TrackingEvent:
    if not raw.code:
        raise PayloadError(f"{what}: missing event code")
    code = raw.code.upper()
    found = map_event_code(code)
    mapping = found or UNMAPPED
    place = event_place(raw.location, shipment, zones.leg_of(mapping.status, mapping.substatus))
    instant, tz_source, local_text = local_instant(raw.date, raw.time, raw.offset, place, what)
    extra = dict(attrs)
    extra.update(raw.extra)
    if code in _DELIVERY_CODES:
        matched = _SIGNED.match(raw.description)
        extra.update(compact({"signed_by": raw.signed_by or (matched.group(1) if matched else "")}))
    flag = event_flag(code)
    if flag:
        extra[flag] = True
    return TrackingEvent(
        event_id=derive_event_id(CARRIER, number, instant, code), carrier=CARRIER, tracking_number=number,
        status=mapping.status, substatus=mapping.substatus, code=code, description=raw.description,
        occurred_at=instant, local_time=local_text, tz_source=tz_source, received_at=received_at,
        location=raw.location, mapped=found is not None, source="poll", attributes=extra,
    )


def _instant(event: TrackingEvent) -> datetime:
    return event.occurred_at


# --- MyDHL JSON ---------------------------------------------------------------------------------


def _area(value: Any) -> tuple[str, str]:
    first = next((a for a in as_list(value) if isinstance(a, dict)), {})
    return text(first.get("code")), text(first.get("description"))


def _mydhl_raw(event: Mapping[str, Any], extra: dict[str, Any]) -> _Raw:
    remarks = [text(r.get("value")) for r in as_list(event.get("remarks")) if isinstance(r, dict)]
    extra = {**extra, **compact({"remark": " ".join(r for r in remarks if r)})}
    return _Raw(
        date=text(event.get("date")), time=text(event.get("time")), offset=text(event.get("GMTOffset")),
        code=text(event.get("typeCode")), description=_clean(text(event.get("description"))),
        signed_by=text(event.get("signedBy")), location=area_location(*_area(event.get("serviceArea"))), extra=extra,
    )


def _mydhl_shipment(shipment: Mapping[str, Any], what: str, received_at: datetime) -> list[TrackingEvent]:
    number = tracking_number(shipment.get("shipmentTrackingNumber"), f"{what}.shipmentTrackingNumber")
    pieces = [obj(p, f"{what}.pieces[{i}]") for i, p in enumerate(as_list(shipment.get("pieces")))]
    shipper, receiver = sub(shipment, "shipperDetails"), sub(shipment, "receiverDetails")
    origin_code = _area(shipper.get("serviceArea"))[0]
    dest_code, dest_text = _area(receiver.get("serviceArea"))
    dest_country = text(sub(receiver, "postalAddress").get("countryCode")).upper() or country_of(dest_text)
    origin_country = text(sub(shipper, "postalAddress").get("countryCode"))
    countries = shipment_countries(origin_country, _area(shipper.get("serviceArea")), dest_country or "",
                                   (dest_code, dest_text))
    references = [text(r.get("value")) for r in as_list(shipment.get("shipperReferences")) if isinstance(r, dict)]
    estimated = text(shipment.get("estimatedDeliveryDate") or shipment.get("estimatedTimeOfDelivery"))
    attrs = compact({
        "product_code": text(shipment.get("productCode")),
        "shipment_timestamp": text(shipment.get("shipmentTimestamp")),
        "estimated_delivery_local": estimated,
        "estimated_delivery": _extra_time(estimated, Place(
            code=dest_code, country=dest_country or "", destination_country=countries.destination_country,
            leg=DESTINATION)),
        "pieces": text(shipment.get("numberOfPieces")),
        "piece_ids": [text(p.get("trackingNumber")) for p in pieces if text(p.get("trackingNumber"))],
        "reference": ", ".join(r for r in references if r),
        "total_weight": text(shipment.get("totalWeight")),
        "origin_service_area": origin_code, "origin_country": origin_country,
        "destination_service_area": dest_code, "destination_country": dest_country,
    })
    raws = [(_mydhl_raw(obj(e, f"{what}.events[{i}]"), {}), f"{what}.events[{i}]")
            for i, e in enumerate(as_list(shipment.get("events")))]
    if not raws:
        seen: set[tuple[str, str, str, str]] = set()
        for p_index, piece in enumerate(pieces):
            piece_number = text(piece.get("trackingNumber"))
            for e_index, raw_event in enumerate(as_list(piece.get("events"))):
                label = f"{what}.pieces[{p_index}].events[{e_index}]"
                raw = _mydhl_raw(obj(raw_event, label), compact({"piece_tracking_number": piece_number}))
                key = (raw.date, raw.time, raw.offset, raw.code.upper())
                if key not in seen:
                    seen.add(key)
                    raws.append((raw, label))
    return sorted((_event(number, raw, attrs, label, received_at, countries) for raw, label in raws), key=_instant)


def _json(body: Any, received_at: datetime) -> list[TrackingEvent]:
    if isinstance(body, str):
        raise CarrierErrorResponse(f"DHL Express: {body[:200]}", not_found="not found" in body.lower())
    body = obj(body, "payload")
    error = dhl_parcel_nl.problem_error(body, "DHL Express")
    if error is not None:
        raise error
    if "shipments" not in body:
        raise PayloadError("not a DHL Express response (no shipments)")
    shipments = as_list(body.get("shipments"))
    if not shipments:
        raise CarrierErrorResponse("DHL Express: no shipment found", not_found=True)
    first = obj(shipments[0], "shipments[0]")
    if "shipmentTrackingNumber" not in first and "id" in first:
        return dhl_parcel_nl.parse_unified(body, received_at, carrier=CARRIER, mapper=_unified_mapper,
                                           home=HOME_ZONE)
    events: list[TrackingEvent] = []
    for index, raw in enumerate(shipments):
        events.extend(_mydhl_shipment(obj(raw, f"shipments[{index}]"), f"shipments[{index}]", received_at))
    return events


# --- XML-PI -------------------------------------------------------------------------------------


def _first(element: ET.Element, *path: str) -> ET.Element | None:
    node: ET.Element | None = element
    for name in path:
        found = children(node, name) if node is not None else []
        node = found[0] if found else None
    return node


def _path_text(element: ET.Element, *path: str) -> str:
    node = _first(element, *path[:-1]) if len(path) > 1 else element
    return _clean(child_text(node, path[-1])) if node is not None else ""


def _xml_raw(event: ET.Element, extra: dict[str, Any]) -> _Raw:
    return _Raw(
        date=_path_text(event, "Date"), time=_path_text(event, "Time"), offset="",
        code=_path_text(event, "ServiceEvent", "EventCode"),
        description=_path_text(event, "ServiceEvent", "Description"), signed_by=_path_text(event, "Signatory"),
        location=area_location(_path_text(event, "ServiceArea", "ServiceAreaCode"),
                               _path_text(event, "ServiceArea", "Description")),
        extra=extra,
    )


def _condition(element: ET.Element) -> str:
    status = _first(element, "Status")
    node = status if status is not None else element
    parts = [_path_text(node, "ActionStatus")]
    for condition in children(node, "Condition"):
        parts += [_path_text(condition, "ConditionCode"), _path_text(condition, "ConditionData")]
    return " ".join(p for p in parts if p)


def _awb(info: ET.Element, what: str, received_at: datetime) -> list[TrackingEvent]:
    number = tracking_number(_path_text(info, "AWBNumber"), f"{what}.AWBNumber")
    shipment = _first(info, "ShipmentInfo")
    if shipment is None:
        return []
    dest_text = _path_text(shipment, "DestinationServiceArea", "Description")
    weight = _path_text(shipment, "Weight")
    attrs = compact({
        "product_code": _path_text(shipment, "GlobalProductCode"),
        "shipment_date": _path_text(shipment, "ShipmentDate"),
        "pieces": _path_text(shipment, "Pieces"),
        "weight": f"{weight} {_path_text(shipment, 'WeightUnit')}".strip() if weight else "",
        "reference": _path_text(shipment, "ShipperReference", "ReferenceID"),
        "estimated_delivery_local": _path_text(shipment, "EstDlvyDate"),
        "estimated_delivery": _extra_time(_path_text(shipment, "EstDlvyDateUTC"), Place(offset=UTC)),
        "origin_service_area": _path_text(shipment, "OriginServiceArea", "ServiceAreaCode"),
        "destination_service_area": _path_text(shipment, "DestinationServiceArea", "ServiceAreaCode"),
        "origin_country": _path_text(shipment, "Shipper", "CountryCode") or None,
        "destination_country": _path_text(shipment, "Consignee", "CountryCode") or country_of(dest_text),
    })
    raws = [(_xml_raw(e, {}), f"{what}.ShipmentEvent[{i}]") for i, e in enumerate(children(shipment, "ShipmentEvent"))]
    if not raws:
        seen: set[tuple[str, str, str]] = set()
        for p_index, piece in enumerate(children(info, "PieceInfo")):
            plate = _path_text(piece, "PieceDetails", "LicensePlate")
            for e_index, event in enumerate(children(piece, "PieceEvent")):
                raw = _xml_raw(event, compact({"piece_tracking_number": plate}))
                if (raw.date, raw.time, raw.code) not in seen:
                    seen.add((raw.date, raw.time, raw.code))
                    raws.append((raw, f"{what}.PieceInfo[{p_index}].PieceEvent[{e_index}]"))
    countries = shipment_countries(
        _path_text(shipment, "Shipper", "CountryCode"),
        (_path_text(shipment, "OriginServiceArea", "ServiceAreaCode"),
         _path_text(shipment, "OriginServiceArea", "Description")),
        _path_text(shipment, "Consignee", "CountryCode"),
        (_path_text(shipment, "DestinationServiceArea", "ServiceAreaCode"), dest_text),
    )
    return sorted((_event(number, raw, attrs, label, received_at, countries) for raw, label in raws), key=_instant)


def _xml(payload: bytes, received_at: datetime) -> list[TrackingEvent]:
    root = load_xml(payload)
    name = local(root.tag)
    if name.endswith("ErrorResponse"):
        response = _first(root, "Response")
        message = _condition(response if response is not None else root) or name
        raise CarrierErrorResponse(f"DHL Express XML-PI error: {message}", not_found="not found" in message.lower())
    if name != "TrackingResponse":
        raise PayloadError(f"not a DHL Express XML-PI tracking response (root {name!r})")
    infos = children(root, "AWBInfo")
    if not infos:
        raise PayloadError("XML-PI TrackingResponse without AWBInfo")
    events: list[TrackingEvent] = []
    failures: list[str] = []
    for index, info in enumerate(infos):
        status = _path_text(info, "Status", "ActionStatus")
        if status.lower() != "success":
            failures.append(_condition(info) or "no ActionStatus")
            continue
        events.extend(_awb(info, f"AWBInfo[{index}]", received_at))
    if len(failures) == len(infos):
        message = "; ".join(failures)
        lowered = message.lower()
        awb = _AWB_IN_TEXT.search(message)
        raise CarrierErrorResponse(f"DHL Express XML-PI: {message}", tracking_number=awb.group(1) if awb else None,
                                   not_found="no shipment" in lowered or "not found" in lowered)
    return events


def parse(payload: bytes, headers: Mapping[str, str], received_at: datetime) -> list[TrackingEvent]:
    """Normalize one DHL Express MyDHL / XML-PI / Unified tracking response. See the module docstring."""
    if isinstance(payload, bytes | bytearray | memoryview) and bytes(payload).lstrip(_LEADING)[:1] == b"<":
        return _xml(bytes(payload), received_at)
    return _json(load_json(payload), received_at)
