"""trackstream's own event format (``POST /v1/events``): validation and normalization.

Body: a JSON list of items, or ``{"events": [...]}``. An item:

==================  =========  ==================================================================
field               required   rule
==================  =========  ==================================================================
``carrier``         yes        ``[a-z0-9_-]{1,32}``
``tracking_number`` yes        text, non-empty after normalization (upper case, no spaces), ≤ 64
``status``          yes        a ``schemas.taxonomy.Status`` value
``substatus``       no         a ``Substatus`` value (or null)
``code``            no         text ≤ 64, default: the status
``description``     no         text ≤ 1000, default ""
``occurred_at``     yes        ISO 8601 **with** an offset or ``Z`` (naive text is rejected)
``location``        no         object with ``city``, ``postcode``, ``country`` (ISO alpha-2),
                               ``code``, ``text`` (text) and ``lat``/``lon`` (numbers in range)
``event_id``        no         text ≤ 128, default ``derive_event_id(carrier, number, instant, code)``
``attributes``      no         object, passed through
==================  =========  ==================================================================

Unknown fields are rejected (a typo such as ``occured_at`` would otherwise pass silently).
Every event gets ``source="api"``, ``tz_source=TZ_GIVEN``, ``mapped=True`` and ``local_time`` = the
``occurred_at`` text as sent.

``validate_item`` raises ``ItemError`` (a ``PayloadError``) whose message starts with the item index
and field, e.g. ``events[3].occurred_at: timestamp without offset``; ``validate_items`` collects
every item's errors for the HTTP layer; ``parse`` (the pipeline) raises on the first bad item.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from carriers._util import load_json
from carriers.base import PayloadError
from schemas.events import TZ_GIVEN, Location, TrackingEvent, derive_event_id, normalize_tracking_number
from schemas.taxonomy import ALL_STATUSES, ALL_SUBSTATUSES

CARRIER_PATTERN = re.compile(r"[a-z0-9_-]{1,32}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_FIELDS = frozenset({
    "carrier", "tracking_number", "status", "substatus", "code", "description", "occurred_at",
    "location", "event_id", "attributes",
})
_LOCATION_TEXT = ("city", "postcode", "country", "code", "text")
MAX_TRACKING_NUMBER = 64
MAX_CODE = 64
MAX_DESCRIPTION = 1000
MAX_EVENT_ID = 128
MAX_LOCATION_TEXT = 200


class ItemError(PayloadError):
    """One item of a native batch is invalid; ``index`` and ``field`` say where."""

    def __init__(self, index: int, field: str, problem: str) -> None:
        super().__init__(f"events[{index}].{field}: {problem}" if field else f"events[{index}]: {problem}")
        self.index = index
        self.field = field
        self.problem = problem

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "error": self.problem}


def _text(item: Mapping[str, Any], index: int, field: str, *, required: bool, limit: int) -> str | None:
    value = item.get(field)
    if value is None:
        if required:
            raise ItemError(index, field, "required")
        return None
    if not isinstance(value, str):
        raise ItemError(index, field, f"must be a string, got {type(value).__name__}")
    if required and not value.strip():
        raise ItemError(index, field, "must not be empty")
    if len(value) > limit:
        raise ItemError(index, field, f"longer than {limit} characters")
    return value


def _required(item: Mapping[str, Any], index: int, field: str, limit: int) -> str:
    value = _text(item, index, field, required=True, limit=limit)
    if value is None:  # _text raised already; keeps the type checker honest
        raise ItemError(index, field, "required")
    return value


def _occurred_at(item: Mapping[str, Any], index: int) -> tuple[datetime, str]:
    text = _required(item, index, "occurred_at", 64)
    stripped = text.strip()
    try:
        iso = stripped[:-1] + "+00:00" if stripped.endswith(("Z", "z")) else stripped
        value = datetime.fromisoformat(iso)
    except ValueError:
        raise ItemError(index, "occurred_at", f"not an ISO 8601 timestamp: {text!r}") from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ItemError(index, "occurred_at", f"timestamp without offset: {text!r} (add Z or +hh:mm)")
    try:
        return value.astimezone(UTC), text
    except (OverflowError, ValueError):
        raise ItemError(index, "occurred_at", f"out of range: {text!r}") from None


def _coordinate(raw: Any, index: int, field: str, bound: float) -> float | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ItemError(index, f"location.{field}", "must be a number")
    value = float(raw)
    if not math.isfinite(value) or abs(value) > bound:
        raise ItemError(index, f"location.{field}", f"must be between -{bound:g} and {bound:g}")
    return value


def _location(item: Mapping[str, Any], index: int) -> Location | None:
    raw = item.get("location")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ItemError(index, "location", "must be an object")
    unknown = sorted(str(k) for k in raw if k not in (*_LOCATION_TEXT, "lat", "lon"))
    if unknown:
        raise ItemError(index, f"location.{unknown[0]}", "unknown field")
    texts: dict[str, str | None] = {}
    for field in _LOCATION_TEXT:
        value = raw.get(field)
        if value is not None and not isinstance(value, str):
            raise ItemError(index, f"location.{field}", "must be a string")
        if value is not None and len(value) > MAX_LOCATION_TEXT:
            raise ItemError(index, f"location.{field}", f"longer than {MAX_LOCATION_TEXT} characters")
        texts[field] = (value.strip() or None) if value is not None else None
    country = texts["country"]
    if country is not None:
        country = country.upper()
        if not _COUNTRY.fullmatch(country):
            raise ItemError(index, "location.country", "must be an ISO 3166-1 alpha-2 code")
    location = Location(
        city=texts["city"], postcode=texts["postcode"], country=country,
        lat=_coordinate(raw.get("lat"), index, "lat", 90.0),
        lon=_coordinate(raw.get("lon"), index, "lon", 180.0),
        code=texts["code"], text=texts["text"],
    )
    return location if location.to_dict() else None


def validate_item(item: Any, index: int, received_at: datetime) -> TrackingEvent:
    """One native item → ``TrackingEvent``; ``ItemError`` naming the field when it is invalid."""
    if not isinstance(item, dict):
        raise ItemError(index, "", f"must be an object, got {type(item).__name__}")
    unknown = sorted(str(k) for k in item if k not in _FIELDS)
    if unknown:
        raise ItemError(index, unknown[0], "unknown field")

    carrier = _required(item, index, "carrier", 32)
    if not CARRIER_PATTERN.fullmatch(carrier):
        raise ItemError(index, "carrier", "must match [a-z0-9_-]{1,32} (lower case)")

    number = normalize_tracking_number(_required(item, index, "tracking_number", MAX_TRACKING_NUMBER * 2))
    if not number:
        raise ItemError(index, "tracking_number", "must not be empty")
    if len(number) > MAX_TRACKING_NUMBER:
        raise ItemError(index, "tracking_number", f"longer than {MAX_TRACKING_NUMBER} characters")

    status = _required(item, index, "status", 32)
    if status not in ALL_STATUSES:
        allowed = ", ".join(sorted(ALL_STATUSES))
        raise ItemError(index, "status", f"unknown status {status!r}; one of {allowed}")
    substatus = _text(item, index, "substatus", required=False, limit=64)
    if substatus is not None and substatus not in ALL_SUBSTATUSES:
        raise ItemError(index, "substatus", f"unknown substatus {substatus!r}")

    code = _text(item, index, "code", required=False, limit=MAX_CODE)
    code = code.strip() if code and code.strip() else status
    description = _text(item, index, "description", required=False, limit=MAX_DESCRIPTION) or ""
    occurred_at, local_time = _occurred_at(item, index)
    location = _location(item, index)

    attributes = item.get("attributes")
    if attributes is not None and not isinstance(attributes, dict):
        raise ItemError(index, "attributes", "must be an object")

    event_id = _text(item, index, "event_id", required=False, limit=MAX_EVENT_ID)
    if event_id is not None and not event_id.strip():
        raise ItemError(index, "event_id", "must not be empty")
    if event_id is None:
        event_id = derive_event_id(carrier, number, occurred_at, code)

    return TrackingEvent(
        event_id=event_id.strip(), carrier=carrier, tracking_number=number, status=status,
        substatus=substatus, code=code, description=description, occurred_at=occurred_at,
        local_time=local_time, tz_source=TZ_GIVEN, received_at=received_at, location=location,
        mapped=True, source="api", attributes=dict(attributes or {}),
    )


def validate_items(
    items: list[Any], received_at: datetime
) -> tuple[list[TrackingEvent], list[dict[str, Any]]]:
    """Validate every item: (valid events in order, ``[{"index", "field", "error"}, ...]``). Only
    ``ItemError`` is an invalid item; anything else is a bug here and escapes to the caller."""
    events: list[TrackingEvent] = []
    errors: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        try:
            events.append(validate_item(item, index, received_at))
        except ItemError as exc:
            errors.append(exc.to_dict())
    return events, errors


def load_items(payload: bytes) -> list[Any]:
    """The item list of a native body (a list or ``{"events": [...]}``); ``PayloadError`` otherwise."""
    body = load_json(payload)
    if isinstance(body, dict):
        if set(body) != {"events"}:
            raise PayloadError('an object body must be {"events": [...]}')
        body = body["events"]
    if not isinstance(body, list):
        raise PayloadError(f"events must be a list, got {type(body).__name__}")
    return body


def parse(payload: bytes, headers: Mapping[str, str], received_at: datetime) -> list[TrackingEvent]:
    """Pipeline entry: every item valid, or ``PayloadError`` for the first bad one."""
    return [validate_item(item, index, received_at) for index, item in enumerate(load_items(payload))]
