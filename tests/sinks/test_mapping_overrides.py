"""The ``code_mapping_overrides`` table on the real PostgreSQL, and the normalizer's refresh of it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from psycopg_pool import AsyncConnectionPool

from agents.mapping_overrides import MappingOverrides
from carriers.base import CodeMapping
from sinks import mapping_overrides
from sinks.postgres import PostgresSink
from tests.conftest import System
from tests.support import free_port

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)


async def test_put_list_load_delete(system: System) -> None:
    carrier = f"ovr{uuid.uuid4().hex[:8]}"
    pool: AsyncConnectionPool = AsyncConnectionPool(system.settings.database_url, min_size=1, max_size=2,
                                                    open=False, kwargs={"autocommit": True})
    await pool.open(wait=True)
    try:
        row, created = await mapping_overrides.put(pool, carrier, "A/1", CodeMapping("in_transit"), NOW)
        assert created and row == {"carrier": carrier, "code": "A/1", "status": "in_transit", "substatus": None,
                                   "created_at": NOW, "updated_at": NOW}
        later = NOW + timedelta(minutes=5)
        row, created = await mapping_overrides.put(pool, carrier, "A/1", CodeMapping("delivered", "delivered_mailbox"),
                                                   later)
        assert not created and (row["status"], row["substatus"]) == ("delivered", "delivered_mailbox")
        assert (row["created_at"], row["updated_at"]) == (NOW, later)
        await mapping_overrides.put(pool, carrier, "B", CodeMapping("exception", "lost"), NOW)
        assert [r["code"] for r in await mapping_overrides.list_for(pool, carrier)] == ["A/1", "B"]
        loaded = await mapping_overrides.load_all(pool)
        assert loaded[(carrier, "A/1")] == CodeMapping("delivered", "delivered_mailbox")
        assert loaded[(carrier, "B")] == CodeMapping("exception", "lost")
        assert await mapping_overrides.delete(pool, carrier, "B") is True
        assert await mapping_overrides.delete(pool, carrier, "B") is False
        assert [r["code"] for r in await mapping_overrides.list_for(pool, carrier)] == ["A/1"]
    finally:
        await pool.close()


async def test_refresh_replaces_the_table_and_keeps_it_when_the_database_fails(system: System) -> None:
    carrier = f"ovr{uuid.uuid4().hex[:8]}"
    sink = PostgresSink(system.settings.database_url, pool_size=1)
    overrides = MappingOverrides()
    try:
        with system.db() as conn:
            conn.execute("INSERT INTO code_mapping_overrides (carrier, code, status, substatus) "
                         "VALUES (%s, 'X', 'out_for_delivery', NULL), (%s, 'OLD', 'no_such_status', NULL)",
                         (carrier, carrier))
        assert await overrides.refresh(sink) is True  # the worker's own, transactional pool
        assert overrides.table[(carrier, "X")] == CodeMapping("out_for_delivery")
        assert (carrier, "OLD") not in overrides.table  # a row outside the taxonomy is skipped
        # the database is away (nothing listens there): the refresh gives up after its timeout and
        # the loaded table stays
        elsewhere = PostgresSink(f"postgresql://trackstream@127.0.0.1:{free_port()}/trackstream", pool_size=1)
        impatient = MappingOverrides(overrides.table, timeout=1.0)
        before = impatient.table
        try:
            assert await impatient.refresh(elsewhere) is False
        finally:
            await elsewhere.pool.close()  # opened, never ready: close the pool itself
        assert impatient.table is before
        with system.db() as conn:
            conn.execute("DELETE FROM code_mapping_overrides WHERE carrier = %s", (carrier,))
        assert await overrides.refresh(sink) is True
        assert (carrier, "X") not in overrides.table
    finally:
        await sink.close()
