"""Webhook subscriptions: ``/v1/subscriptions`` (create, list, read, change, delete, rotate the
secret, the delivery log, replay). Delivery itself is the outbound engine's (``sinks.outbound``).

A subscription is visible only to the key that created it (and to admins): another key's answers
404 like one that does not exist. Per tracking number: numbers trackstream does not know yet are
registered (``shipments.registered``, as ``POST /v1/shipments`` does) so the pollers track them;
for a key bound to customers, a number already registered for a customer it does not serve is
refused with 409 ``shipment_registered_elsewhere``, exactly as ``POST /v1/shipments`` refuses it
(subscribing must not move a shipment to the caller's customer), and a registered number without
a customer is registered for the caller's. Per customer: the customer must be one the key serves.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiohttp import web

from api.access import Principal, principal_of, requires
from api.context import DB, SETTINGS
from api.errors import ApiError, json_response
from api.ingress import _headers, bind_customer, enqueue, read_body
from carriers.detect import detect_carrier
from schemas.events import normalize_tracking_number, parse_utc
from schemas.shipments import ShipmentRegistration
from sinks import audit
from sinks.outbound import guard, store
from sinks.outbound import subscriptions as subs
from sinks.outbound.policy import DEFAULT_KINDS, KINDS
from sinks.outbound.signing import new_secret
from sinks.postgres import storable
from trackstream import topics as names
from trackstream.topics import partition_for

MAX_TRACKING_NUMBERS = 1000
MAX_LIST = 200
_CARRIER = re.compile(r"^[a-z0-9_-]{1,32}$")
_ID = re.compile(r"^sub_[0-9a-f]{20}$")
_MESSAGE_ID = re.compile(r"^(msg_)?[0-9]{1,18}$")
_CREATE_FIELDS = frozenset({"url", "tracking_numbers", "customer", "kinds"})
_PATCH_FIELDS = frozenset({"url", "kinds", "state"})
TARGET = "subscription"


def _object(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "malformed_body", f"not well-formed JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_body", "expected a JSON object")
    return data


def _invalid(message: str) -> ApiError:
    return ApiError(422, "invalid_subscription", message)


async def _url(request: web.Request, value: Any) -> str:
    if not isinstance(value, str):
        raise _invalid("url must be an http(s) URL")
    try:
        await guard.check_registration(value, request.app[SETTINGS].outbound.allow_private)
    except guard.TargetRefused as exc:
        raise ApiError(422, "url_not_allowed", f"url: {exc}") from exc
    return value


def _kinds(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(k, str) for k in value):
        raise _invalid(f"kinds must be a non-empty list of: {', '.join(KINDS)}")
    unknown = sorted(set(value) - set(KINDS))
    if unknown:
        raise _invalid(f"unknown kind {unknown[0]!r} (known: {', '.join(KINDS)})")
    return tuple(dict.fromkeys(value))


def _targets(value: Any) -> list[subs.Target]:
    if not isinstance(value, list) or not value:
        raise _invalid("tracking_numbers must be a non-empty list of {carrier, tracking_number}")
    if len(value) > MAX_TRACKING_NUMBERS:
        raise _invalid(f"at most {MAX_TRACKING_NUMBERS} tracking numbers per subscription")
    out: dict[str, subs.Target] = {}
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise _invalid(f"tracking_numbers[{i}] must be an object")
        number = item.get("tracking_number")
        if not isinstance(number, str) or not normalize_tracking_number(number) or len(number) > 64:
            raise _invalid(f"tracking_numbers[{i}].tracking_number must be a non-empty string (<= 64)")
        number = storable(normalize_tracking_number(number))  # as the writer stores it (no NUL)
        carrier = item.get("carrier")
        if carrier is None or carrier == "":
            carrier = detect_carrier(number)
            if carrier is None:
                raise ApiError(422, "carrier_unknown", f"tracking_numbers[{i}]: carrier is missing and the "
                               "number's format does not identify one")
        if not isinstance(carrier, str) or not _CARRIER.match(carrier.strip().lower()):
            raise _invalid(f"tracking_numbers[{i}].carrier must match [a-z0-9_-]{{1,32}}")
        target = subs.Target(carrier.strip().lower(), number)
        out.setdefault(target.key, target)
    return list(out.values())


def _customer(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise _invalid("customer must be a non-empty string of at most 200 characters")
    return str(storable(value.strip()))


async def _registrations(request: web.Request, principal: Principal, targets: list[subs.Target],
                         customer: str | None, now: datetime) -> list[ShipmentRegistration]:
    """What to register so that the numbers are tracked: those trackstream does not know, and for a
    key bound to customers those known without a customer; 409 for one registered elsewhere."""
    async with request.app[DB].connection() as conn:
        cursor = await conn.execute("SELECT shipment_key, customer FROM shipments WHERE shipment_key = ANY(%s)",
                                    ([t.key for t in targets],))
        known: dict[str, str | None] = {k: c for k, c in await cursor.fetchall()}
    elsewhere = sorted(k for k, c in known.items() if c is not None and not principal.sees(c))
    if elsewhere:
        raise ApiError(409, "shipment_registered_elsewhere", f"{elsewhere[0]} is registered for a customer "
                       "this key does not serve", shipment_keys=elsewhere)
    needed = [t for t in targets if t.key not in known or (principal.customers is not None and known[t.key] is None)]
    if not needed:
        return []
    template = bind_customer(principal, ShipmentRegistration(carrier="-", tracking_number="-", registered_at=now,
                                                             customer=customer))
    return [replace(template, carrier=t.carrier, tracking_number=t.tracking_number) for t in needed]


def _owner_filter(principal: Principal) -> str | None:
    """The owner a query must match: the caller's key, or None for an admin (every subscription)."""
    return None if principal.admin else principal.key_id


