"""MyParcel adapter: the ``shipment_status_change`` webhook and the ``/tracktraces`` polling response.

Shapes (a JSON object with ``data``):

* **webhook** ``{"data": {"hooks": [...]}}`` (``source="webhook"``); one delivery can hold several
  events. When the ``X-MyParcel-Hook`` header names another hook (``shipment_label_created``,
  ``order_status_change``) the delivery has nothing to track: ``[]``. Without the header, items
  without ``shipment_id`` (label-created and order items) are skipped the same way.
* **tracktraces** ``{"data": {"tracktraces": [...]}}`` (``source="poll"``), one entry per shipment
  (``/tracktraces/1;2;3``). Each ``history[]`` item is an event (payload order, oldest first), and
  the entry's own ``code`` / ``time`` / ``status.current`` (the latest event, not repeated in
  ``history``) is one more event unless a history item has the same code and time. An empty list
  is ``CarrierErrorResponse(not_found=True)``; ``{"errors": [...]}`` / ``{"message": ...}``
  bodies are ``CarrierErrorResponse`` (``not_found`` for 404 / "not found").

Tracking number. Webhook: ``barcode``. Tracktraces carry no barcode field, so (in this order) a
``barcode`` field if present, the ``/track-trace/<barcode>/...`` path of a MyParcel consumer-portal
link, or a barcode query parameter (``B``, ``barcode``, ...) of ``link_consumer_portal`` /
``link_tracktrace``, or the barcode the poller asked under for that ``shipment_id`` (header
``X-Trackstream-Shipment-Barcodes: <id>=<barcode>,...``). Without any barcode (concepts, untracked
letters) the MyParcel ``shipment_id`` is used; ``attributes["tracking_number_source"]`` says which.
``shipment_id`` is always kept.

Webhook time and identity (decision). The webhook has **no timestamp** and no event id, so
``occurred_at`` = ``received_at`` (UTC; ``tz_source=TZ_GIVEN``: an absolute instant; ``local_time=""``:
MyParcel sent no text; ``attributes["occurred_at_source"] = "received_at"``: an upper bound of the
real time). The ``event_id`` must not depend on that instant (redeliveries come later): it hashes
carrier, tracking number, ``shipment_id`` and status, so every redelivery of "shipment X reached
status N" gets one id (a real repeat of a status collapses too; it carries nothing new). Polling
gives the same change its own event (carrier code + carrier time). ``code`` = ``"status:<n>"``
(MyParcel's status space, apart from carrier codes); ``description`` = MyParcel's status name.

Mapping (``mappings/myparcel.json``). Tracktraces ``code`` is the underlying carrier's event code
(PostNL ``A01``/``J05``/``I01``...). When the underlying carrier is PostNL (``carrier``/``carrier_id``
1, or a ``link_tracktrace`` on a PostNL host) the code is looked up first in the PostNL event table
(``carriers.postnl.map_event_code``): MyParcel's 1-19 statuses hide failed attempts and returns
(``J08``, ``Y02``, ...) that the PostNL code shows. Otherwise, or when the code is unknown, the
item's MyParcel ``status`` maps it. ``attributes["mapping_layer"]`` names the table used. Statuses
30-38 are the inactive twins of 1-9 (same mapping, ``attributes["inactive"] = True``). Nothing
matched: ``UNMAPPED`` / ``mapped=False``, code and text kept.

Time. ``time`` is ``YYYY-MM-DD HH:MM:SS[.ffffff]`` without offset; MyParcel serialises every
timestamp in the platform's zone (its one explicit zone, ``delivery_moment``, is Europe/Amsterdam),
so it is read as Europe/Amsterdam wall-clock time, DST-correct, also for a scan abroad:
``tz_source=TZ_CARRIER_ZONE`` (the platform's clock, not a guess from the location; the event's
location and coordinates are kept but do not choose the zone). Text with an offset is honoured
(``TZ_GIVEN``). ``delivery_moment.start/end`` use their own ``timezone`` and become
``estimated_delivery_start/end`` (UTC) attributes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any
from urllib.parse import parse_qsl

from carriers import postnl
from carriers._util import as_list, ascii_digits, compact, header, load_json, obj, sub, text, tracking_number, url_parts
from carriers.base import (
    UNMAPPED,
    CarrierErrorResponse,
    CodeMapping,
    HeaderUse,
    PayloadError,
    SignatureError,
    load_mapping_file,
    localize,
    parse_code_table,
    zone,
)
from schemas.events import TZ_CARRIER_ZONE, TZ_GIVEN, Location, TrackingEvent, derive_event_id, format_utc

CARRIER = "myparcel"
HOME_ZONE = "Europe/Amsterdam"
AUTH_HEADER = "X-MyParcel-Authorization"
HOOK_HEADER = "X-MyParcel-Hook"
HOOK_ID_HEADER = "X-MyParcel-HookId"
SHIPMENT_BARCODES_HEADER = "X-Trackstream-Shipment-Barcodes"
HEADERS = (
    HeaderUse(HOOK_HEADER, "the webhook's hook type; only shipment_status_change carries tracking", from_request=True),
    HeaderUse(HOOK_ID_HEADER, "the webhook subscription's id, kept on the events", from_request=True),
    HeaderUse(SHIPMENT_BARCODES_HEADER, "<shipment id>=<barcode>,... the poller asked for (answers without barcode)"),
)
STATUS_HOOK = "shipment_status_change"
STATUS_CODE_PREFIX = "status:"
_BARCODE_PARAMS = ("b", "barcode", "tracking_number", "trackingnumber", "tracknumber", "parcelnumber")
_PORTAL_PATH = re.compile(r"/track-trace/([^/?#]+)", re.IGNORECASE)
_SCHEME = re.compile(r"^(basic|bearer)\s+", re.IGNORECASE)


# --- webhook authentication ---------------------------------------------------------------------


def verify_webhook(body: bytes, headers: Mapping[str, str], secret: str) -> None:
    """Check ``X-MyParcel-Authorization`` = base64 of the API key (``secret``), in constant time.

    A static shared secret, not a body signature (``body`` is not covered). A leading ``basic`` /
    ``bearer`` scheme word is tolerated. Raises ``SignatureError`` when missing or different.
    """
    if not secret:
        raise SignatureError("no MyParcel API key configured")
    given = header(headers, AUTH_HEADER)
    if given is None or not given.strip():
        raise SignatureError(f"missing {AUTH_HEADER} header")
    expected = base64.b64encode(secret.encode()).decode("ascii")
    candidate = _SCHEME.sub("", given.strip())
    if not hmac.compare_digest(expected.encode(), candidate.encode("utf-8", "replace")):
        raise SignatureError(f"{AUTH_HEADER} does not match the API key")


# --- tables -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Tables:
    statuses: dict[str, CodeMapping]
    labels: dict[str, str]
    carrier_ids: dict[str, str]
    hosts: dict[str, str]


@cache
def _tables() -> _Tables:
    data = load_mapping_file("myparcel.json")
    rows = data["shipment_status"]
    return _Tables(
        parse_code_table(rows), {str(k): str(v.get("label") or "") for k, v in rows.items()},
        {str(k): str(v) for k, v in data["carrier_ids"].items()},
        {str(k).lower(): str(v) for k, v in data["tracking_hosts"].items()},
    )


def map_status(status: int) -> CodeMapping | None:
    return _tables().statuses.get(str(status))


def status_label(status: int) -> str:
    return _tables().labels.get(str(status), "")


def map_event(code: str, status: int | None, carrier: str | None) -> tuple[CodeMapping | None, str]:
    """(mapping or None, layer): the underlying carrier's code first, then MyParcel's status."""
    if carrier == "postnl" and code and not code.startswith(STATUS_CODE_PREFIX):
        found = postnl.map_event_code(code)
        if found is not None:
            return found, "postnl_event_code"
    if status is not None:
        mapped = map_status(status)
        if mapped is not None:
            return mapped, "myparcel_status"
    return None, ""


# --- helpers ------------------------------------------------------------------------------------


def _int(value: Any, what: str) -> int | None:
    """An integer (or digit string); None when absent; PayloadError otherwise."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and ascii_digits(value.strip()):
        return int(value.strip())
    raise PayloadError(f"{what} must be an integer, got {value!r}")


