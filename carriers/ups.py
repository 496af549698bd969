"""UPS adapter: Track Alert webhook events and Tracking API ``/api/track/v1/details`` responses.

Shapes (detected from the top-level keys):

* **Track Alert webhook** (``trackingNumber`` + ``activityStatus``, ``source="webhook"``): one event
  per POST; a JSON array of such objects is accepted too. v1 and v2 send the same event body.
* **Tracking API** (``trackResponse``, ``source="poll"``): every ``shipment[].package[].activity[]``
  becomes one event, in payload order (UPS sends newest first). Each package is its own tracking
  number (``package.trackingNumber``, else the shipment's ``inquiryNumber``; the spec example's
  placeholder ``"string"`` counts as missing). ``inquiry_number`` is kept when it differs.
* **Not found**: HTTP 200 with ``shipment[].warnings[]`` (``TW0001`` "Tracking Information Not Found")
  and no activity → ``CarrierErrorResponse(not_found=True)``; no shipment at all is not-found too.
  Warnings next to activities (a batch with one unknown number) do not drop the found events.
* **Errors**: ``{"response": {"errors": [...]}}`` (``TV1002`` invalid inquiry number, auth errors)
  → ``CarrierErrorResponse(not_found=False)``: an invalid number is an error, not "not yet known".

Mapping (``mappings/ups.json``). ``code`` = the 3-digit status description code (poll
``status.statusCode``, webhook ``activityStatus.descriptionCode``), else the 2-letter activity code,
else the activity type. Lookup: ``status_codes`` (zero-padded: ``3`` = ``003``), then
``activity_codes``, then ``activity_types``, else ``UNMAPPED`` / ``mapped=False``. The type stays
"first" as the public sources ask in one way: a ``D`` (delivered) or ``X`` (exception) type is never
refined down into ``pre_transit`` / ``in_transit`` / ``unknown`` by its status code (the type row
wins, keeping a delay/customs substatus); every other refinement applies, e.g. type ``D`` with
``161`` "Delivered to UPS Access Point" or ``144`` "Delivered to Post Office for Pickup" is
``available_for_pickup``, not delivered. Type ``U`` updates (``153``-``155``: new ETA, delivery
photo), and any type ``U`` activity, change no status: ``unknown`` with
``attributes["status_change"] = False``.

Time. Poll: ``gmtDate`` + ``gmtTime`` when present (``gmtTime`` as ``74700`` or ``13:15:59``) →
``TZ_GIVEN``; else ``date`` + ``time`` with ``gmtOffset`` (``TZ_GIVEN``); else ``carriers.zones``
reads the local wall time where the activity's address places it: its city and ``stateProvince``
in a country of several zones (``TZ_LOCATION``: ``mappings/regions.json``, airports' cities), its
country when its zones agree (``TZ_COUNTRY``), an address without a country on the origin /
destination leg in the package's ``ORIGIN`` / ``DESTINATION`` address country
(``TZ_SHIPMENT_COUNTRY``), else UPS's home zone America/New_York as ``TZ_ASSUMED``. Webhook:
``gmtActivityDate`` + ``gmtActivityTime``, else local + ``gmtOffset`` (``-04.00``, with a dot),
else the location rule.
``local_time`` is the local ``"YYYYMMDD HHMMSS"`` text (the GMT text when no local one is sent).

Event ids: UPS has none. ``derive_event_id`` over carrier, number, UTC instant and the canonical
code (status codes zero-padded), so the same activity seen through the webhook and the poll API
gets the same id. Authentication: ``verify_webhook`` checks the Track Alert v1 ``credential``
header against the subscription's credential (static secret, constant-time; a ``Bearer `` prefix
is tolerated). Track Alert v2 authenticates with OAuth2 at the ingress, not here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from typing import Any

from carriers import zones
from carriers._util import (
    as_list,
    ascii_digits,
    compact,
    header,
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
from schemas.taxonomy import Status, Substatus

CARRIER = "ups"
HOME_ZONE = "America/New_York"  # Atlanta
CREDENTIAL_HEADER = "credential"
NOT_FOUND_CODES = frozenset({"TW0001"})
_PLACEHOLDERS = frozenset({"string"})
_STRONG_TYPES = frozenset({"D", "X"})
_WEAK_STATUSES = frozenset({Status.PRE_TRANSIT, Status.IN_TRANSIT, Status.UNKNOWN})
_KEPT_SUBSTATUSES = frozenset({Substatus.DELAYED, Substatus.CUSTOMS, Substatus.CUSTOMS_HOLD})
_OFFSET = re.compile(r"^([+-])(\d{1,2})(?:[.:]?(\d{2}))?$")


def verify_webhook(body: bytes, headers: Mapping[str, str], secret: str) -> None:
    """Track Alert v1: the ``credential`` header must equal the subscription's ``credential``.

    A static shared secret, not a body signature (``body`` is not used). Raises ``SignatureError``.
    """
    if not secret:
        raise SignatureError("no UPS webhook credential configured")
    given = (header(headers, CREDENTIAL_HEADER) or "").strip()
    if not given:
        raise SignatureError(f"missing {CREDENTIAL_HEADER} header")
    bare = given[7:].strip() if given[:7].lower() == "bearer " else given
    exact = same_text(given, secret)
    if not (same_text(bare, secret) or exact):
        raise SignatureError(f"{CREDENTIAL_HEADER} header does not match")


# --- tables -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Tables:
    status_codes: dict[str, CodeMapping]
    activity_codes: dict[str, CodeMapping]
    types: dict[str, CodeMapping]
    informational: frozenset[str]


@cache
def _tables() -> _Tables:
    data = load_mapping_file("ups.json")
    info = {f"status:{c}" for c, row in data["status_codes"].items() if row.get("informational")}
    info |= {f"type:{c}" for c, row in data["activity_types"].items() if row.get("informational")}
    return _Tables(
        parse_code_table(data["status_codes"]), parse_code_table(data["activity_codes"]),
        parse_code_table(data["activity_types"]), frozenset(info),
    )


def canonical_status_code(code: str) -> str:
    """``"3"``, ``"03"`` and ``"003"`` are one status code: ``"003"``."""
    stripped = code.strip().upper()
    return str(int(stripped)).zfill(3) if ascii_digits(stripped) else stripped


def map_activity(
    activity_type: str, activity_code: str = "", status_code: str = ""
) -> tuple[CodeMapping, str | None, bool]:
    """(mapping, layer, informational); layer None means unmapped. See the module docstring."""
    tables = _tables()
    kind, code = activity_type.strip().upper(), activity_code.strip().upper()
    status = canonical_status_code(status_code)
    found: CodeMapping | None = None
    layer: str | None = None
    if f"type:{kind}" in tables.informational:  # type U: updates never change the status
        return tables.types[kind], "activity_type", True
    informational = f"status:{status}" in tables.informational
    if status in tables.status_codes:
        found, layer = tables.status_codes[status], "status_code"
    elif code in tables.activity_codes:
        found, layer = tables.activity_codes[code], "activity_code"
    if found is not None and kind in _STRONG_TYPES and found.status in _WEAK_STATUSES and kind in tables.types:
        base = tables.types[kind]
        keep = found.substatus if found.substatus in _KEPT_SUBSTATUSES else base.substatus
        return CodeMapping(base.status, keep), f"activity_type:{layer}", False
    if found is not None:
        return found, layer, informational
    if kind in tables.types:
        return tables.types[kind], "activity_type", False
    return UNMAPPED, None, False


# --- time ---------------------------------------------------------------------------------------


def parse_offset(raw: str) -> timezone | None:
    """``-04.00`` (Track Alert), ``-05:00`` (Tracking API), ``-0400``, ``+5`` → fixed zone; None if empty."""
    value = raw.strip()
    if not value:
        return None
    match = _OFFSET.match(value)
    if match is None or int(match.group(2)) > 14 or int(match.group(3) or 0) > 59:
        raise PayloadError(f"unreadable GMT offset {raw!r}")
    delta = timedelta(hours=int(match.group(2)), minutes=int(match.group(3) or 0))
    return timezone(-delta if match.group(1) == "-" else delta)


def ups_datetime(date: str, time: str, what: str) -> datetime:
    """``YYYYMMDD`` + ``HHMMSS`` (leading zero dropped or ``HH:MM:SS`` accepted) → naive datetime."""
    clock = time.strip().replace(":", "")
    day = date.strip().replace("-", "")
    if not (clock.isdigit() and len(clock) <= 6 and day.isdigit() and len(day) == 8):
        raise PayloadError(f"unreadable date/time {date!r} {time!r} ({what})")
    try:
        return datetime.strptime(day + clock.zfill(6), "%Y%m%d%H%M%S")
    except ValueError as exc:
        raise PayloadError(f"unreadable date/time {date!r} {time!r} ({what})") from exc


def resolve_time(
    local: tuple[Any, Any], gmt: tuple[Any, Any], offset: str, place: Place, what: str
) -> tuple[datetime, str, str]:
    """(UTC instant, tz_source, local_time text) from UPS's local and GMT fields."""
    local_date, local_clock = (text(v) for v in local)
    gmt_date, gmt_clock = (text(v) for v in gmt)
    local_text = f"{local_date} {local_clock}".strip()
    if gmt_date and gmt_clock:
        instant = ups_datetime(gmt_date, gmt_clock, what).replace(tzinfo=UTC)
        return instant, TZ_GIVEN, local_text or f"{gmt_date} {gmt_clock}"
    if not (local_date and local_clock):
        raise PayloadError(f"missing activity date/time ({what})")
    naive = ups_datetime(local_date, local_clock, what)
    instant, source = zones.localize_at(naive, replace(place, offset=parse_offset(text(offset))), HOME_ZONE)
    return instant, source, local_text


