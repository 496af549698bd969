"""The ``code_mapping_overrides`` table: operators' code → status rows that win over a carrier's
own code table (written by the API, read by the normalizer). Works on the API's autocommit pool
and on the worker's transactional one alike."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from carriers.base import CodeMapping
from sinks import audit

#: (carrier, code) → mapping: what the normalizer applies.
Overrides = dict[tuple[str, str], CodeMapping]

_COLUMNS = "carrier, code, status, substatus, created_at, updated_at"


async def load_all(pool: AsyncConnectionPool[Any]) -> Overrides:
    """Every override. Rows that no longer fit the taxonomy (it shrank) are skipped."""
    async with pool.connection() as conn:
        async with conn.transaction():
            cursor = await conn.execute("SELECT carrier, code, status, substatus FROM code_mapping_overrides")
            rows = await cursor.fetchall()
    table: Overrides = {}
    for carrier, code, status, substatus in rows:
        try:
            table[(carrier, code)] = CodeMapping(status, substatus)
        except ValueError:
            continue
    return table


async def list_for(pool: AsyncConnectionPool[Any], carrier: str) -> list[dict[str, Any]]:
    async with pool.connection() as conn:
        async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(f"SELECT {_COLUMNS} FROM code_mapping_overrides WHERE carrier = %s ORDER BY code",
                              (carrier,))
            rows: list[dict[str, Any]] = await cur.fetchall()
    return rows


async def put(pool: AsyncConnectionPool[Any], carrier: str, code: str, mapping: CodeMapping,
              now: datetime, actor: str = "system") -> tuple[dict[str, Any], bool]:
    """Insert or replace one override → (the row, whether it is new); audited as ``actor``."""
    async with pool.connection() as conn:
        async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "INSERT INTO code_mapping_overrides (carrier, code, status, substatus, created_at, updated_at) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (carrier, code) DO UPDATE SET "
                "status = EXCLUDED.status, substatus = EXCLUDED.substatus, updated_at = EXCLUDED.updated_at "
                f"RETURNING {_COLUMNS}, (xmax = 0) AS created",
                (carrier, code, mapping.status, mapping.substatus, now, now),
            )
            row = await cur.fetchone()
            assert row is not None  # INSERT ... RETURNING always returns the row
            created = bool(row.pop("created"))
            await audit.record(conn, actor=actor, action="mapping.created" if created else "mapping.changed",
                               target_type="mapping", target_id=f"{carrier}:{code}",
                               details={"status": mapping.status, "substatus": mapping.substatus})
    return row, created


async def delete(pool: AsyncConnectionPool[Any], carrier: str, code: str, actor: str = "system") -> bool:
    async with pool.connection() as conn:
        async with conn.transaction():
            cursor = await conn.execute("DELETE FROM code_mapping_overrides WHERE carrier = %s AND code = %s",
                                        (carrier, code))
            removed: int = cursor.rowcount
            if removed:
                await audit.record(conn, actor=actor, action="mapping.deleted", target_type="mapping",
                                   target_id=f"{carrier}:{code}")
    return removed > 0
