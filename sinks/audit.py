"""The audit log: who (an API key id, ``cli:<user>`` or ``system``) created, changed or revoked
keys, mappings and subscriptions. Written in the caller's transaction, so a change and its record
land together or not at all."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb


async def record(conn: AsyncConnection[Any], *, actor: str, action: str, target_type: str, target_id: str,
                 details: dict[str, Any] | None = None) -> None:
    await conn.execute(
        "INSERT INTO audit_log (actor, action, target_type, target_id, details) VALUES (%s, %s, %s, %s, %s)",
        (actor, action, target_type, target_id, Jsonb(details or {})),
    )
