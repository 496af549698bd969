"""PostNL adapter: Shipping Status v2 ``CompleteStatus`` / ``CurrentStatus`` and ``updatedshipments``.

All PostNL payloads are API answers (``source="poll"``); push is a PostNL pilot without a public spec.

Shapes:

* ``{"CompleteStatus": {"Shipment": ...}}`` or ``{"CurrentStatus": {"Shipment": ...}}``. ``Shipment``
  and ``Event`` may each be one object or an array; both are normalised to lists. Every collo is its
  own tracking number (``Barcode``); ``MainBarcode`` goes into the attributes. A response without
  any shipment is ``CarrierErrorResponse(not_found=True)``.
* ``updatedshipments``: a JSON array of ``{Barcode, Status: {Timestamp, StatusCode, ...}}``; ``[]``
  is valid (nothing changed in the window) and gives no events.
* error answers (``fault``, ``Errors``, ``Warnings`` without shipments) → ``CarrierErrorResponse``.

Events. Each ``Event[]`` entry becomes one event (``code`` = the event code, e.g. ``J05``), in
payload order (PostNL sends newest first). ``OldStatus`` rows duplicate the events in time and are
not turned into events when the shipment has ``Event`` entries; they are only used as the fallback
status for an unknown event code (the status row with the same instant, ``99`` rows skipped). The
current ``Status`` is added as an event (first, as the newest) only when it is later than every
``Event`` entry and not ``99``: it then records a change the event list does not show (the
multi-collo sample: events A01, status 13 the next morning). A shipment without ``Event`` entries
yields its ``Status`` plus the distinct non-``99`` ``OldStatus`` rows, each with
``code = "status:<StatusCode>"``; ``updatedshipments`` entries use the same code, so
the same status seen through both endpoints gets the same event id.

Mapping (``mappings/postnl.json``): the event code table first; an unknown event code falls back to
the status code table (``attributes["mapping_layer"] = "status_code"``), else ``UNMAPPED`` /
``mapped=False`` with code and text kept.

Time. ``dd-MM-yyyy HH:mm:ss`` (optionally ``.fff``) and, in ``updatedshipments`` and ``Expectation``,
ISO without offset: wall-clock time; PostNL events carry no country, so ``carriers.zones`` reads
it in the shipment's countries (sender ``Address`` type ``02``, receiver ``01``) when both give
the same instant (``TZ_SHIPMENT_COUNTRY``: a domestic parcel; status rows and events are matched by
instant, so all of a shipment's times are read alike, whatever their leg), else in Europe/Amsterdam
as ``TZ_ASSUMED`` (``updatedshipments`` carries no address); DST-correct via ``base.localize``. An
ISO text *with* an offset is honoured (``TZ_GIVEN``). Event ids are derived (PostNL has none):
carrier, barcode, UTC instant, code.
Location: ``LocationCode`` as ``Location.code``, except ``888888`` (unknown) and sandbox
placeholders (``"string"``, ``"{}"``). ``RouteName`` stays in attributes: it names a delivery route,
not a place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from carriers import zones
from carriers._util import ascii_digits, compact, load_json, obj, text
from carriers.base import (
    UNMAPPED,
    CarrierErrorResponse,
    CodeMapping,
    PayloadError,
    load_mapping_file,
    localize,
    parse_code_table,
    zone,
)
from carriers.zones import Place
from schemas.events import (
    TZ_GIVEN,
    Location,
    TrackingEvent,
    derive_event_id,
    format_utc,
    normalize_tracking_number,
)

CARRIER = "postnl"
HOME_ZONE = "Europe/Amsterdam"
UNKNOWN_LOCATION = "888888"
STATUS_CODE_PREFIX = "status:"
NOT_APPLICABLE = "99"
_NOT_FOUND_TEXTS = ("not found", "niet gevonden", "no shipment", "unknown barcode")
_PLACEHOLDERS = frozenset({"", "string", "{}", "null", "none"})
_FORMATS = ("%d-%m-%Y %H:%M:%S", "%d-%m-%Y %H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f")


@dataclass(frozen=True, slots=True)
class _Tables:
    events: dict[str, CodeMapping]
    statuses: dict[str, CodeMapping]


@cache
def _tables() -> _Tables:
    data = load_mapping_file("postnl.json")
    return _Tables(parse_code_table(data["event_codes"]), parse_code_table(data["status_codes"]))


def map_event_code(code: str) -> CodeMapping | None:
    return _tables().events.get(code.strip().upper())


def map_status_code(code: str) -> CodeMapping | None:
    text = code.strip()
    if ascii_digits(text):
        text = str(int(text))  # "07" and "7" are the same status
    return _tables().statuses.get(text)


# --- helpers ------------------------------------------------------------------------------------


def _clean(value: Any) -> str:
    """Text with PostNL sandbox placeholders (``"string"``, ``"{}"``) read as missing."""
    cleaned = text(value)
    return "" if cleaned.lower() in _PLACEHOLDERS else cleaned


def _as_list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return value
    raise PayloadError(f"{what} must be an object or a list, got {type(value).__name__}")


def parse_timestamp(text: str, place: Place | None = None) -> tuple[datetime, str]:
    """PostNL local time → (UTC instant, tz_source). ISO with an offset is taken as given."""
    stripped = text.strip()
    if not stripped:
        raise PayloadError("missing timestamp")
    if "T" in stripped:
        try:
            given = datetime.fromisoformat(stripped)
        except ValueError as exc:
            raise PayloadError(f"unreadable timestamp {text!r}") from exc
        if given.tzinfo is not None:
            return localize(given, zone(HOME_ZONE)), TZ_GIVEN
        return zones.localize_at(given, place or Place(), HOME_ZONE)
    return zones.parse_local_at(stripped, _FORMATS, place or Place(), HOME_ZONE)


def _timestamp(entry: Mapping[str, Any], what: str, place: Place) -> tuple[datetime, str, str]:
    raw = text(entry.get("TimeStamp") or entry.get("Timestamp"))
    if not raw:
        raise PayloadError(f"{what}: missing TimeStamp")
    try:
        instant, source = parse_timestamp(raw, place)
    except PayloadError as exc:
        raise PayloadError(f"{what}: {exc}") from exc
    return instant, source, raw


def shipment_place(shipment: Mapping[str, Any]) -> Place:
    """The shipment's countries: sender (``AddressType`` ``02``) and receiver (``01``)."""
    found = {"01": "", "02": ""}
    for address in _as_list(shipment.get("Address"), "Address"):
        kind = text(address.get("AddressType")) if isinstance(address, dict) else ""
        if kind in found and not found[kind]:
            found[kind] = _clean(address.get("CountryCode"))
    return Place(origin_country=found["02"], destination_country=found["01"])


