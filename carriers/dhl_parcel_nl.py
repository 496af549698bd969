"""DHL Parcel NL (DHL eCommerce Benelux) adapter: native track-trace and the DHL Unified Tracking API.

Both are polled (``source="poll"``), and both can be pushed (``source="webhook"``, see below).

Shapes. **Native** ``GET api-gw.dhlparcel.nl/track-trace?key=…``: a JSON array of parcels even for
one key (a bare parcel object is accepted too): ``barcode``, ``barcodes[]`` (aliases), ``events[]``
(``status`` = detailed code, ``category``, ``timestamp`` UTC ``Z``, ``localTimestamp`` with offset,
``facility``) and ``deliveredAt``, ``plannedDeliveryTimeframe`` (``start/end``), ``returnedAt``,
``isReturn``, ``type``. The variant nesting events in ``view.phases[].events[]`` (``key`` = code,
phase = category) is read the same way. ``[]`` and the 404 text ``No parcel found for the given
key(s)`` (plain or JSON) are ``CarrierErrorResponse(not_found=True)``. **Unified**
``GET api-eu.dhl.com/track/shipments?service=parcel-nl``: ``{"shipments": [{"id", "service",
"status", "events"}]}``; ``shipments: []`` and the 404 problem+json are not-found answers, other
problem documents ``not_found=False``. ``parse_unified`` is shared with the DHL Express adapter
(``service=express``), which passes its own mapper and zones.

Tracking number. Native ``barcode``; when the poller passes the numbers it asked for in the
``X-Trackstream-Tracking-Number`` header (comma-joined for a batch) and one is the barcode or one of
``barcodes[]``, that number is used (the shipment key then matches the registered number); the
others go to attributes.
Unified: ``id``.

Mapping (``mappings/dhl_parcel_nl.json``): the detailed ``status`` first, then the native
``category`` (``attributes["mapping_layer"] = "category"``), then the unified ``statusCode``
(``"unified_status_code"``); else ``UNMAPPED`` / ``mapped=False``, code kept. A status that is free
text, not a code (``A-Z0-9_/-``), is never used as ``code`` (ids must not depend on wording).
Pitfalls: ``DELIVERED_AT_PARCELSHOP`` is not delivered (table); on a return parcel (``isReturn`` or
``type: RETOUR``) delivered becomes ``returned_to_sender`` (``attributes["return_delivered"]``);
*notice* codes (``IMAGE_AVAILABLE``, ``LEG_REFERENCE_ADDED``…; ``notice_codes``) take the status of
the latest earlier journey event of the parcel in the payload (``attributes["status_from"]``), so a
photo after delivery stays delivered; alone they are ``unknown`` (mapped).

Time. Native ``timestamp`` (UTC) is preferred, else ``localTimestamp``; both carry a zone
(``TZ_GIVEN``); ``local_time`` is ``localTimestamp`` when present, else ``timestamp``. Text without
a zone (the unified doc example's events) is read where ``carriers.zones`` places the event: its
city and country, else (no country) the shipment's origin / destination country on that leg
(unified ``origin`` / ``destination``), else Europe/Amsterdam as ``TZ_ASSUMED``; DST-correct. The
unified shipment ``status`` becomes an event only when ``events`` is empty: the doc example shows
one scan as ``07:53:47Z`` there and as zone-less ``07:53:47`` in ``events`` (merging duplicates it).

Events are returned per parcel oldest first. Ids are derived (DHL gives none): carrier, tracking
number, UTC instant, code; location text never enters the id, nor does the transport, so the same
scan polled and pushed is one event.

Push. DHL Parcel NL documents a "Track & Trace Pusher" (api.dhlparcel.nl guide, chapter 6): per
parcel subscriptions or organisation-wide pushing to a URL configured in My DHL Parcel, with
authorisation type "API key": a header name and key value chosen by the customer. The DHL Unified
Push API (``service=parcel-nl``) has the same scheme (``ApiKeyAuthentication``: header + token).
trackstream expects the header ``X-API-Key`` (``WEBHOOK_HEADER``) carrying
``TRACKSTREAM_DHL_PARCEL_NL_WEBHOOK_TOKEN`` (``verify_webhook``, constant time). *Assumption*: the
pusher's body is not published; it is read as the native track-trace shape (one parcel object or
an array of them) or the unified ``{"shipments": [...]}`` envelope, i.e. exactly what ``parse``
reads from the polled APIs. Nothing in the payload tells push from poll, so events are
``source="webhook"`` when trackstream's ingress marked the raw message (``source: webhook`` header).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache
from typing import Any

from carriers import zones
from carriers._util import as_list, compact, header, iso_instant, load_json, obj, same_text, sub, text, tracking_number
from carriers.base import (
    TRACKING_NUMBER_HEADER,
    UNMAPPED,
    CarrierErrorResponse,
    CodeMapping,
    HeaderUse,
    ParseError,
    PayloadError,
    SignatureError,
    load_mapping_file,
    parse_code_table,
)
from carriers.zones import Place
from schemas.events import TZ_GIVEN, Location, TrackingEvent, derive_event_id, format_utc
from schemas.taxonomy import Status

CARRIER = "dhl_parcel_nl"
HOME_ZONE = "Europe/Amsterdam"
WEBHOOK_HEADER = "X-API-Key"
#: the header trackstream's ingress adds to every raw message it stores (``webhook`` for pushes)
SOURCE_HEADER = "source"
HEADERS = (
    HeaderUse(TRACKING_NUMBER_HEADER, "the barcodes the poller asked for, comma-joined (keeps the asked number)"),
    HeaderUse(SOURCE_HEADER, "set by the ingress: webhook for a Track & Trace Pusher push"),
)
_NOT_FOUND_TEXTS = ("no parcel found", "not found", "no shipment", "no result")
_CODE_LIKE = re.compile(r"^[A-Z0-9_/\-]+$")
_RETURN_TYPES = frozenset({"RETOUR", "RETURN"})

#: (status text, unified statusCode) -> (code, mapping, mapped, mapping layer)
Mapper = Callable[[str, str], tuple[str, CodeMapping, bool, str]]


@dataclass(frozen=True, slots=True)
class _Tables:
    status_codes: dict[str, CodeMapping]
    categories: dict[str, CodeMapping]
    unified: dict[str, CodeMapping]
    notice: frozenset[str]


@cache
def _tables() -> _Tables:
    data = load_mapping_file("dhl_parcel_nl.json")
    return _Tables(
        parse_code_table(data["status_codes"]), parse_code_table(data["categories"]),
        parse_code_table(data["unified_status_codes"]), frozenset(data["notice_codes"]),
    )


def map_status(code: str) -> CodeMapping | None:
    return _tables().status_codes.get(code.strip().upper())


def map_category(category: str) -> CodeMapping | None:
    return _tables().categories.get(category.strip().upper())


def map_unified(status_code: str) -> CodeMapping | None:
    return _tables().unified.get(status_code.strip().lower())


def is_notice(code: str) -> bool:
    return code in _tables().notice


def code_like(value: str) -> bool:
    return bool(_CODE_LIKE.match(value))


def resolve(detail: str, category: str = "", unified: str = "") -> tuple[str, CodeMapping, bool, str]:
    """(code, mapping, mapped, layer): detailed status, then category, then unified statusCode."""
    detail = detail.strip().upper() if code_like(detail.strip().upper()) else ""
    found = map_status(detail) if detail else None
    if found is not None:
        return detail, found, True, "status"
    for value, lookup, layer in ((category, map_category, "category"), (unified, map_unified, "unified_status_code")):
        mapping = lookup(value) if value else None
        if mapping is not None:
            return detail or value, mapping, True, layer
    return detail or category or unified, UNMAPPED, False, "none"


def _unified_mapper(status: str, status_code: str) -> tuple[str, CodeMapping, bool, str]:
    return resolve(status, "", status_code)


# --- time ---------------------------------------------------------------------------------------


def place_of(location: Location | None, origin: Location | None = None, destination: Location | None = None,
             leg: str | None = None) -> Place:
    """What an event's address (and the shipment's origin / destination) says about its zone."""
    return zones.place_at(location, origin_country=(origin.country or "") if origin else "",
                          destination_country=(destination.country or "") if destination else "", leg=leg)


def resolve_time(raw: str, place: Place, home: str, what: str = "timestamp") -> tuple[datetime, str]:
    """ISO text → (UTC instant, tz_source): the given offset, else where ``carriers.zones`` places it."""
    given = iso_instant(raw, what)
    if given is not None:
        return given, TZ_GIVEN
    naive = datetime.fromisoformat(text(raw))
    return zones.localize_at(naive, place, home)


def _utc_text(raw: str, country: str | None = None) -> str:
    """An extra timestamp as UTC text ("" when unreadable: extras never reject a payload)."""
    try:
        return format_utc(resolve_time(raw, Place(country=country or ""), HOME_ZONE)[0]) if raw else ""
    except (ParseError, ValueError, OverflowError):
        return ""


# --- native track-trace -------------------------------------------------------------------------


def _facility(event: Mapping[str, Any]) -> Location | None:
    facility = event.get("facility")
    if isinstance(facility, str) and facility.strip():
        return Location(text=facility.strip())
    if not isinstance(facility, dict):
        return None
    address = sub(facility, "address") or facility
    loc = Location(
        city=text(address.get("city")) or None,
        postcode=text(address.get("postalCode") or address.get("postcode") or address.get("zipCode")) or None,
        country=text(address.get("countryCode") or address.get("country")).upper() or None,
        code=text(facility.get("id") or facility.get("code")) or None,
        text=text(facility.get("name")) or None,
    )
    return loc if loc.to_dict() else None


def _native_events(parcel: Mapping[str, Any], what: str) -> list[tuple[Mapping[str, Any], str]]:
    """(event, category fallback) pairs from ``events[]`` or ``view.phases[].events[]``."""
    pairs = [(obj(e, f"{what}.events[{i}]"), "") for i, e in enumerate(as_list(parcel.get("events")))]
    for p_index, raw_phase in enumerate(as_list(sub(parcel, "view").get("phases"))):
        phase = obj(raw_phase, f"{what}.view.phases[{p_index}]")
        for e_index, raw in enumerate(as_list(phase.get("events"))):
            pairs.append((obj(raw, f"{what}.view.phases[{p_index}].events[{e_index}]"), text(phase.get("phase"))))
    return pairs


def _parcel_number(parcel: Mapping[str, Any], requested: frozenset[str], what: str) -> tuple[str, list[str]]:
    barcode = text(parcel.get("barcode"))
    aliases = [tracking_number(a, f"{what}.barcodes") for a in as_list(parcel.get("barcodes")) if text(a)]
    known = ([tracking_number(barcode, f"{what}.barcode")] if barcode else []) + aliases
    if not known:
        raise PayloadError(f"missing tracking number ({what}.barcode)")
    number = next((n for n in known if n in requested), known[0])
    return number, [n for n in dict.fromkeys(known) if n != number]


def _native_parcel(
    parcel: Mapping[str, Any], what: str, requested: frozenset[str], received_at: datetime
) -> list[TrackingEvent]:
    number, aliases = _parcel_number(parcel, requested, what)
    kind = text(parcel.get("type")).upper()
    is_return = parcel.get("isReturn") is True or kind in _RETURN_TYPES
    planned = text(parcel.get("plannedDeliveryTimeframe"))
    start, _, end = planned.partition("/")
    attrs = compact({
        "barcodes": aliases, "type": kind, "is_return": True if is_return else None,
        "delivered_at": _utc_text(text(parcel.get("deliveredAt"))),
        "returned_at": _utc_text(text(parcel.get("returnedAt"))),
        "planned_delivery_timeframe": planned,
        "planned_delivery_from": _utc_text(start), "planned_delivery_to": _utc_text(end),
        "reference": text(parcel.get("reference")),
    })
    events: list[TrackingEvent] = []
    for index, (event, phase) in enumerate(_native_events(parcel, what)):
        label = f"{what}.events[{index}]"
        detail = text(event.get("status") or event.get("key"))
        category = text(event.get("category")) or phase
        if not detail and not category:
            raise PayloadError(f"{label}: missing status and category")
        code, mapping, mapped, layer = resolve(detail, category)
        location = _facility(event)
        utc_raw, local_raw = text(event.get("timestamp")), text(event.get("localTimestamp"))
        if not utc_raw and not local_raw:
            raise PayloadError(f"{label}: missing timestamp")
        instant, tz_source = resolve_time(utc_raw or local_raw, place_of(location), HOME_ZONE,
                                          what=f"{label}.timestamp")
        extra = dict(attrs)
        extra.update(compact({"category": category, "mapping_layer": layer if layer != "status" else None}))
        if is_return and mapping.status == Status.DELIVERED:
            mapping = CodeMapping(Status.RETURNED_TO_SENDER)
            extra["return_delivered"] = True
        events.append(TrackingEvent(
            event_id=derive_event_id(CARRIER, number, instant, code), carrier=CARRIER, tracking_number=number,
            status=mapping.status, substatus=mapping.substatus, code=code,
            description=text(event.get("description")) or detail or category, occurred_at=instant,
            local_time=local_raw or utc_raw, tz_source=tz_source, received_at=received_at, location=location,
            mapped=mapped, source="poll", attributes=extra,
        ))
    return chronological(events)


def chronological(events: list[TrackingEvent]) -> list[TrackingEvent]:
    """Oldest first; notice events inherit the status of the latest earlier journey event."""
    ordered = sorted(events, key=lambda e: e.occurred_at)
    out: list[TrackingEvent] = []
    last: TrackingEvent | None = None
    for event in ordered:
        if event.mapped and is_notice(event.code) and event.status == Status.UNKNOWN:
            if last is not None:
                attrs = dict(event.attributes)
                attrs["status_from"] = last.code
                event = replace(event, status=last.status, substatus=last.substatus, attributes=attrs)
        elif event.mapped and event.status != Status.UNKNOWN:
            last = event
        out.append(event)
    return out


def _native(items: list[Any], headers: Mapping[str, str], received_at: datetime) -> list[TrackingEvent]:
    if not items:
        raise CarrierErrorResponse("DHL Parcel NL: no parcel found (empty track-trace answer)", not_found=True)
    requested_raw = header(headers, TRACKING_NUMBER_HEADER) or ""
    requested = frozenset(tracking_number(part, TRACKING_NUMBER_HEADER) for part in requested_raw.split(",")
                          if part.strip())
    events: list[TrackingEvent] = []
    for index, raw in enumerate(items):
        events.extend(_native_parcel(obj(raw, f"parcel[{index}]"), f"parcel[{index}]", requested, received_at))
    return events


# --- unified API --------------------------------------------------------------------------------


def _address(place: Mapping[str, Any]) -> Location | None:
    address = sub(sub(place, "location"), "address") or sub(place, "address")
    locality = text(address.get("addressLocality"))
    loc = Location(
        city=locality.rsplit(",", 1)[-1].strip() or None, postcode=text(address.get("postalCode")) or None,
        country=text(address.get("countryCode")).upper() or None, text=locality or None,
    )
    return loc if loc.to_dict() else None


def _unified_attributes(shipment: Mapping[str, Any]) -> dict[str, Any]:
    details = sub(shipment, "details")
    pod = sub(details, "proofOfDelivery")
    references = [text(r.get("number")) if isinstance(r, dict) else text(r) for r in as_list(details.get("references"))]
    frame = sub(shipment, "estimatedDeliveryTimeFrame")
    destination = _address(sub(shipment, "destination"))
    country = destination.country if destination else None
    origin = _address(sub(shipment, "origin"))
    return compact({
        "service": text(shipment.get("service")),
        "product": text(sub(details, "product").get("productName")),
        "estimated_delivery": _utc_text(text(shipment.get("estimatedTimeOfDelivery")), country),
        "estimated_delivery_from": _utc_text(text(frame.get("estimatedFrom")), country),
        "estimated_delivery_through": _utc_text(text(frame.get("estimatedThrough")), country),
        "estimated_delivery_remark": text(shipment.get("estimatedTimeOfDeliveryRemark")),
        "pieces": text(details.get("totalNumberOfPieces")),
        "piece_ids": [text(p) for p in as_list(details.get("pieceIds")) if text(p)],
        "reference": ", ".join(r for r in references if r),
        "signed_by": text(sub(pod, "signed").get("name")),
        "proof_of_delivery_at": _utc_text(text(pod.get("timestamp")), country),
        "origin_country": origin.country if origin else None,
        "destination_country": country,
        "destination_postcode": destination.postcode if destination else None,
    })


def parse_unified(
    body: Mapping[str, Any], received_at: datetime, *, carrier: str = CARRIER, mapper: Mapper = _unified_mapper,
    home: str = HOME_ZONE,
) -> list[TrackingEvent]:
    """DHL Unified Tracking API ``{"shipments": [...]}`` (any ``service``). See the module docstring."""
    shipments = as_list(body.get("shipments"))
    if not shipments:
        raise CarrierErrorResponse("DHL unified tracking: no shipment found", not_found=True)
    out: list[TrackingEvent] = []
    for s_index, raw in enumerate(shipments):
        what = f"shipments[{s_index}]"
        shipment = obj(raw, what)
        number = tracking_number(shipment.get("id"), f"{what}.id")
        attrs = _unified_attributes(shipment)
        origin, destination = _address(sub(shipment, "origin")), _address(sub(shipment, "destination"))
        raw_events = as_list(shipment.get("events")) or ([shipment["status"]] if sub(shipment, "status") else [])
        events: list[TrackingEvent] = []
        for e_index, raw_event in enumerate(raw_events):
            label = f"{what}.events[{e_index}]"
            event = obj(raw_event, label)
            status_text, status_code = text(event.get("status")), text(event.get("statusCode"))
            if not status_text and not status_code:
                raise PayloadError(f"{label}: missing status and statusCode")
            code, mapping, mapped, layer = mapper(status_text, status_code)
            location = _address(event)
            local = text(event.get("timestamp"))
            leg = zones.leg_of(mapping.status, mapping.substatus)
            instant, tz_source = resolve_time(local, place_of(location, origin, destination, leg), home,
                                              what=f"{label}.timestamp")
            extra = dict(attrs)
            extra.update(compact({
                "status_code": status_code, "status_text": status_text if status_text != code else None,
                "remark": text(event.get("remark")), "next_steps": text(event.get("nextSteps")),
                "mapping_layer": layer if layer not in ("status", "event_code") else None,
            }))
            events.append(TrackingEvent(
                event_id=derive_event_id(carrier, number, instant, code), carrier=carrier, tracking_number=number,
                status=mapping.status, substatus=mapping.substatus, code=code,
                description=text(event.get("description")) or status_text or status_code, occurred_at=instant,
                local_time=local, tz_source=tz_source, received_at=received_at, location=location, mapped=mapped,
                source="poll", attributes=extra,
            ))
        out.extend(chronological(events))
    return out


# --- errors and entry point ---------------------------------------------------------------------


def problem_error(body: Mapping[str, Any], who: str) -> CarrierErrorResponse | None:
    """A problem+json / error object (``title``/``detail``/``status``/``message``) without data."""
    if "shipments" in body or "barcode" in body:
        return None
    keys = ("title", "detail", "message", "error", "errorMessage", "errors")
    if not any(k in body for k in keys):
        return None
    status = text(body.get("status"))
    parts = [text(body.get(k)) for k in keys if text(body.get(k))]
    message = " - ".join(dict.fromkeys(parts)) or "error"
    lowered = message.lower()
    not_found = status == "404" or any(s in lowered for s in _NOT_FOUND_TEXTS)
    instance = text(body.get("instance"))
    number = instance.rstrip("/").rsplit("/", 1)[-1] if not_found and instance else None
    return CarrierErrorResponse(f"{who} error {status}: {message}".replace(" :", ":"), not_found=not_found,
                                tracking_number=number or None)


def _text_answer(payload: bytes) -> CarrierErrorResponse | None:
    try:
        body = bytes(payload).decode("utf-8").strip()
    except (UnicodeDecodeError, TypeError):
        return None
    if body[:1] in ("[", "{", "<", "") or not any(s in body.lower() for s in _NOT_FOUND_TEXTS):
        return None
    return CarrierErrorResponse(f"DHL Parcel NL: {body[:200]}", not_found=True)


def verify_webhook(body: bytes, headers: Mapping[str, str], secret: str) -> None:
    """Track & Trace Pusher: the ``X-API-Key`` header must equal the configured key (``body`` unused).

    A static shared secret chosen by the customer, not a body signature. Raises ``SignatureError``.
    """
    if not secret:
        raise SignatureError("no DHL Parcel NL webhook key configured")
    given = (header(headers, WEBHOOK_HEADER) or "").strip()
    if not given:
        raise SignatureError(f"missing {WEBHOOK_HEADER} header")
    if not same_text(given, secret):
        raise SignatureError(f"{WEBHOOK_HEADER} header does not match")


def parse(payload: bytes, headers: Mapping[str, str], received_at: datetime) -> list[TrackingEvent]:
    """Normalize one DHL Parcel NL track-trace or unified tracking response, polled or pushed. See the
    module docstring."""
    events = _parse(payload, headers, received_at)
    if (header(headers, SOURCE_HEADER) or "").strip() == "webhook":
        return [replace(e, source="webhook") for e in events]
    return events


def _parse(payload: bytes, headers: Mapping[str, str], received_at: datetime) -> list[TrackingEvent]:
    if isinstance(payload, bytes | bytearray | memoryview):
        answer = _text_answer(bytes(payload))
        if answer is not None:
            raise answer
    body = load_json(payload)
    if isinstance(body, list):
        return _native(body, headers, received_at)
    if isinstance(body, str):
        answer = _text_answer(body.encode())
        raise answer or PayloadError("a JSON string is not a DHL Parcel NL response")
    body = obj(body, "payload")
    error = problem_error(body, "DHL Parcel NL")
    if error is not None:
        raise error
    if "shipments" in body:
        return parse_unified(body, received_at)
    if "barcode" in body or "barcodes" in body:
        return _native([body], headers, received_at)
    raise PayloadError("not a DHL Parcel NL response (no parcel array, barcode or shipments)")
