"""DPD Netherlands adapter: ParcelLifeCycle ``getTrackingData`` (poll) and the Tracking Push Service (push).

Shapes (told apart by the first non-blank byte):

* **XML** (``<``): a SOAP 1.1 envelope from ``ParcelLifeCycleService`` v2.0 (or its
  ``getTrackingDataResponse`` / ``trackingresult`` without the envelope), ``source="poll"``.

  - ``soap:Fault`` → ``CarrierErrorResponse``; ``not_found`` only when the fault's error code or
    text says so (``NOT_FOUND``, "not found", ...): the documented ``DELICOM_ERR_AUTHENTICATION``
    fault is an ordinary error.
  - The response does **not** echo the parcel number: the poller must pass the number it asked for in
    the ``X-Trackstream-Tracking-Number`` header (``TRACKING_NUMBER_HEADER``); without it the payload
    is a ``PayloadError``. The ``getTrackingData`` *request* is rejected as a ``PayloadError``.
  - One event per ``statusInfo`` whose ``statusHasBeenReached`` is not ``false`` (unreached entries
    are the planned remaining steps, not events), in payload order (DPD sends oldest first). A
    reached entry without a date is a ``PayloadError``. A result without any reached entry is
    ``CarrierErrorResponse(not_found=True)``. ``shipmentInfo`` (status ``SHIPMENT``) is not an event;
    its ``serviceDescription`` becomes ``attributes["service"]``.
  - Mapping on ``statusInfo.status`` only (``mappings/dpd_nl.json`` → ``status``), never on
    ``label.content``, whose text does not match the status (``DeliveryFailure`` and ``ParcelShop``
    are labelled "Parcel out for delivery"). The label is kept in ``attributes["label"]``;
    ``description`` is ``description.content``. ``isCurrentStatus=true`` → ``attributes["current"]``.
  - Time: ``M/d/yyyy h:mm:ss AM|PM`` read with a 12-hour clock (``%I``, not karrio's ``%H``, which
    turns ``7:11:26 PM`` into 07:11). 24-hour variants (``M/d/yyyy H:mm:ss``, day-first
    ``d-M-yyyy`` / ``d.M.yyyy``) are accepted for other ``messageLanguage`` settings. The text has no
    offset: ``carriers.zones`` resolves it at the scan's location text ``"<City> (<ISO2>)"``: the
    country when its zones agree (``TZ_COUNTRY``; the sample mixes BE and DE depots), the city in a
    country of several zones (``TZ_LOCATION``), else Europe/Amsterdam as ``TZ_ASSUMED``;
    DST-correct via ``base.localize``.
  - Duplicate scans: when two entries give the same status at the same UTC instant (the sample has
    ``DeliveryFailure`` at the same second in Mechelen (BE) and Aschaffenburg (DE)), they are one
    event with one derived id: the first is kept, the other location texts go to
    ``attributes["duplicate_locations"]``.

* **Query string** (anything else): the raw query of DPD's Tracking Push Service GET, e.g.
  ``pnr=...&status=...&statusdate=...``, ``source="webhook"``. A leading ``?`` or a whole URL are
  tolerated. ``pnr`` is the tracking number, ``status`` the code (``push_status`` table),
  ``statusdate`` ``ddMMyyyyHHmmss`` local time without zone, read in Europe/Amsterdam
  (``TZ_ASSUMED``): the push carries only a depot number, no country (schemabase's fixed ``+01:00`` is
  wrong in summer). Europe/Amsterdam and Europe/Berlin (the German push service) share the same
  offsets and DST rules, so the instant is right for either. ``depot`` becomes ``Location.code``;
  ``pushid``, ``ref``, ``receiver``, ``pod``, ``weight``, ``scaninfo`` and ``services`` go to the
  attributes (``pod``/``weight`` ``0`` dropped). The push has no text: ``description`` is
  ``scaninfo`` or else the status code. ``ack_response(payload)`` builds the XML body DPD expects
  back (``<push><pushid>…</pushid><status>OK</status></push>``).

Unknown codes: ``UNMAPPED`` (``unknown`` / ``unmapped_code``), ``mapped=False``, code and text kept.
Event ids: derived (``derive_event_id(carrier, number, UTC instant, code)``) in both transports.
``pushid`` identifies a push *message*, not documented as stable across redeliveries, so it is kept
as an attribute (``push_id``) for idempotent acknowledgement, not used as the event id.

Webhook authentication: DPD signs nothing (plain GET), so there is no ``verify_webhook``; the
ingress secures the endpoint with a secret URL path and an IP allow-list (the carrier's public sources).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from carriers import zones
from carriers._util import (
    child_text,
    children,
    compact,
    descendants,
    header,
    load_xml,
    local,
    tracking_number,
    url_parts,
)
from carriers.base import (
    TRACKING_NUMBER_HEADER,
    UNMAPPED,
    CarrierErrorResponse,
    CodeMapping,
    HeaderUse,
    ParseError,
    PayloadError,
    load_mapping_file,
    parse_code_table,
)
from carriers.zones import Place
from schemas.events import Location, TrackingEvent, derive_event_id

CARRIER = "dpd_nl"
HOME_ZONE = "Europe/Amsterdam"
HEADERS = (
    HeaderUse(TRACKING_NUMBER_HEADER, "the parcel number the poller asked for: a getTrackingData answer does not"
              " carry it", required=True),
)
POLL_FORMATS = (
    "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %I:%M %p", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M",
    "%d-%m-%Y %H:%M:%S", "%d-%m-%Y %H:%M", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M",
)
PUSH_FORMAT = "%d%m%Y%H%M%S"
_PUSH_DATE = re.compile(r"\d{14}")
_LOCATION = re.compile(r"(?P<city>.*?)\s*\((?P<country>[A-Za-z]{2})\)")
_NOT_FOUND = ("not_found", "notfound", "not found", "unknown parcel", "no data", "no tracking")
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class _Tables:
    status: dict[str, CodeMapping]
    push: dict[str, CodeMapping]


@cache
def _tables() -> _Tables:
    data = load_mapping_file("dpd_nl.json")

    def lowered(rows: Mapping[str, Any]) -> dict[str, CodeMapping]:
        return {code.lower(): mapping for code, mapping in parse_code_table(rows).items()}

    return _Tables(lowered(data["status"]), lowered(data["push_status"]))


def map_status(code: str) -> CodeMapping | None:
    """ParcelLifeCycle ``statusInfo.status`` (case-insensitive) → mapping, None when unknown."""
    return _tables().status.get(code.strip().lower())


def map_push_status(code: str) -> CodeMapping | None:
    """Tracking Push Service ``status`` (case-insensitive) → mapping, None when unknown."""
    return _tables().push.get(code.strip().lower())


# --- poll: ParcelLifeCycle getTrackingData ------------------------------------------------------


def _content(element: ET.Element, name: str) -> str:
    """Text of DPD's wrapper ``<name><content>text</content>…</name>`` (``content`` may nest)."""
    for node in children(element, name):
        inner = children(node, "content")
        while inner:
            node = inner[0]
            inner = children(node, "content")
        return (node.text or "").strip()
    return ""