def parse_timestamp(raw: str) -> tuple[datetime, str]:
    """MyParcel ``[timestamp]`` text → (UTC instant, tz_source). See the module docstring."""
    stripped = raw.strip()
    if not stripped:
        raise PayloadError("missing time")
    try:
        value = datetime.fromisoformat(stripped[:-1] + "+00:00" if stripped.endswith("Z") else stripped)
    except ValueError as exc:
        raise PayloadError(f"unreadable time {raw!r}") from exc
    return localize(value, zone(HOME_ZONE)), (TZ_GIVEN if value.tzinfo is not None else TZ_CARRIER_ZONE)


def _underlying_carrier(entry: Mapping[str, Any]) -> str | None:
    tables = _tables()
    for key in ("carrier_id", "carrier"):
        value = entry.get(key)
        if isinstance(value, int | str) and not isinstance(value, bool) and str(value).strip() in tables.carrier_ids:
            return tables.carrier_ids[str(value).strip()]
    link = url_parts(text(entry.get("link_tracktrace")))
    host = (link.hostname or "").lower() if link else ""
    for known, carrier in tables.hosts.items():
        if host == known or host.endswith("." + known):
            return carrier
    return None


def _barcode_from_links(entry: Mapping[str, Any]) -> str:
    for field in ("link_consumer_portal", "link_tracktrace"):
        url = text(entry.get(field))
        if not url:
            continue
        parts = url_parts(url)
        if parts is None:
            continue
        match = _PORTAL_PATH.search(parts.path)
        if match and match.group(1).strip():
            return match.group(1)
        for name, value in parse_qsl(parts.query):
            if name.lower() in _BARCODE_PARAMS and value.strip():
                return value
    return ""


