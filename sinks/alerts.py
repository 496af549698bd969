"""The ``alerts`` table: the stream's alert changes applied in the PostgreSQL writer's transaction.

An ``open`` change inserts the alert, or reopens a resolved one (a later occurrence: counted); it
never touches an alert that is open or acknowledged. A ``resolved`` change resolves an alert that is
not resolved yet, with the reason, as ``system``. Changes older than the newest one applied
(``stream_at``) are ignored, so replays and duplicates change nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncCursor

from schemas.events import parse_utc

_OPEN = """
INSERT INTO alerts AS a (id, type, state, severity, shipment_key, feed, carrier, tracking_number, customer, reason,
                         opened_at, stream_at, updated_at)
VALUES (%s, %s, 'open', %s, %s, %s, %s, %s, %s, %s, %s, %s, now())
ON CONFLICT (id) DO UPDATE SET
    state = 'open', severity = EXCLUDED.severity, reason = EXCLUDED.reason, customer = EXCLUDED.customer,
    opened_at = EXCLUDED.opened_at, acknowledged_at = NULL, acknowledged_by = NULL, resolved_at = NULL,
    resolved_by = NULL, resolution = NULL, occurrences = a.occurrences + 1, stream_at = EXCLUDED.stream_at,
    updated_at = now()
WHERE a.state = 'resolved' AND a.stream_at < EXCLUDED.stream_at
"""

_RESOLVE = """
INSERT INTO alerts AS a (id, type, state, severity, shipment_key, feed, carrier, tracking_number, customer, reason,
                         opened_at, resolved_at, resolved_by, resolution, stream_at, updated_at)
VALUES (%s, %s, 'resolved', %s, %s, %s, %s, %s, %s, %s, %s, %s, 'system', %s, %s, now())
ON CONFLICT (id) DO UPDATE SET
    state = 'resolved', resolved_at = EXCLUDED.resolved_at, resolved_by = 'system', resolution = EXCLUDED.resolution,
    stream_at = EXCLUDED.stream_at, updated_at = now()
WHERE a.state <> 'resolved' AND a.stream_at < EXCLUDED.stream_at
"""


async def apply_changes(cur: AsyncCursor[Any], changes: Sequence[dict[str, Any]]) -> None:
    """Apply alert changes (``AlertChange.to_dict``) in order, in the caller's transaction: runs of
    the same kind go in one ``executemany`` (pipelined), so a backfill that opens thousands costs a
    few round trips, not thousands."""
    from sinks.postgres import storable  # (sinks.postgres imports this module)

    run: list[tuple[Any, ...]] = []
    kind = ""
    for c in map(storable, changes):  # a carrier's NUL in a reason must not block the writer
        at = parse_utc(c["at"])
        common = (c["id"], c["type"], c["severity"], c.get("shipment_key"), c.get("feed"), c["carrier"],
                  c.get("tracking_number"), c.get("customer"))
        this = "open" if c["state"] == "open" else "resolved"
        if this == "open":
            row: tuple[Any, ...] = (*common, c["reason"], parse_utc(c["opened_at"]), at)
        else:
            resolved = parse_utc(c["resolved_at"]) if c.get("resolved_at") else at
            row = (*common, c["reason"], parse_utc(c["opened_at"]), resolved, c["reason"], at)
        if run and this != kind:
            await cur.executemany(_OPEN if kind == "open" else _RESOLVE, run)
            run = []
        kind = this
        run.append(row)
    if run:
        await cur.executemany(_OPEN if kind == "open" else _RESOLVE, run)