def _shipment_attributes(shipment: Mapping[str, Any], place: Place) -> dict[str, Any]:
    raw_customer = shipment.get("Customer")
    customer: Mapping[str, Any] = raw_customer if isinstance(raw_customer, dict) else {}
    recipient: Mapping[str, Any] = {}
    for address in _as_list(shipment.get("Address"), "Address"):
        if isinstance(address, dict) and text(address.get("AddressType")) == "01":
            recipient = address
            break
    attrs: dict[str, Any] = {
        "main_barcode": normalize_tracking_number(_clean(shipment.get("MainBarcode"))),
        "reference": _clean(shipment.get("Reference")),
        "product_code": _clean(shipment.get("ProductCode")),
        "product_description": _clean(shipment.get("ProductDescription")),
        "customer_code": _clean(customer.get("CustomerCode") or shipment.get("CustomerCode")),
        "customer_number": _clean(customer.get("CustomerNumber") or shipment.get("CustomerNumber")),
        "shipment_amount": _clean(shipment.get("ShipmentAmount")),
        "shipment_counter": _clean(shipment.get("ShipmentCounter")),
        "delivery_date": _clean(shipment.get("DeliveryDate")),
        "creation_date": _clean(shipment.get("CreationDate")),
        "recipient_postcode": _clean(recipient.get("Zipcode")),
        "recipient_city": _clean(recipient.get("City")),
        "recipient_country": _clean(recipient.get("CountryCode")).upper(),
    }
    expectation = shipment.get("Expectation")
    if isinstance(expectation, dict):
        for field, key in (("ETAFrom", "eta_from"), ("ETATo", "eta_to")):
            raw = _clean(expectation.get(field))
            if not raw:
                continue
            attrs[f"{key}_local"] = raw
            try:
                attrs[key] = format_utc(parse_timestamp(raw, place)[0])
            except (PayloadError, ValueError, OverflowError):
                pass  # an unreadable ETA is an extra, not a reason to drop the events
    return compact(attrs)


