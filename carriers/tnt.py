"""TNT adapter: ExpressConnect Tracking XML 3.1 ``TrackResponse`` (poll only; TNT has no push).

Shapes:

* ``<TrackResponse>`` with one or more ``<Consignment>``: ``source="poll"``. Each ``StatusData``
  becomes one event, in payload order (TNT sends newest first); ``code`` = ``StatusCode``,
  ``description`` = ``StatusDescription`` (CDATA, whitespace stripped).
* ``<TrackResponse><Error><Code>9000</Code>…`` (and ExpressConnect's ``<runtime_error>`` /
  ``<parse_error>`` roots) → ``CarrierErrorResponse``; ``not_found`` only when the text says so.
* ``SummaryCode`` ``CNF`` (consignment not found: an unknown number still comes back as a
  ``Consignment``, without ``StatusData``) gives no event. A response whose consignments are all
  ``CNF`` (or that has none) is ``CarrierErrorResponse(not_found=True)``; in a mixed response the
  found consignments' events are returned and the ``CNF`` ones are skipped.
* ``Summary`` level of detail (no ``StatusData``): a ``DEL`` consignment with ``DeliveryDate`` and
  ``DeliveryTime`` yields one event ``code="DEL"`` (``summary_codes`` table,
  ``attributes["mapping_layer"]="summary_code"``), timed in the destination country's zone; other
  summary-only consignments carry no time and yield no event.
* The ``TrackRequest`` itself is a ``PayloadError``.

Repeated numbers. TNT reuses consignment numbers, so one number can come back as several
``Consignment`` elements (the sample: ``123456782`` twice, DE→GB and US→AU). When some of them are
``access="full"`` (owned by our account) only those are kept for that number; otherwise all are
returned. Every event carries ``attributes["consignment_key"]`` =
``"<number>:<CollectionDate>:<OriginDepot>"`` to tell them apart, and ``repeated_number=True`` when
the number occurs more than once in the response. The tracking number (and so the shipment key) stays
the consignment number.

Time. ``LocalEventDate`` (``YYYYMMDD``) + ``LocalEventTime`` (``HHMM``) are local depot time
without a zone (``local_time`` = ``"YYYYMMDD HHMM"``), resolved by ``carriers.zones``: a zone in the
depot table (``mappings/tnt.json``) is taken as it is (``TZ_LOCATION_CODE``); else the depot code
as an IATA airport code (LIS, OPO, DUB, EMA: ``TZ_LOCATION_CODE``), trusted only when the airport
lies in the depot's country (table) or, for a depot of unknown country, in the consignment's origin
or destination country (so DNG, Nuremberg in the table, is not read as Dongara, Australia); else
the depot's country (table; the consignment's ``OriginCountry`` for its ``OriginDepot``) when its
zones agree (``TZ_COUNTRY``); else, a depot of unknown country, the consignment's origin country on
the origin leg (collection), its destination country on the destination leg (out for delivery,
delivered), or either when both give the same instant (``TZ_SHIPMENT_COUNTRY``); else TNT's home
zone Europe/Amsterdam as ``TZ_ASSUMED``. The summary-only delivery is read in the destination
country (its ``DeliveryTown`` decides within a country of several zones). DST-correct.

Mapping: ``StatusCode`` → ``status_codes``; unknown → ``UNMAPPED``, ``mapped=False``, code and text
kept (the consignment's ``SummaryCode`` describes the consignment today, not that event, so it is not
used as a fallback; it is in ``attributes["summary_code"]``). Location: ``Depot`` as
``Location.code``, ``DepotName`` as text (dropped when it only repeats the code, e.g. ``DZ5``),
city/country from the depot table. Event ids are derived
(TNT has none); an id repeated within one response (the same scan twice) is emitted once.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from carriers import zones
from carriers._util import ascii_digits, child_text, children, compact, load_xml, local, text, tracking_number
from carriers.base import (
    UNMAPPED,
    CarrierErrorResponse,
    CodeMapping,
    PayloadError,
    load_mapping_file,
    parse_code_table,
    parse_local,
    zone,
)
from carriers.zones import DESTINATION, Place
from schemas.events import TZ_LOCATION_CODE, Location, TrackingEvent, derive_event_id

CARRIER = "tnt"
HOME_ZONE = "Europe/Amsterdam"
NOT_FOUND = "CNF"
DELIVERED = "DEL"
_FORMAT = "%Y%m%d %H%M"
_DATE = re.compile(r"\d{8}")
_TIME = re.compile(r"\d{4}")
_ERROR_ROOTS = frozenset({"runtime_error", "parse_error", "error"})


@dataclass(frozen=True, slots=True)
class Depot:
    country: str
    city: str | None
    tz: ZoneInfo | None


@dataclass(frozen=True, slots=True)
class _Tables:
    status: dict[str, CodeMapping]
    summary: dict[str, CodeMapping]
    depots: dict[str, Depot]


def _depot(row: Mapping[str, Any]) -> Depot:
    country = str(row["country"]).upper()
    tz = zone(str(row["zone"])) if row.get("zone") else None
    return Depot(country=country, city=row.get("city"), tz=tz)


@cache
def _tables() -> _Tables:
    data = load_mapping_file("tnt.json")
    return _Tables(
        status=parse_code_table(data["status_codes"]),
        summary=parse_code_table(data["summary_codes"]),
        depots={code.upper(): _depot(row) for code, row in data["depots"].items()},
    )


def map_status_code(code: str) -> CodeMapping | None:
    return _tables().status.get(code.strip().upper())


def map_summary_code(code: str) -> CodeMapping | None:
    return _tables().summary.get(code.strip().upper())


def depot(code: str) -> Depot | None:
    return _tables().depots.get(code.strip().upper())


# --- helpers ------------------------------------------------------------------------------------


def _nested(element: ET.Element, outer: str, inner: str) -> str:
    for node in children(element, outer):
        return child_text(node, inner)
    return ""


def _instant(date: str, time: str, where: ZoneInfo | Place, what: str) -> tuple[datetime, str, str]:
    """(UTC instant, tz_source, local text): in a zone from the depot table, else where
    ``carriers.zones`` places it."""
    if not _DATE.fullmatch(date) or not _TIME.fullmatch(time):
        raise PayloadError(f"{what}: date {date!r} / time {time!r} is not YYYYMMDD / HHMM")
    raw = f"{date} {time}"
    try:
        if isinstance(where, ZoneInfo):
            return parse_local(raw, (_FORMAT,), where), TZ_LOCATION_CODE, raw
        return (*zones.parse_local_at(raw, (_FORMAT,), where, HOME_ZONE), raw)
    except PayloadError as exc:
        raise PayloadError(f"{what}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class _Consignment:
    number: str
    element: ET.Element
    origin_depot: str
    origin_country: str
    destination_country: str
    attributes: dict[str, Any]


def _consignment(element: ET.Element, number: str, repeated: bool) -> _Consignment:
    origin_depot = child_text(element, "OriginDepot").upper()
    origin_country = _nested(element, "OriginCountry", "CountryCode").upper()
    destination_country = _nested(element, "DestinationCountry", "CountryCode").upper()
    collection = child_text(element, "CollectionDate")
    pieces = child_text(element, "PieceQuantity")
    attrs = compact({
        "access": element.get("access", "").strip(),
        "summary_code": child_text(element, "SummaryCode").upper(),
        "customer_reference": child_text(element, "CustomerReference"),
        "origin_depot": origin_depot,
        "origin_depot_name": child_text(element, "OriginDepotName"),
        "origin_country": origin_country,
        "destination_country": destination_country,
        "delivery_town": child_text(element, "DeliveryTown"),
        "collection_date": collection,
        "delivery_date": child_text(element, "DeliveryDate"),
        "delivery_time": child_text(element, "DeliveryTime"),
        "signed_by": child_text(element, "Signatory"),
        "pieces": int(pieces) if ascii_digits(pieces) else pieces,
        "consignment_key": f"{number}:{collection}:{origin_depot}",
        "repeated_number": repeated or None,
    })
    return _Consignment(number, element, origin_depot, origin_country, destination_country, attrs)


def _event_place(code: str, consignment: _Consignment, leg: str | None,
                 name: str = "") -> tuple[ZoneInfo | Place, Depot | None]:
    """Where a depot's local time is read: the table's zone, or what ``carriers.zones`` needs; and
    the depot as the event's location knows it."""
    known = depot(code) if code else None
    if known is not None and known.tz is not None:
        return known.tz, known
    if known is None and code and code == consignment.origin_depot and consignment.origin_country:
        known = Depot(consignment.origin_country, None, None)
    place = Place(
        code=code, name=name, city=(known.city or "") if known else "", country=known.country if known else "",
        origin_country=consignment.origin_country, destination_country=consignment.destination_country, leg=leg,
    )
    return place, known


