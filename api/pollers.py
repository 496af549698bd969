"""``GET /v1/pollers``: which process polls each carrier account, and how its shipments fare."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from psycopg.rows import dict_row

from api.access import requires
from api.context import DB
from api.errors import json_response
from api.query import _jsonable

LIVE_SECONDS = 30  # a lease not renewed for this long belongs to a dead process

_SQL = """
SELECT l.account, l.carrier, l.holder, l.acquired_at, l.renewed_at,
       l.renewed_at > now() - make_interval(secs => %s) AS live,
       coalesce(s.shipments, 0) AS shipments, coalesce(s.active, 0) AS active, s.next_due,
       s.last_polled_at, coalesce(s.by_result, '{}'::jsonb) AS last_results, e.last_error
FROM poller_leases l
LEFT JOIN LATERAL (
    SELECT count(*) AS shipments, count(next_poll_at) AS active, min(next_poll_at) AS next_due,
           max(last_polled_at) AS last_polled_at,
           (SELECT jsonb_object_agg(r, n) FROM (SELECT last_result AS r, count(*) AS n FROM poll_state
                                               WHERE account = l.account GROUP BY last_result) x) AS by_result
    FROM poll_state WHERE account = l.account
) s ON true
LEFT JOIN LATERAL (
    SELECT last_error FROM poll_state WHERE account = l.account AND last_result = 'error'
    ORDER BY last_polled_at DESC LIMIT 1
) e ON true
ORDER BY l.carrier, l.account
"""


@requires("admin")
async def list_pollers(request: web.Request) -> web.Response:
    async with request.app[DB].connection() as conn:
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(_SQL, (LIVE_SECONDS,))
            rows: list[dict[str, Any]] = await cur.fetchall()
    return json_response({"items": [_jsonable(r) for r in rows]})
