"""Ingress: carrier webhooks, trackstream's own event format, shipment registration.

Everything that arrives is authenticated, bounded in size and checked for well-formedness, then
written to Kafka with ``acks=all``; the caller gets its success answer (202, or the 200 and body a
carrier expects: ``WEBHOOKS``) only after the broker acknowledged. When the broker cannot take it
the answer is 503: never a success for something not stored.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qsl

import orjson
from aiohttp import web
from aiokafka.errors import KafkaError

import carriers
from api.access import Principal, carrier_authenticated, principal_of, requires
from api.context import DB, PACKER, PRODUCER, PRODUCER_STARTED, SETTINGS
from api.errors import ApiError, json_response
from api.sources import source_allowed
from carriers._util import same_text
from carriers.base import ParseError, SignatureError
from carriers.detect import detect_carrier
from schemas.events import format_utc, normalize_tracking_number, parse_utc, shipment_key
from schemas.shipments import ShipmentRegistration
from trackstream import crash, metrics
from trackstream import topics as names
from trackstream.settings import Settings
from trackstream.topics import partition_for

log = logging.getLogger(__name__)

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


async def _acknowledged(request: web.Request, write: Callable[[], Awaitable[Any]]) -> None:
    """Run ``write`` (a broker write) within ``_SEND_TIMEOUT``; 503 when the broker is not
    connected or did not acknowledge it."""
    if not request.app[PRODUCER_STARTED].is_set():
        raise ApiError(503, "broker_unavailable", "the event store is not reachable; retry")
    try:
        await asyncio.wait_for(write(), timeout=_SEND_TIMEOUT)
    except (KafkaError, TimeoutError) as exc:
        raise ApiError(503, "broker_unavailable",
                       f"the event store did not acknowledge the write ({type(exc).__name__}); retry") from exc


async def enqueue(request: web.Request, topic: str, value: bytes, headers: dict[str, str],
                  key: bytes | None = None, partition: int | None = None) -> None:
    kafka_headers = [(k, v.encode()) for k, v in headers.items()]
    await _acknowledged(request, lambda: request.app[PRODUCER].send_and_wait(
        topic, value, key=key, partition=partition, headers=kafka_headers))


async def enqueue_raw(request: web.Request, topic: str, payload: bytes, headers: dict[str, str]) -> None:
    """Write one carrier payload to its raw topic through the packer (``api.packer``): returns once
    the broker acknowledged the record holding it; 503 otherwise."""
    await _acknowledged(request, lambda: request.app[PACKER].put(topic, payload, headers))


def _headers(request: web.Request, source: str, carrier: str | None = None) -> dict[str, str]:
    """What the raw record keeps of a request: the generic headers, the ones ``carrier``'s parser
    declares it reads from a push (``carriers.request_headers``), when and how it arrived. Nothing
    else: credentials and signatures stay out of the broker."""
    kept = _KEPT_HEADERS + (carriers.request_headers(carrier) if carrier else ())
    out = {name: request.headers[name] for name in kept if name in request.headers}
    out["received-at"] = format_utc(datetime.now(UTC))
    out["source"] = source
    return out


# --- carrier webhooks ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Presented:
    """What one push presents for authentication: the payload bytes as received (the body, or for a
    GET push the raw query string), the request headers, and the secret path segment if any."""

    payload: bytes
    headers: Mapping[str, str]
    path_token: str = ""


def _verify_sendcloud(push: Presented, secret: str) -> None:
    from carriers.sendcloud import verify_signature

    verify_signature(push.payload, push.headers.get("Sendcloud-Signature"), secret)


def _verify_bearer(push: Presented, secret: str) -> None:
    given = push.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not same_text(given, secret):
        raise SignatureError("missing or wrong bearer token")


def _verify_myparcel(push: Presented, secret: str) -> None:
    from carriers.myparcel import verify_webhook

    verify_webhook(push.payload, push.headers, secret)


def _verify_ups(push: Presented, secret: str) -> None:
    from carriers.ups import verify_webhook

    verify_webhook(push.payload, push.headers, secret)


def _verify_fedex(push: Presented, secret: str) -> None:
    from carriers.fedex import verify_webhook

    verify_webhook(push.payload, push.headers, secret)


def _verify_dhl_parcel_nl(push: Presented, secret: str) -> None:
    from carriers.dhl_parcel_nl import verify_webhook

    verify_webhook(push.payload, push.headers, secret)


def _verify_path_token(push: Presented, secret: str) -> None:
    if not push.path_token or not same_text(push.path_token, secret):
        raise SignatureError("missing or wrong token in the URL path")


def _accepted_json(payload: bytes) -> bytes:
    return orjson.dumps({"status": "accepted"})


def _dpd_ack(payload: bytes) -> bytes:
    from carriers.dpd_nl import ack_response

    return ack_response(payload)


@dataclass(frozen=True)
class Acknowledgement:
    """The success answer a carrier expects, sent only after the broker acknowledged the write."""

    status: int
    content_type: str
    body: Callable[[bytes], bytes]  # payload -> response body


ACCEPTED_202 = Acknowledgement(202, "application/json", _accepted_json)
ACCEPTED_200 = Acknowledgement(200, "application/json", _accepted_json)


@dataclass(frozen=True)
class Webhook:
    """How one carrier pushes: HTTP method, authentication, source allow-list and the answer it wants.

    ``method`` ``POST``: the payload is the body, checked for well-formed JSON/XML. ``GET``: the
    payload is the raw query string, the secret is the last path segment
    (``GET /v1/webhooks/{carrier}/{token}``). ``kind`` names the credential in error codes:
    ``signature`` (HMAC of the body) or ``token`` (a static shared secret).
    """

    method: str
    kind: str
    verify: Callable[[Presented, str], None]
    secret_variable: str  # the TRACKSTREAM_* variable holding the secret
    ack: Acknowledgement
    allow_variable: str | None = None  # the TRACKSTREAM_* CIDR list of allowed sources, if any


#: Carriers that push to /v1/webhooks/{carrier}; a carrier whose secret is not configured is refused.
#: Answers: Sendcloud and MyParcel take any 2xx (202 kept); UPS Track Alert's spec says "return a
#: 200 status"; DHL eCommerce wants 200 within 5 s; FedEx documents no code (200, the safe one);
#: DPD wants 200 with ``<push><pushid>…</pushid><status>OK</status></push>``.
WEBHOOKS: dict[str, Webhook] = {
    "sendcloud": Webhook("POST", "signature", _verify_sendcloud, "TRACKSTREAM_SENDCLOUD_SECRET", ACCEPTED_202),
    "postnl": Webhook("POST", "token", _verify_bearer, "TRACKSTREAM_POSTNL_WEBHOOK_TOKEN", ACCEPTED_202),
    "myparcel": Webhook("POST", "token", _verify_myparcel, "TRACKSTREAM_MYPARCEL_API_KEY", ACCEPTED_202),
    "ups": Webhook("POST", "token", _verify_ups, "TRACKSTREAM_UPS_WEBHOOK_CREDENTIAL", ACCEPTED_200),
    "fedex": Webhook("POST", "signature", _verify_fedex, "TRACKSTREAM_FEDEX_WEBHOOK_TOKEN", ACCEPTED_200,
                     "TRACKSTREAM_FEDEX_WEBHOOK_ALLOW"),
    "dhl_parcel_nl": Webhook("POST", "token", _verify_dhl_parcel_nl, "TRACKSTREAM_DHL_PARCEL_NL_WEBHOOK_TOKEN",
                             ACCEPTED_200),
    "dpd_nl": Webhook("GET", "token", _verify_path_token, "TRACKSTREAM_DPD_PUSH_TOKEN",
                      Acknowledgement(200, "text/xml", _dpd_ack), "TRACKSTREAM_DPD_PUSH_ALLOW"),
}
WEBHOOK_CARRIERS: frozenset[str] = frozenset(WEBHOOKS)


def webhook_for(settings: Settings, carrier: str) -> Webhook | None:
    """How ``carrier`` pushes: its row of ``WEBHOOKS``, or for a carrier defined by a file
    (``TRACKSTREAM_CARRIERS_DIR``) a ``POST`` checked as its ``webhook`` section says and answered
    202; None when it has no webhook."""
    hook = WEBHOOKS.get(carrier)
    if hook is not None:
        return hook
    definition = settings.carrier_definitions.get(carrier)
    if definition is None or definition.webhook is None:
        return None
    spec = definition.webhook

    def verify(push: Presented, secret: str) -> None:
        from carriers.configured import verify_webhook

        verify_webhook(spec, push.payload, push.headers, secret)

    return Webhook("POST", spec.kind, verify, spec.secret_env, ACCEPTED_202)


def _hook(request: web.Request, carrier: str) -> Webhook:
    hook = webhook_for(request.app[SETTINGS], carrier)
    if hook is None:
        raise ApiError(404, "unknown_carrier", f"no webhook for carrier {carrier!r}")
    return hook


def authenticate(carrier: str, request: web.Request, push: Presented) -> None:
    hook = _hook(request, carrier)
    settings = request.app[SETTINGS]
    client = settings.push_clients.get(carrier)
    if client is not None and request.headers.get("Authorization", "")[:7].lower() == "bearer ":
        # a carrier that fetched a token from /v1/oauth/token first (UPS Track Alert v2)
        from api.oauth import TokenError, verify_bearer

        try:
            verify_bearer(request.headers, client, time.time())
        except TokenError as exc:
            raise ApiError(401, "invalid_token", str(exc)) from exc
        return
    secret = settings.secrets.get(carrier, "")
    if not secret and client is not None:
        raise ApiError(401, "invalid_token", "missing bearer token from /v1/oauth/token")
    if not secret:
        raise ApiError(401, f"{hook.kind}_not_configured",
                       f"set {hook.secret_variable} to accept {carrier} webhooks")
    try:
        hook.verify(push, secret)
    except SignatureError as exc:
        raise ApiError(401, f"invalid_{hook.kind}", str(exc) or "authentication failed") from exc


def check_source(carrier: str, request: web.Request) -> None:
    """403 when the carrier has a source allow-list and the request's client is outside it."""
    hook = _hook(request, carrier)
    settings = request.app[SETTINGS]
    allow = settings.webhook_allow.get(carrier, ())
    if hook.allow_variable and not source_allowed(request.remote, request.headers.get("X-Forwarded-For"),
                                                  allow, settings.trusted_proxies):
        raise ApiError(403, "source_not_allowed",
                       f"this source may not push {carrier} webhooks (see {hook.allow_variable})")


