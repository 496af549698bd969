"""Sendcloud adapter: the ``parcel_status_changed`` webhook and the v2 / v3 tracking responses.

Shapes (detected from the top-level keys of the JSON object):

* **webhook** (``"action"`` present, ``source="webhook"``). Only ``parcel_status_changed`` carries
  tracking data; every other action (``integration_connected``, ``integration_updated``,
  ``integration_deleted``, ``return_created``, ...) returns ``[]``: a valid delivery with nothing to
  track, not an error. One event per webhook; ``code`` is ``parcel.status.id`` as text. Sendcloud
  also pushes the statuses before a parcel is announced (999 No label, 1001 Being announced) with
  ``tracking_number`` empty: the carrier has issued no number yet, so a ``pre_transit`` status
  without a number returns ``[]``; any later status without a number is a ``PayloadError``.
* **v2 tracking** (``"statuses"`` present, ``source="poll"``): one event per ``statuses[]`` entry,
  in payload order (Sendcloud sends them newest first); ``code`` is the ``parent_status`` slug.
* **v3 tracking** (``"events"`` present, ``source="poll"``): one event per ``events[]`` entry, in
  payload order; ``code`` is ``status_code``; the tracking number is ``tracking_numbers[0]``.
* **error answers** ``{"error": {...}}`` (v2), ``{"errors": [...]}`` / ``{"detail": "..."}`` (v3)
  raise ``CarrierErrorResponse`` (``not_found`` for 404 / "does not exist" / "not found").

Status mapping (tables in ``mappings/sendcloud.json``): webhook by ``status.id``; when the id is
0 (Sendcloud's test payloads) or not in the table, by the status message, case-insensitively and
ignoring punctuation. v2 slugs and v3 codes use their own table first and the message table
(slug/code with ``-``/``_`` read as spaces) second. Nothing matched: ``UNMAPPED``, ``mapped=False``.

Webhook time rule. ``timestamp`` and ``carrier_status_change_timestamp`` are Unix epochs in ms. A
value is *plausible* when it is a number (not a bool) in [2000-01-01, 2100-01-01) read as ms, or in
that range read as *seconds* (the OpenAPI only says "a unix timestamp"; the ranges are disjoint).
``occurred_at`` = ``carrier_status_change_timestamp`` when plausible (the carrier's own change), else
``timestamp`` (when Sendcloud sent it), else ``received_at`` with
``attributes["timestamp_field"] = "received_at"``: a status change is never dropped for a bad time
(the docs example sends placeholders ``123``). Its id is then hashed from what the payload says
(parcel, status, raw timestamps), not from the receipt time, so redeliveries still deduplicate.
``tz_source`` is ``TZ_GIVEN`` for every shape (epochs, ``+00:00``, ``Z``); ISO text without an
offset in v2/v3 is read as UTC (v2 docs: UTC).

Tracking number. Webhook: ``parcel.tracking_number``. v3: ``tracking_numbers[0].tracking_number``.
v2 does not echo it, so the poller should pass it in the ``X-Trackstream-Tracking-Number`` header
(``TRACKING_NUMBER_HEADER``); without the header the ``code`` parameter of ``carrier_tracking_url``,
then the ``tracking_number`` parameter of ``sendcloud_tracking_url`` is used. The shipment key is
always ``sendcloud:<tracking number>``; the underlying carrier is in ``attributes["carrier_code"]``.

Event ids: v2 ``parcel_status_history_id`` hashed with the tracking number; else ``derive_event_id``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any
from urllib.parse import parse_qs

import orjson

from carriers._util import as_utc, ascii_digits, compact, header, obj, same_text, sub, text, tracking_number, url_parts
from carriers.base import (
    TRACKING_NUMBER_HEADER,
    UNMAPPED,
    CarrierErrorResponse,
    CodeMapping,
    HeaderUse,
    PayloadError,
    SignatureError,
    load_mapping_file,
    parse_code_table,
)
from schemas.events import TZ_GIVEN, TrackingEvent, derive_event_id
from schemas.taxonomy import Status

CARRIER = "sendcloud"
SIGNATURE_HEADER = "Sendcloud-Signature"
HEADERS = (
    HeaderUse(TRACKING_NUMBER_HEADER, "the tracking number the poller asked for (a tracking answer may lack it)"),
)

_MS_MIN = 946_684_800_000  # 2000-01-01T00:00:00Z in ms
_MS_MAX = 4_102_444_800_000  # 2100-01-01T00:00:00Z in ms
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


# --- signature ----------------------------------------------------------------------------------


def verify_signature(body: bytes, signature_header: str | None, secret: str) -> None:
    """Check ``Sendcloud-Signature``: lowercase hex HMAC-SHA256 of the raw body bytes.

    Raises ``SignatureError`` when the header is missing or does not match. Never re-serialise the
    body: Sendcloud signs the exact bytes it sent.
    """
    if not signature_header or not signature_header.strip():
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    if not secret:
        raise SignatureError("no webhook secret configured")
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not same_text(signature_header.strip().lower(), expected):
        raise SignatureError(f"{SIGNATURE_HEADER} does not match the body")


# --- tables -------------------------------------------------------------------------------------


class _Tables:
    def __init__(self, data: Mapping[str, Any]) -> None:
        self.ids = parse_code_table(data["status_ids"])
        self.messages = parse_code_table(data["status_messages"])
        self.slugs = parse_code_table(data["parent_status"])
        self.v3 = parse_code_table(data["v3_status_codes"])


@cache
def _tables() -> _Tables:
    return _Tables(load_mapping_file("sendcloud.json"))


def _norm_text(text: str) -> str:
    return _NON_ALNUM.sub(" ", text.lower()).strip()


def map_status_id(status_id: int | None, message: str) -> tuple[CodeMapping, bool]:
    """Webhook ``parcel.status``: id first, then the message. Returns (mapping, mapped)."""
    tables = _tables()
    if status_id is not None and str(status_id) in tables.ids:
        return tables.ids[str(status_id)], True
    return _by_message(message)


def map_parent_status(slug: str, message: str = "") -> tuple[CodeMapping, bool]:
    """v2 tracking ``parent_status`` slug, then the slug read as a message, then the message."""
    tables = _tables()
    if slug.lower() in tables.slugs:
        return tables.slugs[slug.lower()], True
    found = _by_message(slug)
    return found if found[1] else _by_message(message)


def map_v3_status(code: str) -> tuple[CodeMapping, bool]:
    tables = _tables()
    if code.lower() in tables.v3:
        return tables.v3[code.lower()], True
    return _by_message(code)


def _by_message(message: str) -> tuple[CodeMapping, bool]:
    key = _norm_text(message)
    found = _tables().messages.get(key) if key else None
    return (found, True) if found is not None else (UNMAPPED, False)


# --- helpers ------------------------------------------------------------------------------------


def _load(payload: bytes) -> Any:
    if not isinstance(payload, bytes | bytearray | memoryview) or not bytes(payload).strip():
        raise PayloadError("empty payload (or not bytes)")
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise PayloadError(f"not JSON: {exc}") from exc


def _epoch(value: Any) -> datetime | None:
    """A plausible epoch in ms (or s), else None. See the module docstring."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if _MS_MIN <= value < _MS_MAX:
        return datetime.fromtimestamp(value / 1000, UTC)
    if _MS_MIN / 1000 <= value < _MS_MAX / 1000:
        return datetime.fromtimestamp(value, UTC)
    return None


