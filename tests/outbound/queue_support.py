"""Helpers of the queue tests: keys and subscriptions written with the store functions, batches
written through the real PostgreSQL writer (``PostgresSink``), a dispatcher run in the test."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from agents.shipment_state import apply_events
from schemas.events import TZ_GIVEN, TrackingEvent
from sinks.outbound import subscriptions
from sinks.outbound.dispatcher import Dispatcher
from sinks.outbound.signing import new_secret
from sinks.postgres import PostgresSink
from tables.shipment_states import ShipmentState
from trackstream.settings import OutboundSettings

T0 = datetime(2026, 11, 20, 8, tzinfo=UTC)
FAST = OutboundSettings(allow_private=True, timeout_seconds=3, poll_seconds=0.2, retry_base_seconds=0.05,
                        retry_max_seconds=0.2, retry_window_seconds=3600, pause_after_failures=1000,
                        pause_after_seconds=3600)


async def api_key(url: str, customers: Sequence[str] | None = None) -> str:
    """An ``api_keys`` row (the owner of subscriptions); its id."""
    key_id = f"tsk_{secrets.token_hex(6)}"
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(
            "INSERT INTO api_keys (id, name, secret_hash, scopes, customers, rate_limit, created_by) "
            "VALUES (%s, 'queue test', %s, %s, %s, 0, 'test')",
            (key_id, hashlib.sha256(key_id.encode()).digest(), ["track", "subscriptions:write"],
             list(customers) if customers is not None else None))
    return key_id


async def subscribe(url: str, owner: str, target: str, *, kinds: Sequence[str] = ("event",),
                    numbers: Sequence[tuple[str, str]] = (), customer: str | None = None) -> tuple[str, str]:
    """A subscription (id, secret) to ``target``."""
    sid, secret = subscriptions.new_id(), new_secret()
    async with await psycopg.AsyncConnection.connect(url) as conn:
        async with conn.cursor() as cur:
            await subscriptions.insert(cur, subscription_id=sid, owner_key_id=owner, url=target, secret=secret,
                                       kinds=kinds, customer=customer,
                                       targets=[subscriptions.Target(c, n) for c, n in numbers],
                                       now=datetime.now(UTC))
        await conn.commit()
    return sid, secret


def event(carrier: str, number: str, i: int, status: str = "in_transit") -> TrackingEvent:
    at = T0 + timedelta(hours=i)
    return TrackingEvent(event_id=f"{number}-{i}", carrier=carrier, tracking_number=number, status=status,
                         substatus=None, code=f"C{i}", description=f"step {i}", occurred_at=at,
                         local_time=at.isoformat(), tz_source=TZ_GIVEN, received_at=datetime.now(UTC))


class Shipments:
    """Shipments written through the real writer, state carried from batch to batch."""

    def __init__(self, url: str) -> None:
        self.sink = PostgresSink(url, pool_size=2)
        self.states: dict[str, ShipmentState] = {}

    async def write(self, events: Sequence[TrackingEvent], customer: str | None = None) -> None:
        states = []
        for key in dict.fromkeys(e.key for e in events):
            mine = [e for e in events if e.key == key]
            state = apply_events(self.states.get(key), mine, datetime.now(UTC)).state
            if customer is not None:
                state.registration = {"customer": customer}
            self.states[key] = state
            states.append(state)
        await self.sink.write(list(events), states)

    async def close(self) -> None:
        await self.sink.close()


@contextlib.asynccontextmanager
async def dispatching(url: str, settings: OutboundSettings = FAST, worker: str = "test-dispatcher",
                      **kwargs: Any) -> AsyncIterator[Dispatcher]:
    dispatcher = Dispatcher(url, settings, worker, **kwargs)
    task = asyncio.create_task(dispatcher.run())
    try:
        yield dispatcher
    finally:
        dispatcher.stop()
        await asyncio.wait_for(task, 15)


async def rows(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute(sql, args)
        return list(await cur.fetchall())