def _subscription_id(request: web.Request) -> str:
    sid = request.match_info["subscription_id"]
    if not _ID.match(sid):
        raise ApiError(404, "subscription_not_found", f"no subscription {sid!r}")
    return sid


async def _visible(request: web.Request, cur: Any, sid: str) -> dict[str, Any]:
    found = await subs.fetch(cur, sid, _owner_filter(principal_of(request)))
    if found is None:
        raise ApiError(404, "subscription_not_found", f"no subscription {sid!r}")
    return found


@requires("subscriptions:write")
async def create_subscription(request: web.Request) -> web.Response:
    principal = principal_of(request)
    data = _object(await read_body(request))
    unknown = sorted(set(data) - _CREATE_FIELDS)
    if unknown:
        raise _invalid(f"unknown field {unknown[0]!r}")
    url = await _url(request, data.get("url"))
    kinds = _kinds(data["kinds"]) if "kinds" in data else DEFAULT_KINDS
    customer = _customer(data["customer"]) if "customer" in data else None
    now = datetime.now(UTC)
    targets: list[subs.Target] = []
    registrations: list[ShipmentRegistration] = []
    if "tracking_numbers" in data:
        targets = _targets(data["tracking_numbers"])
        if customer is not None and not principal.sees(customer):
            raise ApiError(403, "customer_not_allowed", "this key may not register shipments for that customer")
        registrations = await _registrations(request, principal, targets, customer, now)
        per_customer = None
    elif customer is not None:
        if not principal.sees(customer):
            raise ApiError(403, "customer_not_allowed", "this key does not serve that customer")
        per_customer = customer
    else:
        raise _invalid("name tracking_numbers or a customer")
    sid, secret = subs.new_id(), new_secret()
    partitions = request.app[SETTINGS].partitions
    async with request.app[DB].connection() as conn, conn.transaction(), conn.cursor() as cur:
        await subs.insert(cur, subscription_id=sid, owner_key_id=principal.key_id, url=url, secret=secret,
                          kinds=kinds, customer=per_customer, targets=targets, now=now)
        await audit.record(conn, actor=principal.key_id, action="subscription.created", target_type=TARGET,
                           target_id=sid, details={"url": url, "kinds": list(kinds), "customer": per_customer,
                                                   "tracking_numbers": len(targets),
                                                   "registered": len(registrations)})
        for registration in registrations:  # acknowledged by the broker before the subscription commits
            key = registration.key
            await enqueue(request, names.SHIPMENTS_REGISTERED, registration.to_json(), _headers(request, "api"),
                          key=key.encode(), partition=partition_for(key, partitions))
        body = await subs.fetch(cur, sid, None)
    assert body is not None
    body["secret"] = secret
    return json_response(body, status=201, headers={"Location": f"/v1/subscriptions/{sid}"})


