"""Carriers defined by a file (``carriers.definition``): the pure parser and webhook check.

``parse(definition, payload, headers, received_at)`` follows the same contract as every adapter
module: no I/O, no clock, ``PayloadError`` for input it cannot read, ``CarrierErrorResponse`` when
the definition's ``error`` path holds a value. ``parser_for(definition)`` binds it into the
``Parser`` shape ``carriers.get_parser`` hands out.

Reading a payload:

* ``shipments`` (a path from the body; default: the body itself) gives one shipment or a list;
* ``events`` (a path from a shipment; default: the shipment is itself the one event) gives one
  event or a list; a missing list is an error, ``null`` or ``[]`` is a shipment without events;
* the tracking number is ``fields.tracking_number`` of the event when that is given and not
  empty, else ``tracking_number`` of the shipment;
* ``code`` is required in every event and looked up in ``codes`` exactly as sent (spaces around it
  trimmed); an unknown code gives ``UNMAPPED`` (status ``unknown``, substatus ``unmapped_code``,
  ``mapped=False``), code and description kept.

Time (``timestamp``): ``iso8601`` text (``Z`` or an offset → ``TZ_GIVEN``), ``epoch_seconds`` /
``epoch_millis`` (numbers or digit strings, UTC → ``TZ_GIVEN``) or a ``strptime`` pattern. Text
without an offset is local time. With ``location_zone`` on (the default) ``carriers.zones`` reads it
where the event's location places it: its city in a country of several zones (``TZ_LOCATION``), its
country when that country's zones agree (``TZ_COUNTRY``), else in the definition's ``zone`` as
``TZ_ASSUMED`` (counted); ``fields.location`` may also name ``lat`` / ``lon`` (``TZ_COORDINATES``),
an IATA-style ``code`` (``TZ_LOCATION_CODE``) and a ``region`` (state / province, ``TZ_LOCATION``).
With ``location_zone: false`` the definition declares every local time to be in its ``zone``
(``TZ_CARRIER_ZONE``, not counted as assumed). DST-correct through ``carriers.base.localize``.
``local_time`` keeps the text as sent.

Event ids: the carrier's own id (``fields.event_id``) when present, as sent if at most 128
characters (else its hash); otherwise ``derive_event_id`` (carrier, number, UTC instant, code).
``source`` is the raw message's ``source`` header (``webhook``, ``poll``, ``feed``), else
``webhook``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from carriers._util import (
    as_utc,
    compact,
    header,
    load_json,
    obj,
    same_text,
    text,
    tracking_number,
)
from carriers.base import (
    UNMAPPED,
    CarrierErrorResponse,
    Parser,
    PayloadError,
    SignatureError,
    localize,
    zone,
)
from carriers.definition import (
    BASE64,
    EPOCH_MILLIS,
    EPOCH_SECONDS,
    HMAC_SHA256,
    ISO8601,
    CarrierDefinition,
    FieldPath,
    TimestampRule,
    WebhookAuth,
)
from carriers.zones import Place, localize_at, usable_coordinates
from schemas.events import TZ_CARRIER_ZONE, TZ_GIVEN, Location, TrackingEvent, derive_event_id

SOURCES = frozenset({"webhook", "poll", "feed", "api"})
MAX_EVENT_ID = 128
MAX_TRACKING_NUMBER = 64


# --- webhook authentication ---------------------------------------------------------------------


def verify_webhook(auth: WebhookAuth, body: bytes, headers: Mapping[str, str], secret: str) -> None:
    """Check a push against the definition's ``webhook`` section; ``SignatureError`` when it fails.

    HMAC: the digest of the exact body bytes is compared, as bytes and in constant time, with the
    header decoded from hex (any case) or base64. Token: the header (after the prefix) must equal
    the secret, compared in constant time."""
    if not secret:
        raise SignatureError("no webhook secret configured")
    given = header(headers, auth.header)
    if given is None or not given.strip():
        raise SignatureError(f"missing {auth.header} header")
    given = given.strip()
    if auth.prefix:
        if not given.startswith(auth.prefix):
            raise SignatureError(f"{auth.header} does not start with {auth.prefix!r}")
        given = given[len(auth.prefix):].strip()
    if auth.auth != HMAC_SHA256:
        if not same_text(given, secret):
            raise SignatureError(f"{auth.header} does not match")
        return
    try:
        digest = base64.b64decode(given, validate=True) if auth.encoding == BASE64 else bytes.fromhex(given)
    except (ValueError, binascii.Error) as exc:
        raise SignatureError(f"{auth.header} is not {auth.encoding}") from exc
    expected = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, digest):
        raise SignatureError(f"{auth.header} does not match the body")


# --- time ---------------------------------------------------------------------------------------


def _epoch(value: Any, scale: float, what: str) -> tuple[datetime, str]:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise PayloadError(f"{what}: epoch time must be a number, got {type(value).__name__}")
    raw = text(value)
    try:
        number = float(raw) if isinstance(value, str) else value
        return datetime.fromtimestamp(number / scale, UTC), raw
    except (ValueError, OverflowError, OSError) as exc:
        raise PayloadError(f"{what}: unreadable epoch time {raw!r}") from exc


def read_time(rule: TimestampRule, value: Any, place: Place, what: str) -> tuple[datetime, str, str]:
    """A timestamp value → (UTC instant, original text, tz_source)."""
    if value is FieldPath.MISSING or value is None or value == "":
        raise PayloadError(f"{what}: missing timestamp")
    if rule.format == EPOCH_SECONDS:
        return (*_epoch(value, 1, what), TZ_GIVEN)
    if rule.format == EPOCH_MILLIS:
        return (*_epoch(value, 1000, what), TZ_GIVEN)
    if not isinstance(value, str):
        raise PayloadError(f"{what}: timestamp must be text, got {type(value).__name__}")
    raw = value.strip()
    try:
        if rule.format == ISO8601:
            read = datetime.fromisoformat(raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw)
        else:
            read = datetime.strptime(raw, rule.pattern or "")
    except ValueError as exc:
        raise PayloadError(f"{what}: unreadable timestamp {raw!r}") from exc
    if read.tzinfo is not None and read.utcoffset() is not None:
        return as_utc(read, what), value, TZ_GIVEN
    home = rule.zone or "UTC"
    naive = read.replace(tzinfo=None)
    if not rule.location_zone:
        return localize(naive, zone(home)), value, TZ_CARRIER_ZONE
    instant, source = localize_at(naive, place, home)
    return instant, value, source


# --- payloads -----------------------------------------------------------------------------------


def _items(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _number(value: str, what: str) -> str:
    number = tracking_number(value, what)
    if len(number) > MAX_TRACKING_NUMBER:
        raise PayloadError(f"tracking number longer than {MAX_TRACKING_NUMBER} characters ({what})")
    return number


def _optional_text(path: FieldPath | None, node: Any) -> str:
    if path is None:
        return ""
    value = path.get(node)
    return "" if value is FieldPath.MISSING else text(value)


def _coordinate(path: FieldPath | None, node: Any) -> float | None:
    """A latitude / longitude (a number or numeric text); None when absent or not a number."""
    value = path.get(node) if path is not None else FieldPath.MISSING
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _location(definition: CarrierDefinition, event: Any) -> tuple[Location | None, Place]:
    """The event's Location, and what it tells ``carriers.zones`` (its region too)."""
    paths = definition.fields.location
    city = _optional_text(paths.city, event)
    postcode = _optional_text(paths.postcode, event)
    country = _optional_text(paths.country, event)
    code = _optional_text(paths.code, event)
    lat, lon = _coordinate(paths.lat, event), _coordinate(paths.lon, event)
    if not usable_coordinates(lat, lon):
        lat = lon = None
    iso = country.upper() if len(country) == 2 and country.isascii() and country.isalpha() else ""
    place = Place(lat=lat, lon=lon, code=code, city=city, region=_optional_text(paths.region, event), country=iso)
    if not (city or postcode or country or code or lat is not None):
        return None, place
    return Location(city=city or None, postcode=postcode or None, country=iso or None, lat=lat, lon=lon,
                    code=code or None, text=country if country and not iso else None), place