def _iso_utc(value: Any, what: str) -> datetime:
    raw = text(value)
    if not raw:
        raise PayloadError(f"missing timestamp ({what})")
    try:
        instant = datetime.fromisoformat(raw.replace("Z", "+00:00") if raw.endswith("Z") else raw)
    except ValueError as exc:
        raise PayloadError(f"unreadable timestamp {raw!r} ({what})") from exc
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return as_utc(instant, what)


# --- shapes -------------------------------------------------------------------------------------


def _webhook(body: Mapping[str, Any], received_at: datetime) -> list[TrackingEvent]:
    action = text(body.get("action"))
    if action != "parcel_status_changed":
        return []  # integration_* / return_created: nothing to track
    parcel = obj(body.get("parcel"), "parcel")
    status = obj(parcel.get("status"), "parcel.status")
    raw_id = status.get("id")
    if isinstance(raw_id, str) and ascii_digits(raw_id.strip()):
        raw_id = int(raw_id)
    if raw_id is not None and (isinstance(raw_id, bool) or not isinstance(raw_id, int)):
        raise PayloadError(f"parcel.status.id must be an integer, got {raw_id!r}")
    message = text(status.get("message"))
    mapping, mapped = map_status_id(raw_id, message)
    code = text(raw_id) or "none"
    if not text(parcel.get("tracking_number")).strip() and mapping.status == Status.PRE_TRANSIT:
        return []  # not announced yet (999 No label, 1001 Being announced): no number to track
    number = tracking_number(parcel.get("tracking_number"), "parcel.tracking_number")

    field = "carrier_status_change_timestamp"
    occurred = _epoch(body.get(field))
    if occurred is None:
        field = "timestamp"
        occurred = _epoch(body.get(field))
    event_id: str | None = None
    if occurred is None:
        # No usable time (the docs example sends placeholders like 123): a real status change must
        # not be lost for it. The event is dated when trackstream received it, flagged as such, and
        # its id is derived from what the payload does say, so redeliveries still deduplicate.
        field = "received_at"
        occurred = received_at
        material = "|".join((CARRIER, number, code, text(parcel.get("id")), repr(body.get("timestamp")),
                             repr(body.get("carrier_status_change_timestamp"))))
        event_id = hashlib.sha256(material.encode()).hexdigest()[:32]
    attrs = compact({
        "parcel_id": text(parcel.get("id")),
        "order_number": text(parcel.get("order_number")),
        "external_order_id": text(parcel.get("external_order_id")),
        "external_shipment_id": text(parcel.get("external_shipment_id")),
        "external_reference": text(parcel.get("external_reference")),
        "shipment_uuid": text(parcel.get("shipment_uuid")),
        "colli_uuid": text(parcel.get("colli_uuid")),
        "collo_nr": text(parcel.get("collo_nr")),
        "collo_count": text(parcel.get("collo_count")),
        "carrier_code": text(sub(parcel, "carrier").get("code")),
        "shipping_method": text(sub(parcel, "shipment").get("name")),
        "recipient_postcode": text(parcel.get("postal_code")),
        "recipient_city": text(parcel.get("city")),
        "recipient_country": text(sub(parcel, "country").get("iso_2")),
        "timestamp_field": field,
        "webhook_timestamp": text(body.get("timestamp")),
    })
    return [TrackingEvent(
        event_id=event_id or derive_event_id(CARRIER, number, occurred, code),
        carrier=CARRIER, tracking_number=number, status=mapping.status, substatus=mapping.substatus,
        code=code, description=message, occurred_at=occurred,
        local_time=text(body.get(field)) if field != "received_at" else text(body.get("timestamp")),
        tz_source=TZ_GIVEN, received_at=received_at, mapped=mapped, source="webhook", attributes=attrs,
    )]


