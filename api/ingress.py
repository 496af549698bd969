"""Ingress: carrier webhooks, trackstream's own event format, shipment registration.

Everything that arrives is authenticated, bounded in size and checked for well-formedness, then
written to Kafka with ``acks=all``; the caller gets 202 only after the broker acknowledged. When
the broker cannot take it the answer is 503: never 202 for something not stored.
"""

from __future__ import annotations

import asyncio
import hmac
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import orjson
from aiohttp import web
from aiokafka.errors import KafkaError

from api.context import PRODUCER, PRODUCER_STARTED, SETTINGS
from api.errors import ApiError, json_response
from carriers.base import ParseError, SignatureError
from carriers.detect import detect_carrier
from schemas.events import format_utc, normalize_tracking_number, parse_utc, shipment_key
from schemas.shipments import ShipmentRegistration
from trackstream import metrics
from trackstream import topics as names
from trackstream.topics import partition_for

_CARRIER_NAME = re.compile(r"^[a-z0-9_-]{1,32}$")
_KEPT_HEADERS = ("content-type", "user-agent", "x-request-id")
_SEND_TIMEOUT = 15.0


async def read_body(request: web.Request, limit: int | None = None) -> bytes:
    """The body, at most ``limit`` bytes (default ``TRACKSTREAM_MAX_BODY_BYTES``; 413 above)."""
    limit = request.app[SETTINGS].max_body_bytes if limit is None else limit
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "payload_too_large", f"body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(65536):
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "payload_too_large", f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def check_well_formed(body: bytes, content_type: str) -> str:
    """JSON or XML, judged by the content type (JSON when unsure). Returns the kind."""
    if not body.strip():
        raise ApiError(400, "malformed_body", "empty body")
    if "xml" in content_type or body.lstrip()[:1] == b"<":
        if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
            raise ApiError(400, "malformed_body", "XML with a DTD or entities is not accepted")
        try:
            ET.fromstring(body)
        except ET.ParseError as exc:
            raise ApiError(400, "malformed_body", f"not well-formed XML: {exc}") from exc
        return "xml"
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "malformed_body", f"not well-formed JSON: {exc}") from exc
    return "json"


async def enqueue(request: web.Request, topic: str, value: bytes, headers: dict[str, str],
                  key: bytes | None = None, partition: int | None = None) -> None:
    producer = request.app[PRODUCER]
    if not request.app[PRODUCER_STARTED].is_set():
        raise ApiError(503, "broker_unavailable", "the event store is not reachable; retry")
    kafka_headers = [(k, v.encode()) for k, v in headers.items()]
    try:
        await asyncio.wait_for(
            producer.send_and_wait(topic, value, key=key, partition=partition, headers=kafka_headers),
            timeout=_SEND_TIMEOUT,
        )
    except (KafkaError, TimeoutError) as exc:
        raise ApiError(503, "broker_unavailable",
                       f"the event store did not acknowledge the write ({type(exc).__name__}); retry") from exc


def _headers(request: web.Request, source: str) -> dict[str, str]:
    out = {name: request.headers[name] for name in _KEPT_HEADERS if name in request.headers}
    out["received-at"] = format_utc(datetime.now(UTC))
    out["source"] = source
    return out


def _verify_sendcloud(body: bytes, headers: Mapping[str, str], secret: str) -> None:
    from carriers.sendcloud import verify_signature

    verify_signature(body, headers.get("Sendcloud-Signature"), secret)


def _verify_bearer(body: bytes, headers: Mapping[str, str], secret: str) -> None:
    given = headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given.encode(), secret.encode()):
        raise SignatureError("missing or wrong bearer token")


def _verify_myparcel(body: bytes, headers: Mapping[str, str], secret: str) -> None:
    from carriers.myparcel import verify_webhook

    verify_webhook(body, headers, secret)


def _verify_ups(body: bytes, headers: Mapping[str, str], secret: str) -> None:
    from carriers.ups import verify_webhook

    verify_webhook(body, headers, secret)


@dataclass(frozen=True)
class WebhookAuth:
    """How one carrier's push is authenticated: HMAC signatures or a static shared secret."""

    verify: Callable[[bytes, Mapping[str, str], str], None]
    secret_variable: str  # the TRACKSTREAM_* variable holding the secret
    kind: str  # "signature" (body HMAC) or "token" (static secret)


#: Carriers that push to /v1/webhooks/{carrier}; a carrier whose secret is not configured is refused.
WEBHOOKS: dict[str, WebhookAuth] = {
    "sendcloud": WebhookAuth(_verify_sendcloud, "TRACKSTREAM_SENDCLOUD_SECRET", "signature"),
    "postnl": WebhookAuth(_verify_bearer, "TRACKSTREAM_POSTNL_WEBHOOK_TOKEN", "token"),
    "myparcel": WebhookAuth(_verify_myparcel, "TRACKSTREAM_MYPARCEL_API_KEY", "token"),
    "ups": WebhookAuth(_verify_ups, "TRACKSTREAM_UPS_WEBHOOK_CREDENTIAL", "token"),
}
WEBHOOK_CARRIERS: frozenset[str] = frozenset(WEBHOOKS)


def authenticate(carrier: str, request: web.Request, body: bytes) -> None:
    auth = WEBHOOKS[carrier]
    secret = request.app[SETTINGS].secrets.get(carrier, "")
    if not secret:
        raise ApiError(401, f"{auth.kind}_not_configured",
                       f"set {auth.secret_variable} to accept {carrier} webhooks")
    try:
        auth.verify(body, request.headers, secret)
    except SignatureError as exc:
        raise ApiError(401, f"invalid_{auth.kind}", str(exc) or "authentication failed") from exc