def check_query(query: bytes) -> None:
    """A GET push's raw query: non-empty UTF-8 ``key=value`` pairs."""
    if not query.strip():
        raise ApiError(400, "malformed_query", "empty query string")
    try:
        parse_qsl(query.decode("utf-8"), keep_blank_values=True, strict_parsing=True,
                  errors="strict", max_num_fields=200)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, "malformed_query", f"not a key=value query string: {exc}") from exc


def _route(request: web.Request, method: str) -> str:
    carrier = request.match_info["carrier"].lower()
    if webhook_for(request.app[SETTINGS], carrier) is None:
        metrics.INGRESS.labels("webhook", "unknown_carrier").inc()
        raise ApiError(404, "unknown_carrier", f"no webhook for carrier {carrier!r}")
    expected = _hook(request, carrier).method
    if expected != method:
        metrics.INGRESS.labels("webhook", "method_not_allowed").inc()
        where = f"GET /v1/webhooks/{carrier}/<token>" if expected == "GET" else f"POST /v1/webhooks/{carrier}"
        # Allow: what this URL takes for this carrier (a GET push's URL ends in its token; a POST
        # carrier's URL has none, so its token URL takes nothing)
        allow = "" if expected == "POST" and "token" in request.match_info else expected
        raise ApiError(405, "method_not_allowed", f"{carrier} pushes with {where}", headers={"Allow": allow})
    try:
        check_source(carrier, request)
    except ApiError:
        metrics.INGRESS.labels("webhook", "forbidden").inc()
        raise
    return carrier