# --- builders -----------------------------------------------------------------------------------


def _clean(value: Any) -> str:
    """Text with the API reference's ``"string"`` placeholders read as missing."""
    value_text = text(value)
    return "" if value_text.lower() in _PLACEHOLDERS else value_text


def _country(*values: Any) -> str:
    for value in values:
        code = _clean(value).upper()
        if len(code) == 2 and code.isalpha():
            return code
    return ""


def _event(
    number: str, status: Mapping[str, Any], timing: tuple[datetime, str, str], place: Location | None,
    attrs: Mapping[str, Any], source: str, received_at: datetime, code_key: str,
) -> TrackingEvent:
    kind = _clean(status.get("type")).upper()
    activity_code = _clean(status.get("code")).upper()
    status_code = _clean(status.get(code_key))
    code = status_code or activity_code or kind
    if not code:
        raise PayloadError(f"activity status without type/code ({number})")
    mapping, layer, informational = map_activity(kind, activity_code, status_code)
    extra = dict(attrs)
    extra.update(compact({
        "activity_type": kind, "activity_code": activity_code, "mapping_layer": layer,
        "simplified_text": _clean(status.get("simplifiedTextDescription")),
    }))
    if informational:
        extra["status_change"] = False
    occurred, tz_source, local = timing
    id_code = canonical_status_code(status_code) if status_code else code
    return TrackingEvent(
        event_id=derive_event_id(CARRIER, number, occurred, id_code), carrier=CARRIER, tracking_number=number,
        status=mapping.status, substatus=mapping.substatus, code=code, description=_clean(status.get("description")),
        occurred_at=occurred, local_time=local, tz_source=tz_source, received_at=received_at, location=place,
        mapped=layer is not None, source=source, attributes=extra,
    )


