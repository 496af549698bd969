"""FedEx adapter: Track API v1 responses (``POST /track/v1/trackingnumbers``, ``source="poll"``) and
Advanced Integrated Visibility (AIV) webhook pushes (``source="webhook"``).

Shapes:

* ``{"output": {"completeTrackResults": [{"trackingNumber", "trackResults": [...]}]}}``: every
  ``scanEvents[]`` entry of every ``trackResults[]`` entry becomes one event, in payload order (FedEx
  sends newest first). Arrays given as a single object are read as one-element lists.
* **Several ``trackResults`` for one number** (FedEx reuses numbers; sample
  ``track-v1-response-two-trackresults-same-number.json``): every result is parsed, nothing is
  dropped. Each event carries ``attributes["unique_id"]`` (``trackingNumberUniqueId``); when one
  number has several results with scans, each event also gets ``package_results`` (how many) and
  ``latest_result`` (True for the result with the newest scan, ties to the later one), so consumers
  can separate the packages. The shipment key stays ``fedex:<number>``.
* The tracking number is ``trackingNumberInfo.trackingNumber`` (the package), else the
  ``completeTrackResults[].trackingNumber`` asked for; that one is kept as ``inquiry_number`` when
  it differs.
* Errors. Top-level ``errors[]`` (request failures) → ``CarrierErrorResponse``. Per-result
  ``error`` without scans (``TRACKING.TRACKINGNUMBER.NOTFOUND``) is skipped when other results have
  events (a batch poll keeps its found numbers); when nothing yields an event, the errors raise
  ``CarrierErrorResponse(not_found=True)`` if every code is a ``NOTFOUND``. A result with scans and
  an ``error`` (the API doc example) is parsed; the error code goes to ``attributes["error_code"]``.
  ``completeTrackResults: []`` is not-found; results without scans and without errors give ``[]``.
* ``latestStatusDetail`` has no timestamp, so it is not an event: its codes go to the attributes.
  The poller must ask for ``includeDetailedScans: true``.
* **AIV webhook** (``POST`` to our URL; FedEx's published ``TestWebhookOutputVO`` schema): the
  Track API envelope ``{"transactionId", "outputMetaData": [...], "output": {"completeTrackResults":
  [...]}}``, where ``outputMetaData`` describes the push attempt (time stamp, attempt number). It is
  read exactly like a Track API response, so a scan seen by push and by poll gets the same event id.
  Events are ``source="webhook"`` when the payload has ``outputMetaData`` or the ingress marked it
  (``source: webhook`` header); the ``transactionId`` goes to ``attributes["transaction_id"]``. A
  push without scans (an estimated-delivery update, proof-of-delivery images) gives ``[]``. FedEx
  says pushes may arrive out of order: the tracker orders by scan time. *Assumption*: the field
  list of a live AIV push is not public beyond that schema; anything else FedEx adds is ignored.

Webhook authentication (``verify_webhook``): FedEx documents ``fdx-signature`` = base64 of
HMAC-SHA256 over the exact body bytes, keyed with the *security token* entered when the AIV
webhook project (or the "Test Webhook URL" console) was set up. FedEx's own prose also mentions
"hex encoding", so the lowercase hex form of the same MAC is accepted too; both are compared in
constant time. FedEx also publishes a source CIDR (prod ``20.65.16.22/31``) for an allow-list.

Mapping (``mappings/fedex.json``), per scan: ``exception_codes["<eventType>:<exceptionCode>"]``
first (``DE`` + ``08`` "customer not available" is a failed attempt, other ``DE`` stay exceptions),
then ``event_types[eventType]``, then ``derived_codes[derivedStatusCode]``, else ``UNMAPPED`` with
``mapped=False``. eventType wins over the derived code, although the public sources say "prefer derived":
FedEx rolls scans up (``HP`` "ready for recipient pickup" and ``OD`` "on vehicle for delivery" have
``derivedStatusCode: IT``), so the derived code only fills in for unknown event types. Rows marked
``informational`` (CDO / return-label / split-status, the public sources' "ignore or unknown") give status
``unknown`` with ``attributes["status_change"] = False``. ``attributes["delayed"]`` flags ``DY``
/ ``DD`` / ``PD`` / ``RL`` and ``delayDetail.status == DELAYED``. ``code`` = eventType,
``description`` = ``eventDescription``; the exception code and text go to the attributes.

Time. ``date`` is ISO 8601 with the scan's offset → ``TZ_GIVEN``. Without an offset (the real
sample's ``PU`` at ``2024-08-15T00:00:00``) ``carriers.zones`` reads the wall time where the scan
location places it: its city and ``stateOrProvinceCode`` in a country of several zones
(``TZ_LOCATION``: ``mappings/regions.json``, airports' cities), else its country when its zones
agree (``TZ_COUNTRY``); a scan without a country on the origin / destination leg in the shipper's /
recipient's country (``TZ_SHIPMENT_COUNTRY``); else FedEx's home zone America/Chicago as
``TZ_ASSUMED``; DST via ``base.localize``. As the public sources say, a value without offset or at
midnight is date-only: ``attributes["date_only"] = True`` (the instant is that local midnight).
``dateAndTimes`` and the delivery windows stay raw text in attributes.

Event ids: FedEx scans have no id, so ``derive_event_id(carrier, number, occurred_at, code)`` with
code ``eventType`` or ``eventType/exceptionCode`` (never location text).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache
from typing import Any

from carriers import zones
from carriers._util import (
    as_list,
    ascii_digits,
    compact,
    header,
    iso_instant,
    load_json,
    obj,
    same_text,
    sub,
    text,
    tracking_number,
)
from carriers.base import (
    UNMAPPED,
    CarrierErrorResponse,
    CodeMapping,
    HeaderUse,
    PayloadError,
    SignatureError,
    load_mapping_file,
    parse_code_table,
)
from carriers.zones import Place
from schemas.events import (
    TZ_GIVEN,
    Location,
    TrackingEvent,
    derive_event_id,
    normalize_tracking_number,
)

CARRIER = "fedex"
HOME_ZONE = "America/Chicago"  # Memphis
NOT_FOUND_MARK = "NOTFOUND"
SIGNATURE_HEADER = "fdx-signature"
#: the header trackstream's ingress adds to every raw message it stores (``webhook`` for pushes)
SOURCE_HEADER = "source"
HEADERS = (HeaderUse(SOURCE_HEADER, "set by the ingress: webhook for an AIV push"),)
_DELAY_CODES = frozenset({"DY", "DD", "PD", "RL"})
_MIDNIGHT = re.compile(r"T00:00(?::00(?:\.0+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?$")


def verify_webhook(body: bytes, headers: Mapping[str, str], secret: str) -> None:
    """AIV: ``fdx-signature`` must be base64 (or hex) of HMAC-SHA256(security token, raw body).

    Raises ``SignatureError`` when the header is missing, unreadable or does not match. Never
    re-serialise the body: FedEx signs the exact bytes it sent.
    """
    if not secret:
        raise SignatureError("no FedEx webhook security token configured")
    given = (header(headers, SIGNATURE_HEADER) or "").strip()
    if not given:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    mac = hmac.new(secret.encode(), bytes(body), hashlib.sha256).digest()
    try:
        decoded = base64.b64decode(given, validate=True)
    except (binascii.Error, ValueError):
        decoded = b""
    as_base64 = hmac.compare_digest(decoded, mac)
    as_hex = same_text(given.lower(), mac.hex())
    if not (as_base64 or as_hex):
        raise SignatureError(f"{SIGNATURE_HEADER} does not match the body")


@dataclass(frozen=True, slots=True)
class _Tables:
    event_types: dict[str, CodeMapping]
    derived: dict[str, CodeMapping]
    exceptions: dict[str, CodeMapping]
    informational: frozenset[str]


@cache
def _tables() -> _Tables:
    data = load_mapping_file("fedex.json")
    info = {f"event:{c}" for c, row in data["event_types"].items() if row.get("informational")}
    info |= {f"derived:{c}" for c, row in data["derived_codes"].items() if row.get("informational")}
    return _Tables(
        parse_code_table(data["event_types"]), parse_code_table(data["derived_codes"]),
        parse_code_table(data["exception_codes"]), frozenset(info),
    )


def _exception_key(event_type: str, exception_code: str) -> str:
    code = exception_code.strip().upper()
    if ascii_digits(code):
        code = str(int(code)).zfill(2)  # "8" and "08" are the same exception
    return f"{event_type}:{code}"


def map_scan(event_type: str, derived_code: str = "", exception_code: str = "") -> tuple[CodeMapping, str | None, bool]:
    """(mapping, layer, informational) for one scan; layer None means unmapped."""
    tables = _tables()
    event_type, derived_code = event_type.strip().upper(), derived_code.strip().upper()
    if event_type and exception_code.strip():
        found = tables.exceptions.get(_exception_key(event_type, exception_code))
        if found is not None:
            return found, "exception_code", False
    if event_type in tables.event_types:
        return tables.event_types[event_type], "event_type", f"event:{event_type}" in tables.informational
    if derived_code in tables.derived:
        return tables.derived[derived_code], "derived_code", f"derived:{derived_code}" in tables.informational
    return UNMAPPED, None, False


def parse_timestamp(raw: str, place: Place | None = None, what: str = "date") -> tuple[datetime, str, bool]:
    """FedEx ISO text → (UTC instant, tz_source, date_only). See the module docstring."""
    value = text(raw)
    instant = iso_instant(value, what)
    date_only = bool(_MIDNIGHT.search(value))
    if instant is not None:
        return instant, TZ_GIVEN, date_only
    try:
        naive = datetime.fromisoformat(value)
    except ValueError as exc:
        raise PayloadError(f"unreadable timestamp {value!r} ({what})") from exc
    local, source = zones.localize_at(naive, place or Place(), HOME_ZONE)
    return local, source, True


def shipment_countries(result: Mapping[str, Any]) -> tuple[str, str]:
    """(origin, destination) country of a track result: shipper / recipient, else origin / destination location."""
    def country(party: str, location: str) -> str:
        found = text(sub(sub(result, party), "address").get("countryCode"))
        if not found:
            found = text(sub(sub(sub(result, location), "locationContactAndAddress"), "address").get("countryCode"))
        return zones.country_code(found)
    return country("shipperInformation", "originLocation"), country("recipientInformation", "destinationLocation")


def scan_place(scan_location: Mapping[str, Any], shipment: tuple[str, str] = ("", ""), leg: str | None = None) -> Place:
    return Place(
        city=text(scan_location.get("city")), region=text(scan_location.get("stateOrProvinceCode")),
        country=text(scan_location.get("countryCode")), origin_country=shipment[0], destination_country=shipment[1],
        leg=leg,
    )


# --- builders -----------------------------------------------------------------------------------


def _location(scan: Mapping[str, Any]) -> Location | None:
    place = sub(scan, "scanLocation")
    country = text(place.get("countryCode")).upper()
    found = Location(
        city=text(place.get("city")) or None, postcode=text(place.get("postalCode")) or None,
        country=country if len(country) == 2 else None, code=text(scan.get("locationId")) or None,
    )
    return found if found != Location() else None


def _references(result: Mapping[str, Any]) -> list[dict[str, str]]:
    refs: list[dict[str, str]] = []
    for ident in as_list(sub(result, "additionalTrackingInfo").get("packageIdentifiers")):
        if not isinstance(ident, dict):
            continue
        values = [text(v) for v in as_list(ident.get("values"))] + [text(ident.get("value"))]
        refs.extend({"type": text(ident.get("type")), "value": v} for v in values if v)
    return refs


def _result_attributes(result: Mapping[str, Any], inquiry: str, number: str) -> dict[str, Any]:
    info = sub(result, "trackingNumberInfo")
    service = sub(result, "serviceDetail")
    details = sub(result, "deliveryDetails")
    latest = sub(result, "latestStatusDetail")
    estimated = sub(sub(result, "estimatedDeliveryTimeWindow"), "window")
    standard = sub(sub(result, "standardTransitTimeWindow"), "window")
    dates = {
        text(item.get("type")).lower(): text(item.get("dateTime"))
        for item in as_list(result.get("dateAndTimes"))
        if isinstance(item, dict) and text(item.get("type")) and text(item.get("dateTime"))
    }
    return compact({
        "unique_id": text(info.get("trackingNumberUniqueId")),
        "carrier_code": text(info.get("carrierCode")),
        "inquiry_number": inquiry if inquiry != number else "",
        "service": text(service.get("description")),
        "service_type": text(service.get("type")),
        "references": _references(result),
        "signed_by": text(details.get("signedByName")),
        "received_by": text(details.get("receivedByName")),
        "delivery_location": text(details.get("locationDescription")),
        "delivery_attempts": text(details.get("deliveryAttempts")),
        "pieces": text(sub(result, "packageDetails").get("count")),
        "dates": dates,
        "estimated_delivery": dates.get("estimated_delivery", ""),
        "estimated_delivery_begins": text(estimated.get("begins")),
        "estimated_delivery_ends": text(estimated.get("ends")),
        "standard_transit_ends": text(standard.get("ends")),
        "latest_status_code": text(latest.get("code")),
        "latest_derived_code": text(latest.get("derivedCode")),
        "latest_status": text(latest.get("statusByLocale")),
        "error_code": text(sub(result, "error").get("code")),
    })


def _scan_event(
    scan: Mapping[str, Any], number: str, attrs: Mapping[str, Any], what: str, received_at: datetime,
    shipment: tuple[str, str] = ("", ""),
) -> TrackingEvent:
    event_type = text(scan.get("eventType")).upper()
    derived = text(scan.get("derivedStatusCode")).upper()
    exception_code = text(scan.get("exceptionCode"))
    code = event_type or derived
    if not code:
        raise PayloadError(f"{what}: missing eventType")
    place = sub(scan, "scanLocation")
    local = text(scan.get("date"))
    mapping, layer, informational = map_scan(event_type, derived, exception_code)
    occurred, tz_source, date_only = parse_timestamp(
        local, scan_place(place, shipment, zones.leg_of(mapping.status, mapping.substatus)), f"{what}.date"
    )
    delayed = code in _DELAY_CODES or derived in _DELAY_CODES or (
        text(sub(scan, "delayDetail").get("status")).upper() == "DELAYED"
    )
    extra = dict(attrs)
    extra.update(compact({
        "derived_code": derived,
        "derived_status": text(scan.get("derivedStatus")),
        "exception_code": exception_code,
        "exception_description": text(scan.get("exceptionDescription")),
        "location_type": text(scan.get("locationType")),
        "state": text(place.get("stateOrProvinceCode")).upper(),
        "mapping_layer": layer,
        "delayed": True if delayed else None,
        "date_only": True if date_only else None,
    }))
    if informational:
        extra["status_change"] = False
    id_code = f"{code}/{exception_code.upper()}" if exception_code else code
    return TrackingEvent(
        event_id=derive_event_id(CARRIER, number, occurred, id_code), carrier=CARRIER, tracking_number=number,
        status=mapping.status, substatus=mapping.substatus, code=code,
        description=text(scan.get("eventDescription")), occurred_at=occurred, local_time=local,
        tz_source=tz_source, received_at=received_at, location=_location(scan), mapped=layer is not None,
        source="poll", attributes=extra,
    )


@dataclass(slots=True)
class _Result:
    number: str
    events: list[TrackingEvent]


def _mark_repeated_numbers(results: list[_Result]) -> list[TrackingEvent]:
    by_number: dict[str, list[_Result]] = {}
    for result in results:
        if result.events:
            by_number.setdefault(result.number, []).append(result)
    out: list[TrackingEvent] = []
    for result in results:
        group = by_number.get(result.number, [])
        if len(group) < 2:
            out.extend(result.events)
            continue
        newest = max(range(len(group)), key=lambda i: (max(e.occurred_at for e in group[i].events), i))
        latest = group[newest] is result
        for event in result.events:
            attrs = {**event.attributes, "package_results": len(group), "latest_result": latest}
            out.append(replace(event, attributes=attrs))
    return out


def _error_response(errors: list[tuple[str, str, str]], what: str) -> CarrierErrorResponse:
    codes = [code for code, _, _ in errors]
    message = "; ".join(f"{code}: {msg}".strip(": ") for code, msg, _ in errors) or "error"
    numbers = {number for _, _, number in errors if number}
    return CarrierErrorResponse(
        f"FedEx {what}: {message}", not_found=bool(codes) and all(NOT_FOUND_MARK in c.upper() for c in codes),
        tracking_number=numbers.pop() if len(numbers) == 1 else None,
    )


def _track_output(output: Mapping[str, Any], received_at: datetime) -> list[TrackingEvent]:
    if "completeTrackResults" not in output:
        raise PayloadError("output without completeTrackResults")
    complete = as_list(output.get("completeTrackResults"))
    if not complete:
        raise CarrierErrorResponse("FedEx: no track results in the response", not_found=True)
    results: list[_Result] = []
    errors: list[tuple[str, str, str]] = []
    for i, raw_complete in enumerate(complete):
        entry = obj(raw_complete, f"completeTrackResults[{i}]")
        inquiry = normalize_tracking_number(text(entry.get("trackingNumber")))
        for j, raw_result in enumerate(as_list(entry.get("trackResults"))):
            what = f"completeTrackResults[{i}].trackResults[{j}]"
            result = obj(raw_result, what)
            scans = as_list(result.get("scanEvents"))
            given = text(sub(result, "trackingNumberInfo").get("trackingNumber"))
            if not scans:
                error = sub(result, "error")
                if error:
                    number = normalize_tracking_number(given) or inquiry
                    errors.append((text(error.get("code")), text(error.get("message")), number))
                continue
            number = tracking_number(given or inquiry, f"{what}.trackingNumberInfo.trackingNumber")
            attrs = _result_attributes(result, inquiry, number)
            countries = shipment_countries(result)
            events = [
                _scan_event(obj(scan, f"{what}.scanEvents[{k}]"), number, attrs, f"{what}.scanEvents[{k}]",
                            received_at, countries)
                for k, scan in enumerate(scans)
            ]
            results.append(_Result(number, events))
    events = _mark_repeated_numbers(results)
    if not events and errors:
        raise _error_response(errors, "track result error")
    return events


def _as_push(events: list[TrackingEvent], body: Mapping[str, Any]) -> list[TrackingEvent]:
    extra = compact({"transaction_id": text(body.get("transactionId"))})
    return [replace(e, source="webhook", attributes={**e.attributes, **extra}) for e in events]


def parse(payload: bytes, headers: Mapping[str, str], received_at: datetime) -> list[TrackingEvent]:
    """Normalize one FedEx Track API v1 response or AIV push. See the module docstring."""
    body = obj(load_json(payload), "payload")
    if "output" in body:
        events = _track_output(obj(body["output"], "output"), received_at)
        pushed = "outputMetaData" in body or (header(headers, SOURCE_HEADER) or "").strip() == "webhook"
        return _as_push(events, body) if pushed else events
    raw_errors = body.get("errors")
    if isinstance(raw_errors, list | dict) and raw_errors:
        errors = [
            (text(e.get("code")), text(e.get("message")), "") if isinstance(e, dict) else ("", text(e), "")
            for e in as_list(raw_errors)
        ]
        raise _error_response(errors, "request error")
    raise PayloadError("not a FedEx Track API response (no output / errors)")