async def _store_push(request: web.Request, carrier: str, push: Presented, started: float) -> web.Response:
    try:
        authenticate(carrier, request, push)
    except ApiError:
        metrics.INGRESS.labels("webhook", "unauthorized").inc()
        raise
    hook = _hook(request, carrier)
    if hook.method == "GET":
        check_query(push.payload)
    else:
        check_well_formed(push.payload, request.content_type)
    await enqueue_raw(request, names.raw_topic(carrier), push.payload, _headers(request, "webhook", carrier))
    metrics.INGRESS.labels("webhook", "accepted").inc()
    metrics.INGRESS_SECONDS.labels("webhook").observe(time.perf_counter() - started)
    ack = hook.ack
    return web.Response(body=ack.body(push.payload), status=ack.status, content_type=ack.content_type)


@carrier_authenticated
async def webhook(request: web.Request) -> web.Response:
    """``POST /v1/webhooks/{carrier}``: the body is the carrier's payload."""
    started = time.perf_counter()
    carrier = _route(request, "POST")
    body = await read_body(request)
    return await _store_push(request, carrier, Presented(body, request.headers), started)


@carrier_authenticated
async def webhook_get(request: web.Request) -> web.Response:
    """``GET /v1/webhooks/{carrier}/{token}`` (DPD): the raw query string, exactly as received, is the
    payload; the last path segment is the secret (without it: 401)."""
    started = time.perf_counter()
    carrier = _route(request, "GET")
    query = request.raw_path.partition("?")[2].partition("#")[0].encode("utf-8", "surrogateescape")
    if len(query) > request.app[SETTINGS].max_body_bytes:
        raise ApiError(413, "payload_too_large", "query string too long")
    push = Presented(query, request.headers, request.match_info.get("token", ""))
    return await _store_push(request, carrier, push, started)