def _location(event: Mapping[str, Any]) -> Location | None:
    code = _clean(event.get("LocationCode"))
    if not code or code == UNKNOWN_LOCATION:
        return None
    return Location(code=code)


# --- event builders -----------------------------------------------------------------------------


def _status_event(
    number: str, entry: Mapping[str, Any], what: str, attrs: Mapping[str, Any], received_at: datetime, place: Place,
) -> TrackingEvent:
    status_code = text(entry.get("StatusCode"))
    if not status_code:
        raise PayloadError(f"{what}: missing StatusCode")
    instant, tz_source, raw = _timestamp(entry, what, place)
    found = map_status_code(status_code)
    mapping = found or UNMAPPED
    code = f"{STATUS_CODE_PREFIX}{status_code}"
    extra = dict(attrs)
    extra.update(compact({"mapping_layer": "status_code", "phase_code": text(entry.get("PhaseCode"))}))
    return TrackingEvent(
        event_id=derive_event_id(CARRIER, number, instant, code), carrier=CARRIER, tracking_number=number,
        status=mapping.status, substatus=mapping.substatus, code=code,
        description=text(entry.get("StatusDescription")), occurred_at=instant, local_time=raw,
        tz_source=tz_source, received_at=received_at, mapped=found is not None, source="poll",
        attributes=extra,
    )


def _status_rows(shipment: Mapping[str, Any], what: str, place: Place) -> list[tuple[datetime, Mapping[str, Any]]]:
    rows: list[tuple[datetime, Mapping[str, Any]]] = []
    current = shipment.get("Status")
    if isinstance(current, dict):
        rows.append((_timestamp(current, f"{what}.Status", place)[0], current))
    for index, old in enumerate(_as_list(shipment.get("OldStatus"), f"{what}.OldStatus")):
        entry = obj(old, f"{what}.OldStatus[{index}]")
        rows.append((_timestamp(entry, f"{what}.OldStatus[{index}]", place)[0], entry))
    return rows


def _shipment_events(shipment: Mapping[str, Any], what: str, received_at: datetime) -> list[TrackingEvent]:
    number = normalize_tracking_number(_clean(shipment.get("Barcode")))
    if not number:
        raise PayloadError(f"{what}: missing tracking number (Barcode)")
    place = shipment_place(shipment)
    attrs = _shipment_attributes(shipment, place)
    raw_events = _as_list(shipment.get("Event"), f"{what}.Event")
    status_rows = _status_rows(shipment, what, place)
    if not raw_events:
        events: list[TrackingEvent] = []
        seen: set[tuple[datetime, str]] = set()
        for position, (instant, entry) in enumerate(status_rows):
            code = text(entry.get("StatusCode"))
            if (instant, code) in seen or (position > 0 and code == NOT_APPLICABLE):
                continue
            seen.add((instant, code))
            events.append(_status_event(number, entry, f"{what}.Status", attrs, received_at, place))
        return events

    out: list[TrackingEvent] = []
    for index, raw in enumerate(raw_events):
        label = f"{what}.Event[{index}]"
        event = obj(raw, label)
        code = text(event.get("Code")).upper()
        if not code:
            raise PayloadError(f"{label}: missing Code")
        instant, tz_source, local = _timestamp(event, label, place)
        extra = dict(attrs)
        mapping = map_event_code(code)
        if mapping is None:
            for row_instant, row in status_rows:
                status_code = text(row.get("StatusCode"))
                if row_instant == instant and status_code != NOT_APPLICABLE:
                    mapping = map_status_code(status_code)
                    if mapping is not None:
                        extra.update({"mapping_layer": "status_code", "status_code": status_code})
                        break
        extra.update(compact({
            "route_code": _clean(event.get("RouteCode")),
            "route_name": _clean(event.get("RouteName")),
            "destination_location_code": _clean(event.get("DestinationLocationCode")),
        }))
        final = mapping or UNMAPPED
        out.append(TrackingEvent(
            event_id=derive_event_id(CARRIER, number, instant, code), carrier=CARRIER,
            tracking_number=number, status=final.status, substatus=final.substatus, code=code,
            description=text(event.get("Description")), occurred_at=instant, local_time=local,
            tz_source=tz_source, received_at=received_at, location=_location(event),
            mapped=mapping is not None, source="poll", attributes=extra,
        ))
    current = shipment.get("Status")
    if isinstance(current, dict) and text(current.get("StatusCode")) != NOT_APPLICABLE:
        status_instant = _timestamp(current, f"{what}.Status", place)[0]
        if all(status_instant > event.occurred_at for event in out):
            out.insert(0, _status_event(number, current, f"{what}.Status", attrs, received_at, place))
    return out


