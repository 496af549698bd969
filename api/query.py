"""Query API: one shipment with its timeline, and shipment search with cursor pagination."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiohttp import web
from psycopg.rows import dict_row

from api.access import carrier_wide, principal_of, requires
from api.context import DB
from api.errors import ApiError, json_response
from schemas.events import format_utc, parse_utc, shipment_key
from schemas.taxonomy import ALL_STATUSES, PENDING

_SHIPMENT_FIELDS = (
    "shipment_key, carrier, tracking_number, status, substatus, status_code, status_description, "
    "last_event_at, first_event_at, delivered_at, last_location, event_count, order_number, customer, "
    "destination_postcode, destination_country, service_level, despatched_at, promised_delivery_date, "
    "registered_at, version, updated_at"
)
MAX_LIMIT = 500


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in row.items():
        if isinstance(v, datetime):
            out[k] = format_utc(v)
        elif isinstance(v, date):
            out[k] = v.isoformat()
        else:
            out[k] = v
    return out


def shipment_json(row: dict[str, Any]) -> dict[str, Any]:
    out = _jsonable(row)
    out["code"] = out.pop("status_code", None)
    out["description"] = out.pop("status_description", None)
    out["location"] = out.pop("last_location", None)
    return out


#: PostgreSQL text cannot hold NUL (the sink stores it as U+FFFD): a value with one matches nothing.
NUL = "\x00"


@requires("shipments:read")
async def get_shipment(request: web.Request) -> web.Response:
    key = shipment_key(request.match_info["carrier"], request.match_info["tracking_number"])
    principal = principal_of(request)
    if NUL in key:
        raise ApiError(404, "shipment_not_found", "no such shipment")
    async with request.app[DB].connection() as conn:
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(f"SELECT {_SHIPMENT_FIELDS} FROM shipments WHERE shipment_key = %s", (key,))
            row = await cur.fetchone()
            if row is None or not principal.sees(row["customer"]):  # another customer's: as if absent
                raise ApiError(404, "shipment_not_found", f"no shipment {key}")
            await cur.execute(
                "SELECT event_id, occurred_at, status, substatus, code, description, location, "
                "local_time, tz_source, mapped, source, received_at FROM tracking_events "
                "WHERE shipment_key = %s ORDER BY occurred_at, event_id",
                (key,),
            )
            events = [_jsonable(e) for e in await cur.fetchall()]
        from api.alerts import open_alerts_of

        open_alerts = await open_alerts_of(conn, key)
    body = shipment_json(row)
    body["events"] = events
    body["alerts"] = open_alerts
    return json_response(body)


#: A cursor is the position after the last item of a page: ``<updated_at in microseconds since
#: 1970-01-01 UTC>.<shipment_key>``. Every text of this form is a position (so any cursor the
#: document allows is answered with a page; 17 digits stay below the year 9999).
CURSOR_PATTERN = re.compile(r"([0-9]{1,17})\.([^\x00]+)")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _encode_cursor(updated_at: datetime, key: str) -> str:
    return f"{(updated_at - _EPOCH) // timedelta(microseconds=1)}.{key}"


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    match = CURSOR_PATTERN.fullmatch(cursor)
    if match is None:
        raise ApiError(400, "invalid_cursor", "cursor is not one this API issued")
    return _EPOCH + timedelta(microseconds=int(match[1])), match[2]


def _instant(params: Any, name: str) -> datetime | None:
    value = params.get(name)
    if not value:
        return None
    try:
        if len(value) == 10:
            return parse_utc(value + "T00:00:00+00:00")
        return parse_utc(value)
    except ValueError as exc:
        raise ApiError(400, "invalid_parameter", f"{name} must be YYYY-MM-DD or ISO 8601 with offset") from exc


@requires("shipments:read")
async def search_shipments(request: web.Request) -> web.Response:
    params = request.query
    where: list[str] = []
    args: list[Any] = []
    own = principal_of(request).customer_filter()
    if own is not None:
        where.append("customer = ANY(%s)")
        args.append(own)
    for name in ("carrier", "customer", "destination_country", "destination_postcode", "order_number"):
        value = params.get(name)
        if value:
            where.append(f"{name} = %s")
            args.append(value.upper() if name == "destination_country" else
                        value.lower() if name == "carrier" else value)
    statuses = [s for s in params.get("status", "").split(",") if s]
    for status in statuses:
        if status not in ALL_STATUSES and status != PENDING:
            raise ApiError(400, "invalid_parameter", f"unknown status {status!r}")
    if statuses:
        where.append("status = ANY(%s)")
        args.append(statuses)
    for name, column, op in (("despatched_from", "despatched_at", ">="), ("despatched_to", "despatched_at", "<"),
                             ("updated_since", "updated_at", ">=")):
        instant = _instant(params, name)
        if instant is not None:
            where.append(f"{column} {op} %s")
            args.append(instant)
    try:
        limit = int(params.get("limit", "50"))
    except ValueError as exc:
        raise ApiError(400, "invalid_parameter", "limit must be an integer") from exc
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError(400, "invalid_parameter", f"limit must be between 1 and {MAX_LIMIT}")
    cursor = params.get("cursor")
    if cursor:
        updated_at, key = _decode_cursor(cursor)
        where.append("(updated_at, shipment_key) < (%s, %s)")
        args += [updated_at, key]
    sql = f"SELECT {_SHIPMENT_FIELDS} FROM shipments"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY updated_at DESC, shipment_key DESC LIMIT %s"
    args.append(limit + 1)
    if any(isinstance(arg, str) and NUL in arg for arg in args):
        return json_response({"items": [], "next_cursor": None})
    async with request.app[DB].connection() as conn:
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(sql, args)
            rows = await cur.fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = _encode_cursor(rows[-1]["updated_at"], rows[-1]["shipment_key"]) if more and rows else None
    return json_response({"items": [shipment_json(r) for r in rows], "next_cursor": next_cursor})


@requires("mappings:read", "mappings:write")
async def unmapped_codes(request: web.Request) -> web.Response:
    """Carrier codes no mapping row knows yet: how often, since when, and an example event.

    Includes codes a coarser fallback still mapped (``resolved_by_fallback`` of their events): the
    code itself is unknown and the table should learn it. A code with an operator's mapping
    override (``api.mappings``) is no longer listed: it is mapped from then on."""
    carrier_wide(request)
    carrier = request.match_info["carrier"].lower()
    if NUL in carrier:
        return json_response({"carrier": carrier, "items": []})
    async with request.app[DB].connection() as conn:
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "SELECT code, count(*) AS events, count(DISTINCT shipment_key) AS shipments, "
                "count(*) FILTER (WHERE mapped) AS resolved_by_fallback, "
                "min(received_at) AS first_seen, max(received_at) AS last_seen, "
                "(array_agg(description ORDER BY received_at DESC))[1] AS description, "
                "(array_agg(shipment_key ORDER BY received_at DESC))[1] AS example_shipment, "
                "(array_agg(event_id ORDER BY received_at DESC))[1] AS example_event_id "
                "FROM tracking_events t WHERE carrier = %s "
                "AND (NOT mapped OR attributes ->> 'mapping_layer' = 'status_code') "
                "AND NOT EXISTS (SELECT 1 FROM code_mapping_overrides o "
                "WHERE o.carrier = t.carrier AND o.code = t.code) "
                "GROUP BY code ORDER BY events DESC, code",
                (carrier,),
            )
            rows = await cur.fetchall()
    return json_response({"carrier": carrier, "items": [_jsonable(r) for r in rows]})
