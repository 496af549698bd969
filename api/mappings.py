"""Operators' code mappings: ``/v1/carriers/{carrier}/mappings[/{code}]``.

A mapping added here wins over the carrier's own code table for new events of that carrier whose
code is exactly ``code`` (the normalizer reloads the table every
``TRACKSTREAM_MAPPING_REFRESH_SECONDS``; nothing restarts). Events stored before keep what they had.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

import carriers
from api.access import carrier_wide, requires
from api.context import DB, SETTINGS
from api.errors import ApiError, json_response
from api.ingress import read_body
from api.query import _jsonable
from carriers.base import CodeMapping
from schemas.taxonomy import ALL_STATUSES, ALL_SUBSTATUSES, Substatus
from sinks import mapping_overrides

MAX_CODE = 200
_BODY_KEYS = frozenset({"status", "substatus"})


def _carrier(request: web.Request) -> str:
    """The path's carrier when it has an adapter or a definition file (404 otherwise)."""
    carrier = request.match_info["carrier"].strip().lower()
    known = (carriers.KNOWN_CARRIERS - {"native"}) | set(request.app[SETTINGS].configured_carriers)
    if carrier not in known:
        raise ApiError(404, "unknown_carrier", f"no carrier {carrier!r} (known: {', '.join(sorted(known))})")
    return carrier


def _code(request: web.Request) -> str:
    code = request.match_info["code"]
    if not code or len(code) > MAX_CODE or code != code.strip() or "\x00" in code:
        raise ApiError(422, "invalid_mapping",
                       f"code must be 1 to {MAX_CODE} characters without surrounding spaces or NUL")
    return code


def parse_mapping(body: bytes) -> CodeMapping:
    """``{"status": ..., "substatus": ...}`` → ``CodeMapping``; ApiError 400/422 naming the problem."""
    try:
        data: Any = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "malformed_body", f"not well-formed JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ApiError(422, "invalid_mapping", 'expected a JSON object {"status": ..., "substatus": ...}')
    unknown = sorted(set(data) - _BODY_KEYS)
    if unknown:
        raise ApiError(422, "invalid_mapping", f"unknown field {unknown[0]!r} (allowed: status, substatus)")
    status, substatus = data.get("status"), data.get("substatus")
    if not isinstance(status, str) or status not in ALL_STATUSES:
        raise ApiError(422, "invalid_mapping",
                       f"status must be one of {', '.join(sorted(ALL_STATUSES))}; got {status!r}")
    if substatus is not None and (not isinstance(substatus, str) or substatus not in ALL_SUBSTATUSES):
        raise ApiError(422, "invalid_mapping", f"substatus {substatus!r} is not in the substatus vocabulary")
    if substatus == Substatus.UNMAPPED_CODE:
        raise ApiError(422, "invalid_mapping", "unmapped_code marks codes without a mapping; it cannot be one")
    return CodeMapping(status, substatus)


@requires("mappings:read", "mappings:write")
async def list_mappings(request: web.Request) -> web.Response:
    carrier_wide(request)
    carrier = _carrier(request)
    rows = await mapping_overrides.list_for(request.app[DB], carrier)
    return json_response({"carrier": carrier, "items": [_jsonable(r) for r in rows]})


@requires("mappings:write")
async def put_mapping(request: web.Request) -> web.Response:
    actor = carrier_wide(request).key_id
    carrier = _carrier(request)
    code = _code(request)
    mapping = parse_mapping(await read_body(request))
    row, created = await mapping_overrides.put(request.app[DB], carrier, code, mapping, datetime.now(UTC), actor)
    return json_response(_jsonable(row), status=201 if created else 200)


@requires("mappings:write")
async def delete_mapping(request: web.Request) -> web.Response:
    actor = carrier_wide(request).key_id
    carrier = _carrier(request)
    code = _code(request)
    if not await mapping_overrides.delete(request.app[DB], carrier, code, actor):
        raise ApiError(404, "mapping_not_found", f"no mapping override for {carrier} code {code!r}")
    return web.Response(status=204)