def shipment_barcodes(headers: Mapping[str, str]) -> dict[str, str]:
    """``<shipment id>=<barcode>,...`` (set by the poller, which resolved each barcode to its id)."""
    out: dict[str, str] = {}
    for part in (header(headers, SHIPMENT_BARCODES_HEADER) or "").split(","):
        shipment_id, sep, barcode = part.partition("=")
        if sep and shipment_id.strip() and barcode.strip():
            out[shipment_id.strip()] = barcode.strip()
    return out


def _identify(entry: Mapping[str, Any], what: str, from_links: bool,
              asked: Mapping[str, str] | None = None) -> tuple[str, str, str]:
    """(tracking number, its source, shipment id text)."""
    shipment_id = text(entry.get("shipment_id"))
    barcode = text(entry.get("barcode"))
    if barcode:
        return tracking_number(barcode, f"{what}.barcode"), "barcode", shipment_id
    if from_links:
        found = _barcode_from_links(entry)
        if found.strip():
            return tracking_number(found, f"{what} links"), "link", shipment_id
    if asked and shipment_id in asked:
        return tracking_number(asked[shipment_id], f"{SHIPMENT_BARCODES_HEADER} header"), "poll_request", shipment_id
    return tracking_number(shipment_id, f"{what}.barcode or shipment_id"), "shipment_id", shipment_id


def _location(value: Any) -> Location | None:
    if not isinstance(value, dict):
        return None
    lat, lon = value.get("latitude"), value.get("longitude")
    found = Location(
        city=text(value.get("city")) or None, postcode=text(value.get("postal_code")) or None,
        country=text(value.get("cc")).upper() or None,
        lat=float(lat) if isinstance(lat, int | float) and not isinstance(lat, bool) else None,
        lon=float(lon) if isinstance(lon, int | float) and not isinstance(lon, bool) else None,
        text=text(value.get("name")) or None,
    )
    return found if found.to_dict() else None


def _moment(value: Any) -> tuple[str, str]:
    """A PHP DateTime ``{date, timezone}`` → (UTC text, original text); ("", "") when unreadable."""
    if not isinstance(value, dict):
        return "", ""
    raw = text(value.get("date"))
    try:
        naive = datetime.fromisoformat(raw)
        return format_utc(localize(naive, zone(text(value.get("timezone")) or HOME_ZONE))), raw
    except (ValueError, KeyError, OSError, TypeError, PayloadError):
        return "", raw  # an unreadable ETA is an extra, not a reason to drop the events


