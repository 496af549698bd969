"""``/v1/alerts``: list and read alerts, acknowledge and resolve them, one by one or in bulk.

A key bound to customers sees and touches only its customers' alerts (another customer's answers
404 like one that does not exist; bulk actions skip it). Acknowledging moves ``open`` to
``acknowledged``; resolving moves ``open`` or ``acknowledged`` to ``resolved`` (by the key), and the
stream reopens the alert only when its condition ends and holds again later.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiohttp import web
from psycopg.rows import dict_row

from api.access import Principal, principal_of, requires
from api.context import DB
from api.errors import ApiError, json_response
from api.ingress import read_body
from api.query import NUL, _instant, _jsonable
from trackstream.alerts.rules import ALERT_TYPES, SEVERITIES

STATES = ("open", "acknowledged", "resolved")
MAX_LIMIT = 500
MAX_BULK = 10_000
FIELDS = ("id, type, state, severity, shipment_key, feed, carrier, tracking_number, customer, reason, opened_at, "
          "acknowledged_at, acknowledged_by, resolved_at, resolved_by, resolution, occurrences, updated_at")
_FILTERS = ("type", "state", "severity", "carrier", "customer", "shipment_key")


def _filter(params: Any, principal: Principal) -> tuple[list[str], list[Any]]:
    """SQL conditions for the list filters (query parameters or a bulk body's ``filter``)."""
    where: list[str] = []
    args: list[Any] = []
    own = principal.customer_filter()
    if own is not None:
        where.append("customer = ANY(%s)")
        args.append(own)
    for name in _FILTERS:
        value = params.get(name)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise ApiError(400, "invalid_parameter", f"{name} must be text")
        values = [v for v in value.split(",") if v] if name in ("type", "state", "severity") else [value]
        if name == "type" and any(v not in ALERT_TYPES for v in values):
            raise ApiError(400, "invalid_parameter", f"type must be among {', '.join(ALERT_TYPES)}")
        if name == "state" and any(v not in STATES for v in values):
            raise ApiError(400, "invalid_parameter", f"state must be among {', '.join(STATES)}")
        if name == "severity" and any(v not in SEVERITIES for v in values):
            raise ApiError(400, "invalid_parameter", f"severity must be among {', '.join(SEVERITIES)}")
        where.append(f"{name} = ANY(%s)")
        args.append([v.lower() for v in values] if name == "carrier" else values)
    since_text = params.get("since")
    since_text = "" if since_text is None else since_text
    if not isinstance(since_text, str):
        raise ApiError(400, "invalid_parameter", "since must be text")
    since = _instant({"since": since_text}, "since")
    if since is not None:
        where.append("opened_at >= %s")
        args.append(since)
    if any(NUL in v for arg in args for v in (arg if isinstance(arg, list) else [arg]) if isinstance(v, str)):
        return ["false"], []  # stored text never holds NUL: nothing matches
    return where, args


#: ``<opened_at in µs since 1970 UTC>.<alert id>``: any text of this shape is a position in the order.
CURSOR = re.compile(r"([0-9]{1,17})\.([^\x00]+)")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _cursor(opened_at: datetime, alert: str) -> str:
    return f"{(opened_at - _EPOCH) // timedelta(microseconds=1)}.{alert}"


def _uncursor(text: str) -> tuple[datetime, str]:
    match = CURSOR.fullmatch(text)
    if match is None:
        raise ApiError(400, "invalid_cursor", "cursor is not one this API issued")
    return _EPOCH + timedelta(microseconds=int(match[1])), match[2]


@requires("alerts:read")
async def list_alerts(request: web.Request) -> web.Response:
    """Newest first (``opened_at``, then id), cursor-paginated."""
    params = request.query
    where, args = _filter(params, principal_of(request))
    try:
        limit = int(params.get("limit", "50"))
    except ValueError as exc:
        raise ApiError(400, "invalid_parameter", "limit must be an integer") from exc
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError(400, "invalid_parameter", f"limit must be between 1 and {MAX_LIMIT}")
    if params.get("cursor"):
        opened_at, alert = _uncursor(params["cursor"])
        alert = alert.replace(NUL, "")
        where.append("(opened_at, id) < (%s, %s)")
        args += [opened_at, alert]
    sql = f"SELECT {FIELDS} FROM alerts" + (" WHERE " + " AND ".join(where) if where else "")
    sql += " ORDER BY opened_at DESC, id DESC LIMIT %s"
    args.append(limit + 1)
    async with request.app[DB].connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql, args)
        rows = await cur.fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = _cursor(rows[-1]["opened_at"], rows[-1]["id"]) if more and rows else None
    return json_response({"items": [_jsonable(r) for r in rows], "next_cursor": cursor})