def _event_id(definition: CarrierDefinition, event: Any, number: str, instant: datetime, code: str) -> str:
    own = _optional_text(definition.fields.event_id, event)
    if not own:
        return derive_event_id(definition.carrier, number, instant, code)
    if len(own) <= MAX_EVENT_ID:
        return own
    return hashlib.sha256(f"{definition.carrier}|{number}|id|{own}".encode()).hexdigest()[:32]


def _one_event(definition: CarrierDefinition, event: Any, shipment_number: str, source: str,
               received_at: datetime, what: str) -> TrackingEvent:
    fields = definition.fields
    event = obj(event, what)
    number = _optional_text(fields.tracking_number, event)
    if number:
        number = _number(number, f"{what}.{fields.tracking_number.text if fields.tracking_number else ''}")
    elif shipment_number:
        number = shipment_number
    else:
        raise PayloadError(f"missing tracking number ({what})")
    code = _optional_text(fields.code, event)
    if not code:
        raise PayloadError(f"{what}.{fields.code.text}: missing carrier code")
    location, place = _location(definition, event)
    instant, local_time, tz_source = read_time(
        definition.timestamp, fields.timestamp.get(event), place, f"{what}.{fields.timestamp.text}",
    )
    found = definition.codes.get(code)
    mapping = found or UNMAPPED
    attributes = compact({name: _optional_text(path, event) for name, path in fields.attributes.items()})
    return TrackingEvent(
        event_id=_event_id(definition, event, number, instant, code), carrier=definition.carrier,
        tracking_number=number, status=mapping.status, substatus=mapping.substatus, code=code,
        description=_optional_text(fields.description, event), occurred_at=instant, local_time=local_time,
        tz_source=tz_source, received_at=received_at, location=location, mapped=found is not None,
        source=source, attributes=attributes,
    )