def _first_text(element: ET.Element, names: tuple[str, ...]) -> str:
    for name in names:
        for node in descendants(element, name):
            value = "".join(node.itertext()).strip()
            if value:
                return value
    return ""


def _fault(fault: ET.Element) -> CarrierErrorResponse:
    code = _first_text(fault, ("errorCode", "faultcode", "Value"))
    message = _first_text(fault, ("errorMessage", "faultstring", "Text")) or "SOAP fault"
    lowered = f"{code} {message}".lower()
    not_found = any(marker in lowered for marker in _NOT_FOUND)
    return CarrierErrorResponse(f"DPD fault {code}: {message}".strip(), not_found=not_found)


def _where(text: str) -> Location | None:
    """Location text ``"Mechelen (BE)"`` → Location (city and country when the text has that shape)."""
    if not text:
        return None
    match = _LOCATION.fullmatch(text)
    if match is None:
        return Location(text=text)
    return Location(city=match["city"] or None, country=match["country"].upper(), text=text)


def _result_events(
    result: ET.Element, number: str, received_at: datetime, what: str
) -> list[TrackingEvent]:
    service = ""
    for info in children(result, "shipmentInfo"):
        service = service or _content(info, "serviceDescription")
    events: list[TrackingEvent] = []
    by_id: dict[str, int] = {}
    for index, info in enumerate(children(result, "statusInfo")):
        label = f"{what}.statusInfo[{index}]"
        if child_text(info, "statusHasBeenReached").lower() == "false":
            continue
        code = child_text(info, "status")
        if not code:
            raise PayloadError(f"{label}: missing status")
        raw_date = _content(info, "date")
        if not raw_date:
            raise PayloadError(f"{label}: reached status {code!r} without a date")
        location_text = _content(info, "location")
        location = _where(location_text)
        try:
            instant, tz_source = zones.parse_local_at(raw_date, POLL_FORMATS, zones.place_at(location), HOME_ZONE)
        except PayloadError as exc:
            raise PayloadError(f"{label}: {exc}") from exc
        event_id = derive_event_id(CARRIER, number, instant, code)
        if event_id in by_id:  # the same scan reported by a second depot
            kept = events[by_id[event_id]]
            others = [*kept.attributes.get("duplicate_locations", []), location_text or "?"]
            events[by_id[event_id]] = replace(kept, attributes={**kept.attributes, "duplicate_locations": others})
            continue
        found = map_status(code)
        mapping = found or UNMAPPED
        by_id[event_id] = len(events)
        events.append(TrackingEvent(
            event_id=event_id, carrier=CARRIER, tracking_number=number, status=mapping.status,
            substatus=mapping.substatus, code=code, description=_content(info, "description"),
            occurred_at=instant, local_time=raw_date, tz_source=tz_source, received_at=received_at,
            location=location, mapped=found is not None, source="poll",
            attributes=compact({
                "service": service,
                "label": _content(info, "label"),
                "current": child_text(info, "isCurrentStatus").lower() == "true" or None,
            }),
        ))
    return events