def _leg(status: Mapping[str, Any], code_key: str) -> str | None:
    """The leg an activity sits on (``zones.leg_of``), from the mapping its codes get."""
    mapping = map_activity(_clean(status.get("type")).upper(), _clean(status.get("code")).upper(),
                           _clean(status.get(code_key)))[0]
    return zones.leg_of(mapping.status, mapping.substatus)


def package_countries(package: Mapping[str, Any]) -> tuple[str, str]:
    """(origin, destination) country from ``packageAddress`` rows typed ``ORIGIN`` / ``DESTINATION``."""
    found = {"ORIGIN": "", "DESTINATION": ""}
    for row in as_list(package.get("packageAddress")):
        if isinstance(row, dict):
            kind = _clean(row.get("type")).upper()
            address = sub(row, "address")
            if kind in found and not found[kind]:
                found[kind] = _country(address.get("countryCode"), address.get("country"))
    return found["ORIGIN"], found["DESTINATION"]


def _place(city: Any, postcode: Any, country: str, code: Any = None) -> Location | None:
    found = Location(city=_clean(city) or None, postcode=_clean(postcode) or None, country=country or None,
                     code=_clean(code) or None)
    return found if found != Location() else None


def _webhook_event(body: Mapping[str, Any], what: str, received_at: datetime) -> TrackingEvent:
    number = tracking_number(body.get("trackingNumber"), f"{what}.trackingNumber")
    status = obj(body.get("activityStatus"), f"{what}.activityStatus")
    where = sub(body, "activityLocation")
    country, region = _country(where.get("country"), where.get("countryCode")), _clean(where.get("stateProvince"))
    at = Place(city=_clean(where.get("city")), region=region, country=country, leg=_leg(status, "descriptionCode"))
    timing = resolve_time(
        (body.get("localActivityDate"), body.get("localActivityTime")),
        (body.get("gmtActivityDate"), body.get("gmtActivityTime")),
        text(body.get("gmtOffset")), at, what,
    )
    alternates = [_clean(v) if not isinstance(v, dict) else _clean(v.get("number"))
                  for v in as_list(body.get("alternateTrackingNumber"))]
    attrs = compact({
        "state": region.upper(),
        "gmt_offset": text(body.get("gmtOffset")),
        "scheduled_delivery_date": _clean(body.get("scheduledDeliveryDate")),
        "actual_delivery_date": _clean(body.get("actualDeliveryDate")),
        "actual_delivery_time": _clean(body.get("actualDeliveryTime")),
        "received_by": _clean(body.get("receivedBy")),
        "delivery_time_description": _clean(body.get("deliveryTimeDescription")),
        "alternate_tracking_numbers": [a for a in alternates if a],
    })
    place = _place(where.get("city"), where.get("postalCode"), country)
    return _event(number, status, timing, place, attrs, "webhook", received_at, "descriptionCode")