def _check_error(definition: CarrierDefinition, body: Any) -> None:
    if definition.error is None:
        return
    value = definition.error.get(body)
    if value is FieldPath.MISSING or value in (None, "", [], {}, False):
        return
    message = text(value) or str(value)[:500]
    raise CarrierErrorResponse(f"{definition.carrier} error ({definition.error.text}): {message}")


def parse(definition: CarrierDefinition, payload: bytes, headers: Mapping[str, str],
          received_at: datetime) -> list[TrackingEvent]:
    """Normalize one payload of a configured carrier. See the module docstring."""
    body = load_json(payload)
    _check_error(definition, body)
    if definition.shipments is None:
        shipments = [body]
    else:
        found = definition.shipments.get(body)
        if found is FieldPath.MISSING:
            raise PayloadError(f"no shipments at {definition.shipments.text!r}")
        shipments = _items(found)
    source = (header(headers, "source") or "").strip().lower()
    source = source if source in SOURCES else "webhook"
    events: list[TrackingEvent] = []
    for s_index, raw_shipment in enumerate(shipments):
        s_what = f"shipments[{s_index}]" if definition.shipments is not None else "payload"
        shipment = obj(raw_shipment, s_what)
        number = ""
        if definition.tracking_number is not None:
            value = _optional_text(definition.tracking_number, shipment)
            if value:
                number = _number(value, f"{s_what}.{definition.tracking_number.text}")
        if definition.events is None:
            raw_events: list[Any] = [shipment]
            e_prefix = s_what
        else:
            listed = definition.events.get(shipment)
            if listed is FieldPath.MISSING:
                raise PayloadError(f"{s_what}: no events at {definition.events.text!r}")
            raw_events = _items(listed)
            e_prefix = f"{s_what}.{definition.events.text}"
        for e_index, raw_event in enumerate(raw_events):
            what = e_prefix if definition.events is None else f"{e_prefix}[{e_index}]"
            events.append(_one_event(definition, raw_event, number, source, received_at, what))
    return events


def parser_for(definition: CarrierDefinition) -> Parser:
    """``parse`` bound to one definition: the ``Parser`` shape of the adapter modules."""

    def bound(payload: bytes, headers: Mapping[str, str], received_at: datetime) -> list[Any]:
        return parse(definition, payload, headers, received_at)

    bound.__name__ = f"parse_{definition.carrier}"
    bound.__qualname__ = f"carriers.configured.{definition.carrier}"
    return bound