def _v2_number(body: Mapping[str, Any], headers: Mapping[str, str]) -> str:
    given = header(headers, TRACKING_NUMBER_HEADER) or text(body.get("tracking_number"))
    if not given:
        for field, param in (("carrier_tracking_url", "code"), ("sendcloud_tracking_url", "tracking_number")):
            parts = url_parts(text(body.get(field)))
            values = parse_qs(parts.query).get(param) if parts else None
            if values and values[0].strip():
                given = values[0]
                break
    return tracking_number(given, f"{TRACKING_NUMBER_HEADER} header or tracking URL")


def _v2(body: Mapping[str, Any], headers: Mapping[str, str], received_at: datetime) -> list[TrackingEvent]:
    statuses = body.get("statuses")
    if not isinstance(statuses, list):
        raise PayloadError("statuses must be a list")
    number = _v2_number(body, headers)
    base = compact({
        "parcel_id": text(body.get("parcel_id")),
        "carrier_code": text(body.get("carrier_code")),
        "expected_delivery_date": text(body.get("expected_delivery_date")),
        "is_return": body.get("is_return") if isinstance(body.get("is_return"), bool) else None,
    })
    events: list[TrackingEvent] = []
    for index, raw in enumerate(statuses):
        entry = obj(raw, f"statuses[{index}]")
        slug = text(entry.get("parent_status"))
        if not slug:
            raise PayloadError(f"statuses[{index}].parent_status missing")
        message = text(entry.get("carrier_message"))
        local = text(entry.get("carrier_update_timestamp"))
        occurred = _iso_utc(local, f"statuses[{index}].carrier_update_timestamp")
        mapping, mapped = map_parent_status(slug, message)
        history = text(entry.get("parcel_status_history_id"))
        if history:
            material = f"{CARRIER}|{number}|parcel_status_history|{history}"
            event_id = hashlib.sha256(material.encode()).hexdigest()[:32]
        else:
            event_id = derive_event_id(CARRIER, number, occurred, slug)
        attrs = dict(base)
        attrs.update(compact({
            "parcel_status_history_id": history,
            "event_carrier_code": text(entry.get("carrier_code")),
        }))
        events.append(TrackingEvent(
            event_id=event_id, carrier=CARRIER, tracking_number=number, status=mapping.status,
            substatus=mapping.substatus, code=slug, description=message or slug, occurred_at=occurred,
            local_time=local, tz_source=TZ_GIVEN, received_at=received_at, mapped=mapped, source="poll",
            attributes=attrs,
        ))
    return events