def _load_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "malformed_body", f"not well-formed JSON: {exc}") from exc


def _validated(items: list[Any]) -> tuple[list[Any], list[dict[str, Any]]]:
    """The events of a native batch and its invalid items (``carriers.native.validate_items``).

    When the validator itself fails (a bug in trackstream, not the sender's fault) the batch is
    accepted unchecked rather than refused: it is safe on the raw topic, and the normalizer runs
    the same validator, so it keeps the batch as an ``internal_error`` dead letter (counted in
    ``trackstream_parser_internal_errors_total``) for a replay once the bug is fixed. Refusing would
    turn trackstream's bug into a sender's retry loop or lost events. The bug is logged here too,
    without the exception's message (``trackstream.crash``). Then there are no events to return."""
    from carriers.native import validate_items

    try:
        events, problems = validate_items(items, datetime.now(UTC))
        return list(events), problems
    except Exception as exc:
        log.error("%s, on POST /v1/events: the batch is stored unchecked (the normalizer dead-letters it)\n%s",
                  crash.summary("native", exc), crash.safe_traceback(exc))
        return [], []


#: A caller's own event ids are kept in its namespace, ``<key id>:<event id>``, so they cannot
#: collide with a carrier's (or make a carrier's event look like a duplicate).
MAX_CALLER_EVENT_ID = 128 - len("tsk_0123456789ab:")


def _item_carrier(item: Any) -> str | None:
    carrier = item.get("carrier") if isinstance(item, dict) else None
    return carrier.strip().lower() if isinstance(carrier, str) else None


def _check_carriers(principal: Principal, items: list[Any]) -> None:
    refused = sorted({c for c in map(_item_carrier, items) if c and not principal.may_post_for(c)})
    if refused:
        raise ApiError(403, "carrier_not_allowed",
                       f"this key may not post events for {', '.join(refused)} (its carriers: "
                       f"{', '.join(sorted(principal.carriers)) or 'none'})", carriers=refused)


def _namespaced(principal: Principal, items: list[Any], events: list[Any]) -> list[Any]:
    """The items with each event id in the caller's namespace (admins' ids are kept as given)."""
    if principal.admin:
        return items
    long = [i for i, item in enumerate(items) if isinstance(item.get("event_id"), str)
            and len(item["event_id"].strip()) > MAX_CALLER_EVENT_ID]
    if long:
        raise ApiError(422, "invalid_events", f"event_id must be at most {MAX_CALLER_EVENT_ID} characters",
                       items=[{"index": i, "field": "event_id", "error": "invalid_event",
                               "message": f"events[{i}].event_id: at most {MAX_CALLER_EVENT_ID} characters"}
                              for i in long])
    if len(events) != len(items):  # the validator failed (see _validated): nothing to namespace with
        raise ApiError(500, "internal_error", "the events could not be checked; it has been logged")
    return [{**item, "event_id": f"{principal.key_id}:{event.event_id}"}
            for item, event in zip(items, events, strict=True)]