async def webhook(request: web.Request) -> web.Response:
    carrier = request.match_info["carrier"].lower()
    started = time.perf_counter()
    if carrier not in WEBHOOK_CARRIERS:
        metrics.INGRESS.labels("webhook", "unknown_carrier").inc()
        raise ApiError(404, "unknown_carrier", f"no webhook for carrier {carrier!r}")
    body = await read_body(request)
    try:
        authenticate(carrier, request, body)
    except ApiError:
        metrics.INGRESS.labels("webhook", "unauthorized").inc()
        raise
    check_well_formed(body, request.content_type)
    await enqueue(request, names.raw_topic(carrier), body, _headers(request, "webhook"))
    metrics.INGRESS.labels("webhook", "accepted").inc()
    metrics.INGRESS_SECONDS.labels("webhook").observe(time.perf_counter() - started)
    return json_response({"status": "accepted"}, status=202)


def _load_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "malformed_body", f"not well-formed JSON: {exc}") from exc


async def post_events(request: web.Request) -> web.Response:
    from carriers.native import load_items, validate_items

    started = time.perf_counter()
    body = await read_body(request)
    _load_json(body)
    try:
        items = load_items(body)
    except ParseError as exc:
        raise ApiError(400, "invalid_body", f"expected a non-empty JSON list of events: {exc}") from exc
    if not items:
        raise ApiError(400, "invalid_body", "expected a non-empty JSON list of events")
    _, problems = validate_items(items, datetime.now(UTC))
    errors = [{"index": p["index"], "field": p["field"], "error": "invalid_event",
               "message": f"events[{p['index']}].{p['field']}: {p['error']}" if p["field"] else p["error"]}
              for p in problems]
    if errors:
        metrics.INGRESS.labels("events", "invalid").inc()
        raise ApiError(422, "invalid_events", f"{len(errors)} of {len(items)} events are invalid; "
                       "nothing was stored", items=errors)
    await enqueue(request, names.raw_topic("native"), orjson.dumps(items), _headers(request, "api"))
    metrics.INGRESS.labels("events", "accepted").inc()
    metrics.INGRESS_SECONDS.labels("events").observe(time.perf_counter() - started)
    return json_response({"status": "accepted", "accepted": len(items)}, status=202)


def _opt_str(data: dict[str, Any], name: str, max_len: int = 200) -> str | None:
    value = data.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > max_len:
        raise ApiError(422, "invalid_shipment", f"{name} must be a string of at most {max_len} characters")
    return value.strip()


def parse_registration(data: Any, now: datetime) -> ShipmentRegistration:
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_body", "expected a JSON object")
    tracking = data.get("tracking_number")
    if not isinstance(tracking, str) or not normalize_tracking_number(tracking) or len(tracking) > 64:
        raise ApiError(422, "invalid_shipment", "tracking_number must be a non-empty string (<= 64)")
    carrier = data.get("carrier")
    if carrier is None or carrier == "":
        # never overrides an explicit carrier; only a format that fits one carrier alone counts
        carrier = detect_carrier(tracking)
        if carrier is None:
            raise ApiError(422, "carrier_unknown",
                           "carrier is missing and the tracking number's format does not identify one")
    if not isinstance(carrier, str) or not _CARRIER_NAME.match(carrier.strip().lower()):
        raise ApiError(422, "invalid_shipment", "carrier must match [a-z0-9_-]{1,32}")
    despatched = data.get("despatched_at")
    despatched_at = None
    if despatched is not None:
        try:
            despatched_at = parse_utc(str(despatched))
        except ValueError as exc:
            raise ApiError(422, "invalid_shipment",
                           "despatched_at must be ISO 8601 with an offset, e.g. 2026-11-21T10:00:00+01:00") from exc
    promised = data.get("promised_delivery_date")
    promised_date = None
    if promised is not None:
        try:
            promised_date = date.fromisoformat(str(promised))
        except ValueError as exc:
            raise ApiError(422, "invalid_shipment", "promised_delivery_date must be YYYY-MM-DD") from exc
    country = _opt_str(data, "destination_country", 2)
    if country is not None and not re.fullmatch(r"[A-Za-z]{2}", country):
        raise ApiError(422, "invalid_shipment", "destination_country must be an ISO 3166-1 alpha-2 code")
    return ShipmentRegistration(
        carrier=carrier.strip().lower(),
        tracking_number=normalize_tracking_number(tracking),
        registered_at=now,
        order_number=_opt_str(data, "order_number"),
        customer=_opt_str(data, "customer"),
        destination_postcode=_opt_str(data, "destination_postcode", 16),
        destination_country=country.upper() if country else None,
        service_level=_opt_str(data, "service_level", 64),
        despatched_at=despatched_at,
        promised_delivery_date=promised_date,
    )


async def post_shipment(request: web.Request) -> web.Response:
    body = await read_body(request)
    registration = parse_registration(_load_json(body), datetime.now(UTC))
    key = shipment_key(registration.carrier, registration.tracking_number)
    partitions = request.app[SETTINGS].partitions
    await enqueue(request, names.SHIPMENTS_REGISTERED, registration.to_json(), _headers(request, "api"),
                  key=key.encode(), partition=partition_for(key, partitions))
    metrics.INGRESS.labels("shipments", "accepted").inc()
    location = f"/v1/shipments/{registration.carrier}/{registration.tracking_number}"
    return json_response({"status": "accepted", "shipment_key": key, "href": location}, status=202,
                         headers={"Location": location})