def _status_events(consignment: _Consignment, received_at: datetime, what: str) -> list[TrackingEvent]:
    events: list[TrackingEvent] = []
    for index, status in enumerate(children(consignment.element, "StatusData")):
        label = f"{what}.StatusData[{index}]"
        code = child_text(status, "StatusCode").upper()
        if not code:
            raise PayloadError(f"{label}: missing StatusCode")
        depot_code = child_text(status, "Depot").upper()
        depot_name = child_text(status, "DepotName")
        found = map_status_code(code)
        mapping = found or UNMAPPED
        at, where = _event_place(depot_code, consignment, zones.leg_of(mapping.status, mapping.substatus),
                                 depot_name)
        date, time = child_text(status, "LocalEventDate"), child_text(status, "LocalEventTime")
        instant, tz_source, raw = _instant(date, time, at, label)
        location = None
        if depot_code or depot_name:
            location = Location(
                city=where.city if where else None, country=where.country if where else None,
                code=depot_code or None, text=depot_name if depot_name and depot_name != depot_code else None,
            )
        events.append(TrackingEvent(
            event_id=derive_event_id(CARRIER, consignment.number, instant, code), carrier=CARRIER,
            tracking_number=consignment.number, status=mapping.status, substatus=mapping.substatus,
            code=code, description=child_text(status, "StatusDescription"), occurred_at=instant,
            local_time=raw, tz_source=tz_source, received_at=received_at, location=location,
            mapped=found is not None, source="poll", attributes=consignment.attributes,
        ))
    return events