async def _check_customers(request: web.Request, principal: Principal, events: list[Any]) -> None:
    """A key bound to customers posts events only for registered shipments of those customers;
    any other shipment is reported as not found, whether it exists or not."""
    if principal.customers is None:
        return
    keys = sorted({shipment_key(e.carrier, e.tracking_number) for e in events})
    async with request.app[DB].connection() as conn:
        cursor = await conn.execute("SELECT shipment_key, customer FROM shipments WHERE shipment_key = ANY(%s)",
                                    (keys,))
        owners = {key: customer for key, customer in await cursor.fetchall()}
    missing = [i for i, e in enumerate(events)
               if shipment_key(e.carrier, e.tracking_number) not in owners
               or not principal.sees(owners[shipment_key(e.carrier, e.tracking_number)])]
    if missing:
        raise ApiError(404, "shipment_not_found", f"{len(missing)} event(s) are for shipments this key does not "
                       "know; register them first (POST /v1/shipments)",
                       items=[{"index": i, "shipment_key": shipment_key(events[i].carrier, events[i].tracking_number)}
                              for i in missing])


@requires("events:write")
async def post_events(request: web.Request) -> web.Response:
    from carriers.native import load_items

    started = time.perf_counter()
    principal = principal_of(request)
    body = await read_body(request)
    _load_json(body)
    try:
        items = load_items(body)
    except ParseError as exc:
        raise ApiError(400, "invalid_body", f"expected a non-empty JSON list of events: {exc}") from exc
    if not items:
        raise ApiError(400, "invalid_body", "expected a non-empty JSON list of events")
    _check_carriers(principal, items)
    events, problems = _validated(items)
    errors = [{"index": p["index"], "field": p["field"], "error": "invalid_event",
               "message": f"events[{p['index']}].{p['field']}: {p['error']}" if p["field"] else p["error"]}
              for p in problems]
    if errors:
        metrics.INGRESS.labels("events", "invalid").inc()
        raise ApiError(422, "invalid_events", f"{len(errors)} of {len(items)} events are invalid; "
                       "nothing was stored", items=errors)
    stored = _namespaced(principal, items, events)
    if principal.customers is not None and len(events) != len(items):
        raise ApiError(500, "internal_error", "the events could not be checked; it has been logged")
    await _check_customers(request, principal, events)
    await enqueue_raw(request, names.raw_topic("native"), orjson.dumps(stored), _headers(request, "api"))
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
    if despatched is not None and despatched != "":
        try:
            despatched_at = parse_utc(str(despatched))
        except ValueError as exc:
            raise ApiError(422, "invalid_shipment",
                           "despatched_at must be ISO 8601 with an offset, e.g. 2026-11-21T10:00:00+01:00") from exc
    promised = data.get("promised_delivery_date")
    promised_date = None
    if promised is not None and promised != "":
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


def bind_customer(principal: Principal, registration: ShipmentRegistration) -> ShipmentRegistration:
    """The registration with the customer a key bound to customers registers for: the one given
    (which must be one of the key's), or the key's only customer."""
    if principal.customers is None:
        return registration
    if registration.customer is None:
        if len(principal.customers) != 1:
            raise ApiError(422, "customer_required", "this key is bound to several customers: name the customer")
        return dataclasses.replace(registration, customer=next(iter(principal.customers)))
    if registration.customer not in principal.customers:
        raise ApiError(403, "customer_not_allowed", "this key may not register shipments for that customer")
    return registration


async def check_not_elsewhere(request: web.Request, principal: Principal, key: str) -> None:
    """409 when a key bound to customers registers a shipment that belongs to another customer
    (re-registering it would move it to the caller's customer)."""
    if principal.customers is None:
        return
    async with request.app[DB].connection() as conn:
        cursor = await conn.execute("SELECT customer FROM shipments WHERE shipment_key = %s", (key,))
        row = await cursor.fetchone()
    if row is not None and row[0] is not None and not principal.sees(row[0]):
        raise ApiError(409, "shipment_registered_elsewhere",
                       "this tracking number is registered for a customer this key does not serve")


@requires("shipments:write")
async def post_shipment(request: web.Request) -> web.Response:
    principal = principal_of(request)
    body = await read_body(request)
    registration = bind_customer(principal, parse_registration(_load_json(body), datetime.now(UTC)))
    key = shipment_key(registration.carrier, registration.tracking_number)
    await check_not_elsewhere(request, principal, key)
    partitions = request.app[SETTINGS].partitions
    await enqueue(request, names.SHIPMENTS_REGISTERED, registration.to_json(), _headers(request, "api"),
                  key=key.encode(), partition=partition_for(key, partitions))
    metrics.INGRESS.labels("shipments", "accepted").inc()
    # no Location: a 202 creates nothing yet (the shipment is readable once the pipeline stored it)
    return json_response({"status": "accepted", "shipment_key": key}, status=202)