def _poll(root: ET.Element, headers: Mapping[str, str], received_at: datetime) -> list[TrackingEvent]:
    faults = descendants(root, "Fault")
    if faults:
        raise _fault(faults[0])
    results = descendants(root, "trackingresult")
    if not results:
        if local(root.tag) == "getTrackingData" or descendants(root, "parcelLabelNumber"):
            raise PayloadError("a ParcelLifeCycle getTrackingData request, not a response")
        raise PayloadError(f"not a DPD ParcelLifeCycle response (root <{local(root.tag)}>)")
    raw_number = header(headers, TRACKING_NUMBER_HEADER)
    number = tracking_number(raw_number, f"{TRACKING_NUMBER_HEADER} header (DPD does not echo the parcel number)")
    events: list[TrackingEvent] = []
    for index, result in enumerate(results):
        events.extend(_result_events(result, number, received_at, f"trackingresult[{index}]"))
    if not events:
        raise CarrierErrorResponse(
            f"DPD: no reached status for parcel {number}", not_found=True, tracking_number=number
        )
    return events


# --- push: Tracking Push Service query string ---------------------------------------------------


def _query_fields(payload: bytes) -> dict[str, str]:
    try:
        query = payload.removeprefix(_BOM).strip().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError(f"push query is not UTF-8 text: {exc}") from exc
    if query.startswith(("http://", "https://", "/")) and "?" in query:
        parts = url_parts(query)
        if parts is None:
            raise PayloadError("push query: unreadable URL")
        query = parts.query
    query = query.removeprefix("?")
    fields: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True, errors="replace"):
        fields.setdefault(key.strip().lower(), value.strip())
    return fields


def _push(payload: bytes, received_at: datetime) -> list[TrackingEvent]:
    fields = _query_fields(payload)
    if "pnr" not in fields and "status" not in fields:
        raise PayloadError("not a DPD ParcelLifeCycle response (XML) nor a Tracking Push Service query")
    number = tracking_number(fields.get("pnr"), "push pnr")
    code = fields.get("status", "")
    if not code:
        raise PayloadError("push: missing status")
    raw_date = fields.get("statusdate", "")
    if not _PUSH_DATE.fullmatch(raw_date):
        raise PayloadError(f"push: statusdate {raw_date!r} is not ddMMyyyyHHmmss")
    instant, tz_source = zones.parse_local_at(raw_date, (PUSH_FORMAT,), Place(), HOME_ZONE)
    depot = fields.get("depot", "")
    found = map_push_status(code)
    mapping = found or UNMAPPED
    scaninfo = fields.get("scaninfo", "")
    return [TrackingEvent(
        event_id=derive_event_id(CARRIER, number, instant, code), carrier=CARRIER, tracking_number=number,
        status=mapping.status, substatus=mapping.substatus, code=code, description=scaninfo or code,
        occurred_at=instant, local_time=raw_date, tz_source=tz_source, received_at=received_at,
        location=Location(code=depot) if depot else None, mapped=found is not None, source="webhook",
        attributes=compact({
            "push_id": fields.get("pushid"),
            "reference": fields.get("ref"),
            "receiver": fields.get("receiver"),
            "pod": fields.get("pod") if fields.get("pod") != "0" else None,
            "weight": fields.get("weight") if fields.get("weight") != "0" else None,
            "scan_info": scaninfo,
            "services": fields.get("services"),
        }),
    )]


def ack_response(payload: bytes = b"") -> bytes:
    """The body DPD's push service expects back: ``<push><pushid>{pushid}</pushid><status>OK</status></push>``.

    ``payload`` is the raw push query (the same bytes ``parse`` gets); its ``pushid`` is echoed,
    XML-escaped. Without a readable ``pushid`` the element is empty.
    """
    pushid = ""
    try:
        pushid = _query_fields(bytes(payload)).get("pushid", "")
    except (ParseError, TypeError, ValueError):
        pass
    return f"<push><pushid>{escape(pushid)}</pushid><status>OK</status></push>".encode()


def parse(payload: bytes, headers: Mapping[str, str], received_at: datetime) -> list[TrackingEvent]:
    """Normalize one DPD NL payload (SOAP tracking response or push query). See the module docstring."""
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise PayloadError(f"payload must be bytes, got {type(payload).__name__}")
    data = bytes(payload)
    stripped = data.removeprefix(_BOM).strip()
    if not stripped:
        raise PayloadError("empty payload")
    if stripped.startswith(b"<"):
        return _poll(load_xml(stripped), headers, received_at)
    return _push(data, received_at)
