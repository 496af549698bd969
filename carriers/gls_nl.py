"""GLS Netherlands adapter: GLS Group "Track And Trace V1" responses and the public ``rstt001`` JSON.

GLS has no documented push, so every payload is a polling answer (``source="poll"``).

Shapes (detected from the top-level keys of the JSON object):

* **Track And Trace V1** (``"parcels"``): ``/tracking/simple/trackids/{ids}`` and
  ``/tracking/simple/references/{refs}``. One entry per parcel (several per response, one reference
  can return several parcels). The tracking number is ``unitno`` (``requested`` when it is missing;
  ``requested`` goes into the attributes when it differs). Errors are reported *per parcel* inside a
  200 answer (``errorCode`` + ``errorMessage``): a parcel with an error is skipped; when no parcel
  yields tracking data the errors raise ``CarrierErrorResponse`` (``not_found`` when every error is
  ``E_404_*``). An empty ``parcels`` list is ``not_found`` too.
* **public rstt001** (``"tuStatus"``): one entry per transport unit (``tuNo``). ``history[]`` has no
  codes; ``progressBar.evtNos[]`` holds the numeric event codes in the same order (newest first).
  The codes are used only when both lists have the same length; otherwise ``code`` is ``""``, the
  events are unmapped and the id is derived from a hash of the event text instead of the code
  (``attributes["evt_nos_aligned"] = False``). An empty ``tuStatus`` is ``not_found``.
* **error bodies** without tracking data (``errors`` / ``error`` / ``exceptionText`` / ``message``)
  raise ``CarrierErrorResponse``.

Events (Track And Trace V1). Each ``events[]`` entry becomes one event, in payload order;
``code`` = ``events[].code`` (``INTIAL.NORMAL``, GLS's own spelling). The parcel's ``status`` /
``statusDateTime`` becomes an extra event with ``code = "status:<STATUS>"`` only when it is later
than every listed event (or the parcel has no events, ``showEvents=false``); it then records a
change the event list does not show. Mapping order (``mappings/gls_nl.json``): exact event code;
else the parcel status when its ``statusDateTime`` is the same instant as the event
(``attributes["mapping_layer"] = "parcel_status"``); else the code's ``<GROUP>`` (``event_group``);
else ``UNMAPPED`` / ``mapped=False`` with code and text kept. ``DELIVEREDPS`` and
``DELIVD.PARCELSHOP`` are *available_for_pickup*, not delivered.

``FINAL`` ("parcel history closed") is no journey step: it takes the status of the parcel's latest
terminal event (delivered / returned_to_sender / cancelled, so a closed return stays a return) and
records it in ``attributes["final_of"]``; without one it keeps the table row (``unknown``, mapped).

Events (rstt001). One event per ``history[]`` entry; mapping by ``rstt001_event_codes``; the newest
entry falls back to ``progressBar.statusInfo`` through the parcel status table.

Time. V1 timestamps carry an offset written without a colon (``+0200``): ``TZ_GIVEN``. Text
without an offset (V1 fallback, and always in rstt001 ``date`` + ``time``) is wall-clock time where
``carriers.zones`` places the event: its country when that country's zones agree (``TZ_COUNTRY``),
its city in a country of several zones (``TZ_LOCATION``), else GLS NL's home zone Europe/Amsterdam
as ``TZ_ASSUMED``; DST-correct via ``base.localize``. ``local_time`` keeps the original text (rstt001:
``"<date> <time>"``). Event ids are derived (GLS has none): carrier, number, UTC instant, code;
location text never enters them. Duplicate events (a parcel asked for twice) are dropped by id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from carriers import zones
from carriers._util import as_list, compact, load_json, obj, sub, text, tracking_number
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
from schemas.events import TZ_GIVEN, Location, TrackingEvent, derive_event_id
from schemas.taxonomy import FINAL_STATUSES

CARRIER = "gls_nl"
HOME_ZONE = "Europe/Amsterdam"
STATUS_CODE_PREFIX = "status:"
FINAL = "FINAL"
_RSTT_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S.%f")
_REFERENCE_ATTRS = {"NOTECARDID": "track_id", "GLSREF": "gls_reference", "CUSTREF": "customer_reference"}
_INFO_ATTRS = {"WEIGHT": "weight", "PRODUCT": "product"}


@dataclass(frozen=True, slots=True)
class _Tables:
    statuses: dict[str, CodeMapping]
    events: dict[str, CodeMapping]
    groups: dict[str, CodeMapping]
    rstt: dict[str, CodeMapping]


@cache
def _tables() -> _Tables:
    data = load_mapping_file("gls_nl.json")
    return _Tables(
        parse_code_table(data["parcel_status"]), parse_code_table(data["event_codes"]),
        parse_code_table(data["event_groups"]), parse_code_table(data["rstt001_event_codes"]),
    )


def map_parcel_status(status: str) -> CodeMapping | None:
    return _tables().statuses.get(status.strip().upper())


def map_event_code(code: str) -> tuple[CodeMapping | None, str]:
    """V1 ``events[].code`` → (mapping or None, mapping layer): exact code, then its group."""
    key = code.strip().upper()
    tables = _tables()
    if key in tables.events:
        return tables.events[key], "event_code"
    group = key.split(".", 1)[0]
    if "." in key and group in tables.groups:
        return tables.groups[group], "event_group"
    return None, ""


def map_rstt001_code(code: str) -> CodeMapping | None:
    return _tables().rstt.get(code.strip())


# --- helpers ------------------------------------------------------------------------------------


def parse_timestamp(raw: str, place: Place | None = None) -> tuple[datetime, str]:
    """V1 timestamp → (UTC instant, tz_source). An offset is honoured; else where ``place`` is."""
    stripped = raw.strip()
    if not stripped:
        raise PayloadError("missing timestamp")
    try:
        value = datetime.fromisoformat(stripped[:-1] + "+00:00" if stripped.endswith("Z") else stripped)
    except ValueError as exc:
        raise PayloadError(f"unreadable timestamp {raw!r}") from exc
    if value.tzinfo is not None:
        return localize(value, zone(HOME_ZONE)), TZ_GIVEN
    return zones.localize_at(value, place or Place(), HOME_ZONE)


def parse_local_timestamp(raw: str, place: Place | None = None) -> tuple[datetime, str]:
    """rstt001 ``"<date> <time>"`` (no zone) → (UTC instant, tz_source)."""
    return zones.parse_local_at(raw, _RSTT_FORMATS, place or Place(), HOME_ZONE)


def _location(city: Any, postcode: Any, country: Any) -> Location | None:
    found = Location(city=text(city) or None, postcode=text(postcode) or None, country=text(country).upper() or None)
    return found if (found.city or found.postcode or found.country) else None


def _dedupe(events: list[TrackingEvent]) -> list[TrackingEvent]:
    seen: set[str] = set()
    out: list[TrackingEvent] = []
    for event in events:
        if event.event_id not in seen:
            seen.add(event.event_id)
            out.append(event)
    return out


def _event(
    number: str, code: str, mapping: CodeMapping | None, description: str, instant: datetime, local: str,
    tz_source: str, received_at: datetime, location: Location | None, attrs: Mapping[str, Any],
    event_id: str | None = None,
) -> TrackingEvent:
    final = mapping or UNMAPPED
    return TrackingEvent(
        event_id=event_id or derive_event_id(CARRIER, number, instant, code), carrier=CARRIER,
        tracking_number=number, status=final.status, substatus=final.substatus, code=code,
        description=description, occurred_at=instant, local_time=local, tz_source=tz_source,
        received_at=received_at, location=location, mapped=mapping is not None, source="poll",
        attributes=dict(attrs),
    )


# --- Track And Trace V1 -------------------------------------------------------------------------


def _final_mapping(events: list[TrackingEvent]) -> tuple[CodeMapping | None, str]:
    terminal = [e for e in events if e.status in FINAL_STATUSES]
    if not terminal:
        return map_parcel_status(FINAL), ""
    latest = max(terminal, key=lambda e: e.occurred_at)
    return CodeMapping(latest.status, latest.substatus), latest.code


def _api_parcel(parcel: Mapping[str, Any], what: str, received_at: datetime) -> list[TrackingEvent]:
    number = tracking_number(parcel.get("unitno") or parcel.get("requested"), f"{what}.unitno")
    requested = tracking_number(parcel.get("requested"), what) if text(parcel.get("requested")) else ""
    base = compact({"feed": "track-and-trace-v1", "requested": requested if requested != number else ""})
    status = text(parcel.get("status")).upper()
    status_local = text(parcel.get("statusDateTime"))
    status_at: tuple[datetime, str] | None = None
    if status and status_local:
        status_at = parse_timestamp(status_local)
    if status:
        base["parcel_status"] = status

    out: list[TrackingEvent] = []
    for index, raw in enumerate(as_list(parcel.get("events"))):
        label = f"{what}.events[{index}]"
        entry = obj(raw, label)
        code = text(entry.get("code")).upper()
        if not code:
            raise PayloadError(f"{label}: missing code")
        local = text(entry.get("eventDateTime"))
        country = text(entry.get("country"))
        try:
            instant, tz_source = parse_timestamp(local, Place(city=text(entry.get("city")), country=country))
        except PayloadError as exc:
            raise PayloadError(f"{label}: {exc}") from exc
        mapping, layer = map_event_code(code)
        if mapping is None and status_at is not None and status_at[0] == instant and status != FINAL:
            mapping, layer = map_parcel_status(status), "parcel_status"
        attrs = dict(base)
        if layer and layer != "event_code" and mapping is not None:
            attrs["mapping_layer"] = layer
        out.append(_event(
            number, code, mapping, text(entry.get("description")), instant, local, tz_source, received_at,
            _location(entry.get("city"), entry.get("postalCode"), country), attrs,
        ))

    if status_at is not None and all(status_at[0] > e.occurred_at for e in out):
        mapping = map_parcel_status(status)
        attrs = dict(base)
        attrs["mapping_layer"] = "parcel_status"
        if status == FINAL:
            mapping, final_of = _final_mapping(out)
            if final_of:
                attrs["final_of"] = final_of
        out.insert(0, _event(
            number, f"{STATUS_CODE_PREFIX}{status}", mapping, status, status_at[0], status_local, status_at[1],
            received_at, None, attrs,
        ))
    return out


def _api(body: Mapping[str, Any], received_at: datetime) -> list[TrackingEvent]:
    parcels = body.get("parcels")
    if not isinstance(parcels, list):
        raise PayloadError("parcels must be a list")
    if not parcels:
        raise CarrierErrorResponse("GLS: no parcel in the response", not_found=True)
    events: list[TrackingEvent] = []
    errors: list[tuple[str, str, str]] = []
    for index, raw in enumerate(parcels):
        what = f"parcels[{index}]"
        parcel = obj(raw, what)
        error_code = text(parcel.get("errorCode"))
        if error_code:
            errors.append((error_code, text(parcel.get("errorMessage")), text(parcel.get("requested"))))
            continue
        events.extend(_api_parcel(parcel, what, received_at))
    if not events and errors:
        message = "; ".join(f"{code} {msg} ({req})".replace(" ()", "") for code, msg, req in errors)
        not_found = all(code.upper().startswith("E_404") for code, _, _ in errors)
        number = tracking_number(errors[0][2], "requested") if errors[0][2] else None
        raise CarrierErrorResponse(f"GLS error: {message}", not_found=not_found, tracking_number=number)
    return _dedupe(events)


# --- public rstt001 -----------------------------------------------------------------------------


def _rstt_attributes(unit: Mapping[str, Any], progress: Mapping[str, Any]) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "feed": "rstt001",
        "status_info": text(progress.get("statusInfo")).upper(),
        "status_text": text(progress.get("statusText")),
        "returned": True if progress.get("retourFlag") is True else None,
        "signed_by": text(sub(unit, "signature").get("value")),
        "parcel_shop_id": text(sub(unit, "parcelShop").get("psID")),
        "delivery_owner": text(unit.get("deliveryOwnerCode")),
        "track_id": text(unit.get("notificationCardId")),
    }
    for item in as_list(unit.get("references")):
        if isinstance(item, dict) and text(item.get("type")).upper() in _REFERENCE_ATTRS:
            attrs[_REFERENCE_ATTRS[text(item.get("type")).upper()]] = text(item.get("value"))
    for item in as_list(unit.get("infos")):
        if isinstance(item, dict) and text(item.get("type")).upper() in _INFO_ATTRS:
            attrs[_INFO_ATTRS[text(item.get("type")).upper()]] = text(item.get("value"))
    return compact(attrs)


def _rstt_unit(unit: Mapping[str, Any], what: str, received_at: datetime) -> list[TrackingEvent]:
    given = unit.get("tuNo")
    if not text(given):
        for item in as_list(unit.get("references")):
            if isinstance(item, dict) and text(item.get("type")).upper() == "UNITNO":
                given = item.get("value")
                break
    number = tracking_number(given, f"{what}.tuNo")
    progress = sub(unit, "progressBar")
    base = _rstt_attributes(unit, progress)
    history = as_list(unit.get("history"))
    evt_nos = progress.get("evtNos")
    aligned = isinstance(evt_nos, list) and len(evt_nos) == len(history)
    if not aligned:
        base["evt_nos_aligned"] = False

    parsed: list[tuple[Mapping[str, Any], str, datetime, str, str]] = []
    for index, raw in enumerate(history):
        label = f"{what}.history[{index}]"
        entry = obj(raw, label)
        local = f"{text(entry.get('date'))} {text(entry.get('time'))}".strip()
        address = sub(entry, "address")
        try:
            instant, tz_source = parse_local_timestamp(
                local, Place(city=text(address.get("city")), country=text(address.get("countryCode"))))
        except PayloadError as exc:
            raise PayloadError(f"{label}: {exc}") from exc
        code = text(evt_nos[index]) if aligned and isinstance(evt_nos, list) else ""
        parsed.append((entry, code, instant, local, tz_source))

    newest = max((item[2] for item in parsed), default=None)
    status_info = text(progress.get("statusInfo")).upper()
    out: list[TrackingEvent] = []
    for entry, code, instant, local, tz_source in parsed:
        address = sub(entry, "address")
        description = text(entry.get("evtDscr"))
        attrs = dict(base)
        mapping = map_rstt001_code(code) if code else None
        if mapping is None and instant == newest and status_info and status_info != FINAL:
            mapping = map_parcel_status(status_info)
            if mapping is not None:
                attrs["mapping_layer"] = "status_info"
        event_id = None
        if not code:
            digest = hashlib.sha256(description.encode()).hexdigest()[:12]
            event_id = derive_event_id(CARRIER, number, instant, f"text:{digest}")
        out.append(_event(
            number, code, mapping, description, instant, local, tz_source, received_at,
            _location(address.get("city"), None, address.get("countryCode")), attrs, event_id,
        ))
    return out


def _rstt(body: Mapping[str, Any], received_at: datetime) -> list[TrackingEvent]:
    units = body.get("tuStatus")
    if not isinstance(units, list):
        raise PayloadError("tuStatus must be a list")
    if not units:
        raise CarrierErrorResponse("GLS public tracking: no parcel in the response", not_found=True)
    events: list[TrackingEvent] = []
    for index, raw in enumerate(units):
        what = f"tuStatus[{index}]"
        events.extend(_rstt_unit(obj(raw, what), what, received_at))
    return _dedupe(events)


# --- entry point --------------------------------------------------------------------------------


def _error(body: Mapping[str, Any]) -> CarrierErrorResponse | None:
    for key in ("errors", "error", "exceptionText", "errorMessage", "message"):
        value = body.get(key)
        if value is None or value == "":
            continue
        parts: list[str] = []
        for item in as_list(value):
            if isinstance(item, dict):
                parts.extend(text(item.get(f)) for f in ("errorCode", "code", "status", "errorMessage",
                                                         "message", "description", "error_description"))
            else:
                parts.append(text(item))
        parts.append(text(body.get("error_description")))
        message = " ".join(p for p in parts if p) or key
        lowered = message.lower()
        not_found = "e_404" in lowered or "not found" in lowered or "404" in lowered.split()
        return CarrierErrorResponse(f"GLS {key}: {message}", not_found=not_found)
    return None


def parse(payload: bytes, headers: Mapping[str, str], received_at: datetime) -> list[TrackingEvent]:
    """Normalize one GLS tracking response (Track And Trace V1 or rstt001). See the module docstring."""
    body = obj(load_json(payload), "payload")
    if "parcels" in body:
        return _api(body, received_at)
    if "tuStatus" in body:
        return _rstt(body, received_at)
    error = _error(body)
    if error is not None:
        raise error
    raise PayloadError("not a GLS tracking response (no parcels / tuStatus)")