def _pairs(value: Any, first: str, second: str) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for item in as_list(value):
        if isinstance(item, dict) and _clean(item.get(second)):
            out.append(compact({first: _clean(item.get(first)), second: _clean(item.get(second))}))
    return out


_DELIVERY_DATE_TYPES = {"DEL": "delivered_date", "SDD": "scheduled_delivery_date", "RDD": "rescheduled_delivery_date"}


def _package_attributes(
    shipment: Mapping[str, Any], package: Mapping[str, Any], inquiry: str, number: str
) -> dict[str, Any]:
    dates = {
        _DELIVERY_DATE_TYPES.get(_clean(d.get("type")).upper(), f"delivery_date_{_clean(d.get('type')).lower()}"):
            _clean(d.get("date"))
        for d in as_list(package.get("deliveryDate")) if isinstance(d, dict) and _clean(d.get("date"))
    }
    window = sub(package, "deliveryTime")
    delivery = sub(package, "deliveryInformation")
    weight = sub(package, "weight")
    current = sub(package, "currentStatus")
    attrs: dict[str, Any] = {
        "inquiry_number": inquiry if inquiry and inquiry != number else "",
        "shipper_number": _clean(shipment.get("shipperNumber")),
        "service": _clean(sub(package, "service").get("description")),
        "service_code": _clean(sub(package, "service").get("code")),
        "references": _pairs(package.get("referenceNumber"), "type", "number")
        + _pairs(shipment.get("referenceNumber"), "type", "number"),
        "alternate_tracking_numbers": _pairs(package.get("alternateTrackingNumber"), "type", "number"),
        "pieces": text(package.get("packageCount")),
        "weight": " ".join(p for p in (_clean(weight.get("weight")), _clean(weight.get("unitOfMeasurement"))) if p),
        "delivery_window_start": _clean(window.get("startTime")),
        "delivery_window_end": _clean(window.get("endTime")),
        "received_by": _clean(delivery.get("receivedBy")),
        "delivery_location": _clean(delivery.get("location")),
        "current_status_code": _clean(current.get("statusCode")),
        "current_status": _clean(current.get("description")),
    }
    attrs.update(dates)
    return compact(attrs)