def _summary_event(consignment: _Consignment, received_at: datetime, what: str) -> list[TrackingEvent]:
    element = consignment.element
    summary = child_text(element, "SummaryCode").upper()
    date, time = child_text(element, "DeliveryDate"), child_text(element, "DeliveryTime")
    if summary != DELIVERED or not date or not time:
        return []
    town = child_text(element, "DeliveryTown")
    place = Place(city=town, country=consignment.destination_country,
                  destination_country=consignment.destination_country, leg=DESTINATION)
    instant, tz_source, raw = _instant(date, time, place, f"{what}.DeliveryDate")
    mapping = map_summary_code(summary) or UNMAPPED
    location = None
    if town or consignment.destination_country:
        location = Location(city=town or None, country=consignment.destination_country or None)
    return [TrackingEvent(
        event_id=derive_event_id(CARRIER, consignment.number, instant, summary), carrier=CARRIER,
        tracking_number=consignment.number, status=mapping.status, substatus=mapping.substatus,
        code=summary, description="Delivered", occurred_at=instant, local_time=raw, tz_source=tz_source,
        received_at=received_at, location=location, source="poll",
        attributes={**consignment.attributes, "mapping_layer": "summary_code"},
    )]


def _error(elements: list[ET.Element]) -> CarrierErrorResponse:
    parts: list[str] = []
    for element in elements:
        code = child_text(element, "Code") or child_text(element, "error_code")
        message = child_text(element, "Message") or child_text(element, "error_reason")
        message = message or text("".join(element.itertext()))
        parts.append(f"{code}: {message}" if code else message)
    joined = "; ".join(p for p in parts if p) or "unspecified error"
    return CarrierErrorResponse(f"TNT error {joined}", not_found="not found" in joined.lower())


def _track_response(root: ET.Element, received_at: datetime) -> list[TrackingEvent]:
    elements = children(root, "Consignment")
    if not elements:
        errors = children(root, "Error")
        if errors:
            raise _error(errors)
        raise CarrierErrorResponse("TNT: no consignment in the response", not_found=True)
    numbers = [tracking_number(child_text(c, "ConsignmentNumber"), f"Consignment[{i}].ConsignmentNumber")
               for i, c in enumerate(elements)]
    counts = Counter(numbers)
    owned = {n for n, c in zip(numbers, elements, strict=True) if c.get("access", "").strip() == "full"}
    events: list[TrackingEvent] = []
    found = 0
    for index, (number, element) in enumerate(zip(numbers, elements, strict=True)):
        if child_text(element, "SummaryCode").upper() == NOT_FOUND:
            continue
        if number in owned and element.get("access", "").strip() != "full":
            continue  # a reused number: another account's consignment
        found += 1
        consignment = _consignment(element, number, counts[number] > 1)
        what = f"Consignment[{index}]"
        if children(element, "StatusData"):
            events.extend(_status_events(consignment, received_at, what))
        else:
            events.extend(_summary_event(consignment, received_at, what))
    if not found:
        unique = sorted(set(numbers))
        raise CarrierErrorResponse(
            f"TNT: consignment not found ({', '.join(unique)})", not_found=True,
            tracking_number=unique[0] if len(unique) == 1 else None,
        )
    seen: set[str] = set()
    unique_events = []
    for event in events:
        if event.event_id not in seen:
            seen.add(event.event_id)
            unique_events.append(event)
    return unique_events


def parse(payload: bytes, headers: Mapping[str, str], received_at: datetime) -> list[TrackingEvent]:
    """Normalize one TNT ExpressConnect tracking response. See the module docstring."""
    root = load_xml(payload.strip() if isinstance(payload, bytes) else payload)
    name = local(root.tag)
    if name == "TrackResponse":
        return _track_response(root, received_at)
    if name.lower() in _ERROR_ROOTS:
        raise _error([root])
    if name == "TrackRequest":
        raise PayloadError("a TNT TrackRequest, not a response")
    raise PayloadError(f"not a TNT TrackResponse (root <{name}>)")