async def _one(request: web.Request, alert: str, principal: Principal) -> dict[str, Any]:
    if NUL in alert:
        raise ApiError(404, "alert_not_found", "no such alert")
    async with request.app[DB].connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {FIELDS} FROM alerts WHERE id = %s", (alert,))
        row = await cur.fetchone()
    if row is None or not principal.sees(row["customer"]):
        raise ApiError(404, "alert_not_found", f"no alert {alert!r}")
    return row


@requires("alerts:read")
async def get_alert(request: web.Request) -> web.Response:
    return json_response(_jsonable(await _one(request, request.match_info["alert_id"], principal_of(request))))


_ACK = ("UPDATE alerts SET state = 'acknowledged', acknowledged_at = %s, acknowledged_by = %s, updated_at = now() "
        "WHERE state = 'open'")
_RESOLVE = ("UPDATE alerts SET state = 'resolved', resolved_at = %s, resolved_by = %s, resolution = %s, "
            "updated_at = now() WHERE state <> 'resolved'")


async def _act(request: web.Request, action: str, where: list[str], args: list[Any], note: str | None) -> int:
    principal = principal_of(request)
    now = datetime.now(UTC)
    base, base_args = ((_ACK, [now, principal.key_id]) if action == "ack" else
                       (_RESOLVE, [now, principal.key_id, note or f"resolved by {principal.key_id}"]))
    sql = base + "".join(f" AND {w}" for w in where)
    async with request.app[DB].connection() as conn:
        cursor = await conn.execute(sql, [*base_args, *args])
        return int(cursor.rowcount)


def _note(body: bytes) -> str | None:
    if not body.strip():
        return None
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "malformed_body", f"not well-formed JSON: {exc}") from exc
    if not isinstance(data, dict) or set(data) - {"note"}:
        raise ApiError(422, "invalid_alert_action", 'expected {"note": "..."} or no body')
    note = data.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > 1000):
        raise ApiError(422, "invalid_alert_action", "note must be text of at most 1000 characters")
    return note.replace(NUL, "\ufffd") if note else note


async def _single(request: web.Request, action: str) -> web.Response:
    principal = principal_of(request)
    alert = request.match_info["alert_id"]
    await _one(request, alert, principal)
    note = _note(await read_body(request))
    await _act(request, action, ["id = %s"], [alert], note)
    return json_response(_jsonable(await _one(request, alert, principal)))


@requires("alerts:write")
async def ack_alert(request: web.Request) -> web.Response:
    return await _single(request, "ack")


@requires("alerts:write")
async def resolve_alert(request: web.Request) -> web.Response:
    return await _single(request, "resolve")


async def _bulk(request: web.Request, action: str) -> web.Response:
    """Body ``{"ids": [...]}`` or ``{"filter": {type, state, severity, carrier, customer,
    shipment_key, since}}``, and an optional ``note``; answers how many alerts changed."""
    try:
        data: Any = orjson.loads(await read_body(request))
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "malformed_body", f"not well-formed JSON: {exc}") from exc
    if not isinstance(data, dict) or set(data) - {"ids", "filter", "note"} or ("ids" in data) == ("filter" in data):
        raise ApiError(422, "invalid_alert_action",
                       'expected {"ids": [...]} or {"filter": {...}}, and an optional note')
    principal = principal_of(request)
    note = data.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > 1000):
        raise ApiError(422, "invalid_alert_action", "note must be text of at most 1000 characters")
    note = note.replace(NUL, "\ufffd") if note else note
    if "ids" in data:
        ids = data["ids"]
        if not isinstance(ids, list) or not ids or len(ids) > MAX_BULK or not all(isinstance(i, str) for i in ids):
            raise ApiError(422, "invalid_alert_action", f"ids must be a list of 1 to {MAX_BULK} alert ids")
        where, args = _filter({}, principal)
        where.append("id = ANY(%s)")
        args.append([i for i in ids if NUL not in i])
    else:
        criteria = data["filter"]
        if not isinstance(criteria, dict) or set(criteria) - {*_FILTERS, "since"}:
            raise ApiError(422, "invalid_alert_action", f"filter fields: {', '.join((*_FILTERS, 'since'))}")
        where, args = _filter(criteria, principal)
    changed = await _act(request, action, where, args, note)
    return json_response({"changed": changed})


@requires("alerts:write")
async def bulk_ack(request: web.Request) -> web.Response:
    return await _bulk(request, "ack")


@requires("alerts:write")
async def bulk_resolve(request: web.Request) -> web.Response:
    return await _bulk(request, "resolve")


async def open_alerts_of(conn: Any, shipment_key: str) -> list[dict[str, Any]]:
    """A shipment's alerts that are not resolved, for the shipment view."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {FIELDS} FROM alerts WHERE shipment_key = %s AND state <> 'resolved' "
                          "ORDER BY opened_at", (shipment_key,))
        return [_jsonable(r) for r in await cur.fetchall()]