def _status_attrs(status: int | None) -> dict[str, Any]:
    if status is None:
        return {}
    return {"myparcel_status": status, "inactive": True if status_label(status).startswith("inactive") else None}


# --- webhook ------------------------------------------------------------------------------------


def _webhook(data: Mapping[str, Any], headers: Mapping[str, str], received_at: datetime) -> list[TrackingEvent]:
    hooks = data.get("hooks")
    if not isinstance(hooks, list):
        raise PayloadError("data.hooks must be a list")
    hook = (header(headers, HOOK_HEADER) or "").strip().lower()
    if hook and hook != STATUS_HOOK:
        return []  # shipment_label_created / order_status_change: nothing to track
    occurred = received_at.replace(tzinfo=UTC) if received_at.tzinfo is None else received_at.astimezone(UTC)
    events: list[TrackingEvent] = []
    for index, raw in enumerate(hooks):
        what = f"data.hooks[{index}]"
        item = obj(raw, what)
        if "shipment_id" not in item:
            continue
        status = _int(item.get("status"), f"{what}.status")
        if status is None:
            raise PayloadError(f"{what}: missing status")
        number, source, shipment_id = _identify(item, what, from_links=False)
        found = map_status(status)
        mapping = found or UNMAPPED
        code = f"{STATUS_CODE_PREFIX}{status}"
        material = f"{CARRIER}|{number}|shipment_status|{shipment_id}|{status}"
        attrs = compact({
            "shipment_id": shipment_id, "tracking_number_source": source,
            "account_id": text(item.get("account_id")), "shop_id": text(item.get("shop_id")),
            "reference": text(item.get("shipment_reference_identifier")), "order_id": text(item.get("order_id")),
            "hook_id": (header(headers, HOOK_ID_HEADER) or "").strip(), "occurred_at_source": "received_at",
            "mapping_layer": "myparcel_status" if found is not None else None, **_status_attrs(status),
        })
        events.append(TrackingEvent(
            event_id=hashlib.sha256(material.encode()).hexdigest()[:32], carrier=CARRIER,
            tracking_number=number, status=mapping.status, substatus=mapping.substatus, code=code,
            description=status_label(status), occurred_at=occurred, local_time="", tz_source=TZ_GIVEN,
            received_at=received_at, mapped=found is not None, source="webhook", attributes=attrs,
        ))
    return _dedupe(events)


# --- tracktraces --------------------------------------------------------------------------------


def _shipment_attrs(entry: Mapping[str, Any], source: str, shipment_id: str, carrier: str | None) -> dict[str, Any]:
    recipient = sub(entry, "recipient")
    start_utc, start_raw = _moment(sub(entry, "delivery_moment").get("start"))
    end_utc, end_raw = _moment(sub(entry, "delivery_moment").get("end"))
    return compact({
        "shipment_id": shipment_id, "tracking_number_source": source, "underlying_carrier": carrier,
        "tracking_url": text(entry.get("link_tracktrace")),
        "recipient_postcode": text(recipient.get("postal_code")).upper().replace(" ", ""),
        "recipient_city": text(recipient.get("city")), "recipient_country": text(recipient.get("cc")).upper(),
        "package_type": text(sub(entry, "options").get("package_type")),
        "delivery_moment_type": text(entry.get("delivery_moment_type")),
        "estimated_delivery_start": start_utc, "estimated_delivery_start_local": start_raw,
        "estimated_delivery_end": end_utc, "estimated_delivery_end_local": end_raw,
    })


