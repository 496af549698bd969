"""``/v1/keys`` (create, list, read, revoke API keys) and ``/v1/audit``: for admins only."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web
from psycopg.rows import dict_row

import carriers
from api.access import principal_of, requires
from api.context import DB, SETTINGS
from api.errors import ApiError, json_response
from api.ingress import read_body
from api.query import NUL, _instant, _jsonable
from sinks import keys as key_store
from trackstream.settings import Settings

_CREATE_FIELDS = frozenset({"name", "scopes", "customers", "carriers", "personal_data", "rate_limit",
                            "expires_days", "allow_authenticated_carriers"})
MAX_AUDIT = 500


def authenticated_carriers(settings: Settings) -> frozenset[str]:
    """Carriers whose data arrives through their own authenticated webhook or poller: the built-in
    adapters and the configured carriers with a ``webhook`` section."""
    configured = {name for name, d in settings.carrier_definitions.items() if d.webhook is not None}
    return frozenset((carriers.KNOWN_CARRIERS - {"native"}) | configured)


def _strings(data: dict[str, Any], name: str) -> tuple[str, ...] | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError(422, "invalid_key_request", f"{name} must be a list of strings")
    return tuple(value)


def parse_grant(body: bytes, settings: Settings, default_rate: float) -> key_store.Grant:
    try:
        data: Any = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "malformed_body", f"not well-formed JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ApiError(422, "invalid_key_request", "expected a JSON object")
    unknown = sorted(set(data) - _CREATE_FIELDS)
    if unknown:
        raise ApiError(422, "invalid_key_request", f"unknown field {unknown[0]!r}")
    name = data.get("name")
    if not isinstance(name, str):
        raise ApiError(422, "invalid_key_request", "name must be a string")
    scopes = _strings(data, "scopes")
    personal, allow = data.get("personal_data", False), data.get("allow_authenticated_carriers", False)
    if not isinstance(personal, bool) or not isinstance(allow, bool):
        raise ApiError(422, "invalid_key_request", "personal_data and allow_authenticated_carriers are booleans")
    rate = data.get("rate_limit", default_rate)
    if isinstance(rate, bool) or not isinstance(rate, int | float):
        raise ApiError(422, "invalid_key_request", "rate_limit must be a number")
    days = data.get("expires_days")
    if isinstance(days, float) and days.is_integer():  # 30.0 is the integer 30 in JSON
        days = int(days)
    if days is not None and (isinstance(days, bool) or not isinstance(days, int)):
        raise ApiError(422, "invalid_key_request", "expires_days must be an integer")
    grant = key_store.Grant(name=name, scopes=scopes or (), customers=_strings(data, "customers"),
                            carriers=_strings(data, "carriers") or (), personal_data=personal,
                            rate_limit=float(rate), expires_days=days)
    try:
        return key_store.validate_grant(grant, authenticated_carriers(settings), allow)
    except key_store.GrantError as exc:
        raise ApiError(422, "invalid_key_request", str(exc)) from exc


_KEY_ID = re.compile(re.escape(key_store.PREFIX) + "[0-9a-f]{12}")


def _key_id(request: web.Request) -> str:
    key_id = request.match_info["key_id"]
    if not _KEY_ID.fullmatch(key_id):
        raise ApiError(404, "key_not_found", f"no key {key_id!r}")
    return key_id


@requires("admin")
async def list_keys(request: web.Request) -> web.Response:
    async with request.app[DB].connection() as conn:
        rows = await key_store.list_all(conn)
    return json_response({"items": [_jsonable(r) for r in rows]})


@requires("admin")
async def create_key(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    grant = parse_grant(await read_body(request), settings, settings.key_rate_limit)
    async with request.app[DB].connection() as conn:
        row, key = await key_store.create(conn, grant, principal_of(request).key_id, datetime.now(UTC))
    body = _jsonable(row)
    body["key"] = key
    return json_response(body, status=201, headers={"Location": f"/v1/keys/{row['id']}"})


@requires("admin")
async def get_key(request: web.Request) -> web.Response:
    key_id = _key_id(request)
    async with request.app[DB].connection() as conn:
        row = await key_store.get(conn, key_id)
    if row is None:
        raise ApiError(404, "key_not_found", f"no key {key_id!r}")
    if row["revoked_at"] is not None:  # DELETE removed it: not found as a key, its record in the answer
        raise ApiError(404, "key_revoked", f"key {key_id} was revoked", key=_jsonable(row))
    return json_response(_jsonable(row))


@requires("admin")
async def revoke_key(request: web.Request) -> web.Response:
    key_id = _key_id(request)
    async with request.app[DB].connection() as conn:
        if not await key_store.revoke(conn, key_id, principal_of(request).key_id, datetime.now(UTC)):
            raise ApiError(404, "key_not_found", f"no active key {key_id!r}")
    return web.Response(status=204)


@requires("admin")
async def list_audit(request: web.Request) -> web.Response:
    """The audit log, newest first: ``?target_type=&target_id=&actor=&since=&limit=``."""
    params = request.query
    where: list[str] = []
    args: list[Any] = []
    for name in ("target_type", "target_id", "actor", "action"):
        value = params.get(name)
        if value:
            where.append(f"{name} = %s")
            args.append(value)
    matches_nothing = any(NUL in arg for arg in args)  # stored text never holds NUL
    since = _instant(params, "since")
    if since is not None:
        where.append("at >= %s")
        args.append(since)
    try:
        limit = int(params.get("limit", "100"))
    except ValueError as exc:
        raise ApiError(400, "invalid_parameter", "limit must be an integer") from exc
    if not 1 <= limit <= MAX_AUDIT:
        raise ApiError(400, "invalid_parameter", f"limit must be between 1 and {MAX_AUDIT}")
    if matches_nothing:
        return json_response({"items": []})
    sql = "SELECT id, at, actor, action, target_type, target_id, details FROM audit_log"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY at DESC, id DESC LIMIT %s"
    args.append(limit)
    async with request.app[DB].connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql, args)
        rows = await cur.fetchall()
    return json_response({"items": [_jsonable(r) for r in rows]})