def _activity_event(
    activity: Mapping[str, Any], number: str, attrs: Mapping[str, Any], what: str, received_at: datetime,
    shipment: tuple[str, str] = ("", ""),
) -> TrackingEvent:
    status = obj(activity.get("status"), f"{what}.status")
    where = sub(activity, "location")
    address = sub(where, "address")
    country = _country(address.get("countryCode"), address.get("country"))
    region = _clean(address.get("stateProvince"))
    at = Place(city=_clean(address.get("city")), region=region, country=country, origin_country=shipment[0],
               destination_country=shipment[1], leg=_leg(status, "statusCode"))
    timing = resolve_time(
        (activity.get("date"), activity.get("time")), (activity.get("gmtDate"), activity.get("gmtTime")),
        text(activity.get("gmtOffset")), at, what,
    )
    extra = {**attrs, **compact({"state": region.upper(), "gmt_offset": text(activity.get("gmtOffset"))})}
    place = _place(address.get("city"), address.get("postalCode"), country, where.get("slic"))
    return _event(number, status, timing, place, extra, "poll", received_at, "statusCode")


def _track_response(body: Mapping[str, Any], received_at: datetime) -> list[TrackingEvent]:
    events: list[TrackingEvent] = []
    warnings: list[tuple[str, str, str]] = []
    packages = 0
    for i, raw_shipment in enumerate(as_list(body.get("shipment"))):
        what = f"shipment[{i}]"
        shipment = obj(raw_shipment, what)
        inquiry = normalize_tracking_number(_clean(shipment.get("inquiryNumber")))
        for warning in as_list(shipment.get("warnings")):
            if isinstance(warning, dict):
                warnings.append((_clean(warning.get("code")), _clean(warning.get("message")), inquiry))
        for j, raw_package in enumerate(as_list(shipment.get("package"))):
            packages += 1
            package = obj(raw_package, f"{what}.package[{j}]")
            given = _clean(package.get("trackingNumber")) or inquiry
            number = tracking_number(given, f"{what}.package[{j}].trackingNumber")
            attrs = _package_attributes(shipment, package, inquiry, number)
            countries = package_countries(package)
            for k, raw_activity in enumerate(as_list(package.get("activity"))):
                label = f"{what}.package[{j}].activity[{k}]"
                events.append(_activity_event(obj(raw_activity, label), number, attrs, label, received_at, countries))
    if events:
        return events
    real = [w for w in warnings if w[0] or w[1]]
    if real:
        message = "; ".join(f"{code}: {msg}".strip(": ") for code, msg, _ in real)
        not_found = any(code.upper() in NOT_FOUND_CODES or "not found" in msg.lower() for code, msg, _ in real)
        numbers = {number for _, _, number in real if number}
        raise CarrierErrorResponse(f"UPS warning {message}", not_found=not_found,
                                   tracking_number=numbers.pop() if len(numbers) == 1 else None)
    if not packages:
        raise CarrierErrorResponse("UPS: no shipment in the tracking response", not_found=True)
    return events


def _error(body: Mapping[str, Any]) -> CarrierErrorResponse | None:
    raw = sub(body, "response").get("errors") if "response" in body else body.get("errors")
    if not raw:
        return None
    parts = [(text(e.get("code")), text(e.get("message"))) if isinstance(e, dict) else ("", text(e))
             for e in as_list(raw)]
    message = "; ".join(f"{code}: {msg}".strip(": ") for code, msg in parts) or "error"
    not_found = any(code.upper() in NOT_FOUND_CODES for code, _ in parts)
    return CarrierErrorResponse(f"UPS error {message}", not_found=not_found)


def parse(payload: bytes, headers: Mapping[str, str], received_at: datetime) -> list[TrackingEvent]:
    """Normalize one UPS Track Alert event (or array of events) or Tracking API response."""
    body = load_json(payload)
    if isinstance(body, list):
        if not body:
            raise PayloadError("empty array: not a UPS Track Alert batch")
        return [_webhook_event(obj(item, f"[{i}]"), f"[{i}]", received_at) for i, item in enumerate(body)]
    body = obj(body, "payload")
    if "trackResponse" in body:
        return _track_response(obj(body["trackResponse"], "trackResponse"), received_at)
    error = _error(body)
    if error is not None:
        raise error
    if "activityStatus" in body or "trackingNumber" in body:
        return [_webhook_event(body, "event", received_at)]
    raise PayloadError("not a UPS payload (no trackResponse / activityStatus / response.errors)")