def _item_event(
    item: Mapping[str, Any], status: int | None, what: str, number: str, carrier: str | None,
    base: Mapping[str, Any], received_at: datetime, extra: Mapping[str, Any],
) -> TrackingEvent:
    code = text(item.get("code")).upper()
    if not code:
        if status is None:
            raise PayloadError(f"{what}: missing code and status")
        code = f"{STATUS_CODE_PREFIX}{status}"
    local = text(item.get("time"))
    try:
        instant, tz_source = parse_timestamp(local)
    except PayloadError as exc:
        raise PayloadError(f"{what}: {exc}") from exc
    mapping, layer = map_event(code, status, carrier)
    attrs = dict(base)
    attrs.update(compact({
        "mapping_layer": layer, **_status_attrs(status), "main": text(item.get("main")),
        "delayed": True if item.get("delayed") is True else None, **extra,
    }))
    final = mapping or UNMAPPED
    return TrackingEvent(
        event_id=derive_event_id(CARRIER, number, instant, code), carrier=CARRIER, tracking_number=number,
        status=final.status, substatus=final.substatus, code=code, description=text(item.get("description")),
        occurred_at=instant, local_time=local, tz_source=tz_source, received_at=received_at,
        location=_location(item.get("location")), mapped=mapping is not None, source="poll", attributes=attrs,
    )


def _tracktrace(entry: Mapping[str, Any], what: str, received_at: datetime,
                asked: Mapping[str, str]) -> list[TrackingEvent]:
    number, source, shipment_id = _identify(entry, what, from_links=True, asked=asked)
    carrier = _underlying_carrier(entry)
    base = _shipment_attrs(entry, source, shipment_id, carrier)
    events: list[TrackingEvent] = []
    seen: set[tuple[str, str]] = set()
    for index, raw in enumerate(as_list(entry.get("history"))):
        label = f"{what}.history[{index}]"
        item = obj(raw, label)
        status = _int(item.get("status"), f"{label}.status")
        events.append(_item_event(item, status, label, number, carrier, base, received_at, {}))
        seen.add((text(item.get("code")).upper(), text(item.get("time"))))
    state = sub(entry, "status")
    current = _int(state.get("current"), f"{what}.status.current")
    if (text(entry.get("code")) or current is not None) and text(entry.get("time")):
        if (text(entry.get("code")).upper(), text(entry.get("time"))) not in seen:
            extra = {"main": text(state.get("main")), "final": True if state.get("final") is True else None}
            events.append(_item_event(entry, current, what, number, carrier, base, received_at, extra))
    return events


def _tracktraces(data: Mapping[str, Any], received_at: datetime,
                 asked: Mapping[str, str]) -> list[TrackingEvent]:
    entries = data.get("tracktraces")
    if not isinstance(entries, list):
        raise PayloadError("data.tracktraces must be a list")
    if not entries:
        raise CarrierErrorResponse("MyParcel: no tracktrace in the response", not_found=True)
    events: list[TrackingEvent] = []
    for index, raw in enumerate(entries):
        what = f"data.tracktraces[{index}]"
        events.extend(_tracktrace(obj(raw, what), what, received_at, asked))
    return _dedupe(events)


def _dedupe(events: list[TrackingEvent]) -> list[TrackingEvent]:
    unique: dict[str, TrackingEvent] = {}
    for event in events:
        unique.setdefault(event.event_id, event)  # the first delivery of an event wins
    return list(unique.values())


def _error(body: Mapping[str, Any]) -> CarrierErrorResponse | None:
    if "errors" not in body and "message" not in body:
        return None
    parts: list[str] = []
    for item in as_list(body.get("errors")):
        if isinstance(item, dict):
            parts.extend(text(item.get(f)) for f in ("status", "code", "title", "message", "human"))
        else:
            parts.append(text(item))
    parts.append(text(body.get("message")))
    message = " ".join(p for p in parts if p) or "error"
    lowered = message.lower()
    not_found = "404" in lowered.split() or "not found" in lowered or "niet gevonden" in lowered
    return CarrierErrorResponse(f"MyParcel error: {message}", not_found=not_found)


def parse(payload: bytes, headers: Mapping[str, str], received_at: datetime) -> list[TrackingEvent]:
    """Normalize one MyParcel payload (webhook or /tracktraces). See the module docstring."""
    body = obj(load_json(payload), "payload")
    data = body.get("data")
    if isinstance(data, dict) and "hooks" in data:
        return _webhook(data, headers, received_at)
    if isinstance(data, dict) and "tracktraces" in data:
        return _tracktraces(data, received_at, shipment_barcodes(headers))
    error = _error(body)
    if error is not None:
        raise error
    raise PayloadError("not a MyParcel webhook or tracktraces response (no data.hooks / data.tracktraces)")