def _status_response(wrapper: Mapping[str, Any], name: str, received_at: datetime) -> list[TrackingEvent]:
    shipments = _as_list(wrapper.get("Shipment"), f"{name}.Shipment")
    if not shipments:
        raise CarrierErrorResponse(f"PostNL {name}: no shipment in the response", not_found=True)
    events: list[TrackingEvent] = []
    for index, raw in enumerate(shipments):
        what = f"{name}.Shipment[{index}]"
        events.extend(_shipment_events(obj(raw, what), what, received_at))
    return events


def _updated_shipments(items: list[Any], received_at: datetime) -> list[TrackingEvent]:
    events: list[TrackingEvent] = []
    for index, raw in enumerate(items):
        what = f"updatedshipments[{index}]"
        entry = obj(raw, what)
        number = normalize_tracking_number(_clean(entry.get("Barcode")))
        if not number:
            raise PayloadError(f"{what}: missing tracking number (Barcode)")
        status = obj(entry.get("Status"), f"{what}.Status")
        place = shipment_place(entry)
        attrs = _shipment_attributes(entry, place)
        events.append(_status_event(number, status, f"{what}.Status", attrs, received_at, place))
    return events


def _error(body: Mapping[str, Any]) -> CarrierErrorResponse | None:
    for key in ("fault", "Fault", "Errors", "errors", "Error", "error", "Warnings", "warnings"):
        if key not in body:
            continue
        parts: list[str] = []
        for item in _as_list(body[key], key) if not isinstance(body[key], str) else [body[key]]:
            if isinstance(item, dict):
                parts.extend(
                    text(item.get(f)) for f in ("Code", "code", "ErrorNumber", "Description", "Message",
                                                 "ErrorMsg", "message", "faultstring")
                    if text(item.get(f))
                )
            else:
                parts.append(text(item))
        message = " ".join(p for p in parts if p) or key
        lowered = message.lower()
        not_found = any(s in lowered for s in _NOT_FOUND_TEXTS)
        return CarrierErrorResponse(f"PostNL {key}: {message}", not_found=not_found)
    return None


def parse(payload: bytes, headers: Mapping[str, str], received_at: datetime) -> list[TrackingEvent]:
    """Normalize one PostNL Shipping Status v2 response. See the module docstring."""
    body = load_json(payload)
    if isinstance(body, list):
        return _updated_shipments(body, received_at)
    if not isinstance(body, dict):
        raise PayloadError(f"payload must be an object or a list, got {type(body).__name__}")
    for name in ("CompleteStatus", "CurrentStatus"):
        if name in body:
            return _status_response(obj(body[name], name), name, received_at)
    error = _error(body)
    if error is not None:
        raise error
    raise PayloadError("not a PostNL status response (no CompleteStatus/CurrentStatus, not a list)")