def _v3(body: Mapping[str, Any], received_at: datetime) -> list[TrackingEvent]:
    raw_events = body.get("events")
    if not isinstance(raw_events, list):
        raise PayloadError("events must be a list")
    numbers = body.get("tracking_numbers")
    if not isinstance(numbers, list) or not numbers:
        raise PayloadError("missing tracking number (tracking_numbers[0])")
    first = obj(numbers[0], "tracking_numbers[0]")
    number = tracking_number(first.get("tracking_number"), "tracking_numbers[0].tracking_number")
    details = sub(body, "details")
    to_address = sub(body, "to_address")
    base = compact({
        "source_id": text(body.get("source_id")),
        "carrier_code": text(first.get("carrier_code")),
        "expected_delivery_date": text(details.get("expected_delivery_date")),
        "recipient_postcode": text(to_address.get("postal_code")),
        "recipient_country": text(to_address.get("country_code")),
    })
    events: list[TrackingEvent] = []
    for index, raw in enumerate(raw_events):
        entry = obj(raw, f"events[{index}]")
        code = text(entry.get("status_code"))
        if not code:
            raise PayloadError(f"events[{index}].status_code missing")
        local = text(entry.get("event_at"))
        occurred = _iso_utc(local, f"events[{index}].event_at")
        sub_code = text(entry.get("sub_status_code"))
        mapping, mapped = map_v3_status(code)
        id_code = code if sub_code in ("", "none") else f"{code}/{sub_code}"
        attrs = dict(base)
        attrs.update(compact({
            "sub_status_code": sub_code,
            "status_type": text(entry.get("status_type")),
            "event_type": text(entry.get("event_type")),
        }))
        events.append(TrackingEvent(
            event_id=derive_event_id(CARRIER, number, occurred, id_code), carrier=CARRIER,
            tracking_number=number, status=mapping.status, substatus=mapping.substatus, code=code,
            description=text(entry.get("status_description")), occurred_at=occurred, local_time=local,
            tz_source=TZ_GIVEN, received_at=received_at, mapped=mapped, source="poll", attributes=attrs,
        ))
    return events


def _error(body: Mapping[str, Any]) -> CarrierErrorResponse | None:
    if "error" in body and isinstance(body["error"], dict | str):
        err = body["error"]
        code = text(err.get("code")) if isinstance(err, dict) else ""
        message = text(err.get("message")) if isinstance(err, dict) else text(err)
    elif "errors" in body and isinstance(body["errors"], list) and "events" not in body:
        parts = [e for e in body["errors"] if isinstance(e, dict)]
        code = ",".join(text(e.get("status")) or text(e.get("code")) for e in parts)
        message = "; ".join(text(e.get("detail")) or text(e.get("message")) for e in parts)
    elif set(body) == {"detail"}:
        code, message = "", text(body["detail"]) or str(body["detail"])
    else:
        return None
    lowered = message.lower()
    not_found = "404" in code or "not found" in lowered or "does not exist" in lowered
    return CarrierErrorResponse(f"Sendcloud error {code}: {message}".strip(), not_found=not_found)


def parse(payload: bytes, headers: Mapping[str, str], received_at: datetime) -> list[TrackingEvent]:
    """Normalize one Sendcloud payload (webhook, v2 or v3 tracking). See the module docstring."""
    body = obj(_load(payload), "payload")
    error = _error(body)
    if error is not None:
        raise error
    if "action" in body:
        return _webhook(body, received_at)
    if "statuses" in body:
        return _v2(body, headers, received_at)
    if "events" in body:
        return _v3(body, received_at)
    raise PayloadError("not a Sendcloud webhook or tracking response (no action/statuses/events)")