@requires("subscriptions:write")
async def list_subscriptions(request: web.Request) -> web.Response:
    try:
        limit = int(request.query.get("limit", "50"))
    except ValueError as exc:
        raise ApiError(400, "invalid_parameter", "limit must be an integer") from exc
    if not 1 <= limit <= MAX_LIST:
        raise ApiError(400, "invalid_parameter", f"limit must be between 1 and {MAX_LIST}")
    after = request.query.get("after") or None
    if after is not None and "\x00" in after:  # stored ids never hold NUL: an empty page
        return json_response({"items": [], "next_after": None})
    async with request.app[DB].connection() as conn, conn.cursor() as cur:
        items = await subs.list_owned(cur, _owner_filter(principal_of(request)), limit=limit + 1, after=after)
    more = len(items) > limit
    items = items[:limit]
    return json_response({"items": items, "next_after": items[-1]["id"] if more else None})


@requires("subscriptions:write")
async def get_subscription(request: web.Request) -> web.Response:
    sid = _subscription_id(request)
    async with request.app[DB].connection() as conn, conn.cursor() as cur:
        return json_response(await _visible(request, cur, sid))


@requires("subscriptions:write")
async def patch_subscription(request: web.Request) -> web.Response:
    """Pause or resume (``state``), change the ``url`` or the ``kinds``."""
    principal = principal_of(request)
    sid = _subscription_id(request)
    data = _object(await read_body(request))
    unknown = sorted(set(data) - _PATCH_FIELDS)
    if unknown or not data:
        raise _invalid(f"unknown field {unknown[0]!r}" if unknown else "nothing to change (url, kinds, state)")
    url = await _url(request, data["url"]) if "url" in data else None
    kinds = _kinds(data["kinds"]) if "kinds" in data else None
    state = data.get("state")
    if "state" in data and state not in ("active", "paused"):
        raise _invalid("state must be active or paused")
    now = datetime.now(UTC)
    async with request.app[DB].connection() as conn, conn.transaction(), conn.cursor() as cur:
        before = await _visible(request, cur, sid)
        if url is not None:
            await cur.execute("UPDATE outbound_destinations SET url = %s, updated_at = %s WHERE id = %s",
                              (url, now, sid))
        if kinds is not None:
            await cur.execute("UPDATE subscriptions SET kinds = %s WHERE id = %s", (list(kinds), sid))
            await cur.execute("UPDATE outbound_destinations SET updated_at = %s WHERE id = %s", (now, sid))
        if url is not None or kinds is not None:
            await audit.record(conn, actor=principal.key_id, action="subscription.changed", target_type=TARGET,
                               target_id=sid, details={k: data[k] for k in ("url", "kinds") if k in data})
        if state == "paused" and before["state"] != "paused":
            await store.pause(cur, sid, now, principal.key_id, f"paused by {principal.key_id}")
            await audit.record(conn, actor=principal.key_id, action="subscription.paused", target_type=TARGET,
                               target_id=sid)
        elif state == "active" and before["state"] != "active":
            await store.resume(cur, sid, now)
            await audit.record(conn, actor=principal.key_id, action="subscription.resumed", target_type=TARGET,
                               target_id=sid, details={"was": before["paused_reason"]})
        after = await _visible(request, cur, sid)
    return json_response(after)


@requires("subscriptions:write")
async def delete_subscription(request: web.Request) -> web.Response:
    principal = principal_of(request)
    sid = _subscription_id(request)
    async with request.app[DB].connection() as conn, conn.transaction(), conn.cursor() as cur:
        await _visible(request, cur, sid)
        await cur.execute("DELETE FROM outbound_destinations WHERE id = %s", (sid,))  # cascades to the queue
        await audit.record(conn, actor=principal.key_id, action="subscription.deleted", target_type=TARGET,
                           target_id=sid)
    return web.Response(status=204)


@requires("subscriptions:write")
async def rotate_secret(request: web.Request) -> web.Response:
    """A new signing secret; the previous one keeps signing too (both signatures on every
    delivery) for ``TRACKSTREAM_OUTBOUND_SECRET_GRACE_SECONDS``."""
    principal = principal_of(request)
    sid = _subscription_id(request)
    now = datetime.now(UTC)
    until = now + timedelta(seconds=request.app[SETTINGS].outbound.secret_grace_seconds)
    secret = new_secret()
    async with request.app[DB].connection() as conn, conn.transaction(), conn.cursor() as cur:
        await _visible(request, cur, sid)
        await cur.execute(
            "UPDATE outbound_destinations SET previous_secret = secret, previous_valid_until = %s, secret = %s, "
            "updated_at = %s WHERE id = %s", (until, secret, now, sid))
        await audit.record(conn, actor=principal.key_id, action="subscription.secret_rotated", target_type=TARGET,
                           target_id=sid, details={"previous_valid_until": until.isoformat()})
        body = await _visible(request, cur, sid)
    body["secret"] = secret
    return json_response(body)


@requires("subscriptions:write")
async def list_deliveries(request: web.Request) -> web.Response:
    """The delivery log, newest first: each message with its attempts (status codes, timings)."""
    sid = _subscription_id(request)
    before_text = request.query.get("before")
    if before_text is not None and not _MESSAGE_ID.match(before_text):
        raise ApiError(400, "invalid_parameter", "before must be a message id (msg_<n>)")
    before = int(before_text.removeprefix("msg_")) if before_text else None
    try:
        limit = int(request.query.get("limit", "50"))
    except ValueError as exc:
        raise ApiError(400, "invalid_parameter", "limit must be an integer") from exc
    if not 1 <= limit <= MAX_LIST:
        raise ApiError(400, "invalid_parameter", f"limit must be between 1 and {MAX_LIST}")
    async with request.app[DB].connection() as conn, conn.cursor() as cur:
        await _visible(request, cur, sid)
        items = await store.deliveries(cur, sid, limit=limit + 1, before=before)
    more = len(items) > limit
    items = items[:limit]
    return json_response({"items": items, "next_before": items[-1]["id"] if more else None})


@requires("subscriptions:write")
async def replay(request: web.Request) -> web.Response:
    """Send finished messages again, in order: ``{"since": <ISO 8601>}`` (messages emitted since
    then) or ``{"event_id": ...}`` (from that event's first message on)."""
    principal = principal_of(request)
    sid = _subscription_id(request)
    data = _object(await read_body(request))
    since_text, event_id = data.get("since"), data.get("event_id")
    if len(data) != 1 or set(data) - {"since", "event_id"}:
        raise ApiError(422, "invalid_replay", "give exactly one of since (ISO 8601 with offset) or event_id")
    since = None
    if "since" in data:
        try:
            since = parse_utc(since_text) if isinstance(since_text, str) else None
        except ValueError:
            since = None
        if since is None:
            raise ApiError(422, "invalid_replay", "since must be ISO 8601 with an offset")
    if "event_id" in data and (not isinstance(event_id, str) or not event_id):
        raise ApiError(422, "invalid_replay", "event_id must be a non-empty string")
    now = datetime.now(UTC)
    async with request.app[DB].connection() as conn, conn.transaction(), conn.cursor() as cur:
        await _visible(request, cur, sid)
        count = await store.replay(cur, sid, now, since=since,
                                   event_id=storable(event_id) if event_id is not None else None)
        count = count or 0  # no message of that event: nothing to send again
        await audit.record(conn, actor=principal.key_id, action="subscription.replayed", target_type=TARGET,
                           target_id=sid, details={"since": since_text, "event_id": event_id, "messages": count})
    return json_response({"status": "accepted", "replayed": count}, status=202)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/subscriptions", create_subscription)
    app.router.add_get("/v1/subscriptions", list_subscriptions)
    app.router.add_get("/v1/subscriptions/{subscription_id}", get_subscription)
    app.router.add_patch("/v1/subscriptions/{subscription_id}", patch_subscription)
    app.router.add_delete("/v1/subscriptions/{subscription_id}", delete_subscription)
    app.router.add_post("/v1/subscriptions/{subscription_id}/rotate-secret", rotate_secret)
    app.router.add_get("/v1/subscriptions/{subscription_id}/deliveries", list_deliveries)
    app.router.add_post("/v1/subscriptions/{subscription_id}/replay", replay)


