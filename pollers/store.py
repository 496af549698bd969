"""The pollers' SQL: which shipments are due, what a poll found, leases and delta cursors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg_pool import AsyncConnectionPool

from pollers.clients.base import Target
from schemas.taxonomy import FINAL_STATUSES

# Three bounded, indexed queries rather than one scan of every active shipment per cycle:
#  overdue   poll_state rows whose time has come (poll_state_due), oldest first;
#  new       shipments never polled by this account, registered within ``retire_after``
#            (shipments_carrier_created);
#  reopened  final / retired rows whose shipment changed since (carrier news after all: a return,
#            a webhook), looked for among shipments updated in the last day (shipments_carrier_updated).
# Rows the overdue query finds retired or final are closed (next_poll_at = NULL) so they stop coming.
_ACTIVE = """
  s.status <> ALL(%(final)s)
  AND coalesce(s.last_event_at, s.registered_at, s.created_at) > %(now)s - %(retire)s
  AND (cardinality(%(customers)s::text[]) = 0 OR s.customer = ANY(%(customers)s))
"""
_COLUMNS = "s.shipment_key, s.tracking_number, s.status, s.destination_postcode"

_OVERDUE = f"""
SELECT {_COLUMNS}, p.payload_hash, p.failures,
       ({_ACTIVE}) AS active
FROM poll_state p JOIN shipments s ON s.shipment_key = p.shipment_key
WHERE p.account = %(account)s AND p.next_poll_at <= %(now)s
ORDER BY p.next_poll_at
LIMIT %(limit)s
"""

_NEW = f"""
SELECT {_COLUMNS}, NULL, 0
FROM shipments s
WHERE s.carrier = %(carrier)s AND s.created_at > %(now)s - %(retire)s AND {_ACTIVE}
  AND NOT EXISTS (SELECT 1 FROM poll_state p WHERE p.account = %(account)s AND p.shipment_key = s.shipment_key)
ORDER BY s.created_at
LIMIT %(limit)s
"""

_REOPENED = f"""
SELECT {_COLUMNS}, p.payload_hash, p.failures
FROM shipments s JOIN poll_state p ON p.account = %(account)s AND p.shipment_key = s.shipment_key
WHERE s.carrier = %(carrier)s AND s.updated_at > %(now)s - interval '1 day' AND {_ACTIVE}
  AND p.next_poll_at IS NULL AND s.updated_at > p.last_polled_at
LIMIT %(limit)s
"""

_CLOSE = "UPDATE poll_state SET next_poll_at = NULL WHERE account = %s AND shipment_key = ANY(%s)"


def share(overdue: Sequence[Target], new: Sequence[Target], reopened: Sequence[Target], limit: int) -> list[Target]:
    """Up to ``limit`` targets: half for overdue polls (near delivery must not wait behind a bulk
    registration), a quarter for reopened ones, the rest for new ones; unused shares go to the others."""
    picked: list[Target] = [*overdue[: limit // 2], *reopened[: limit // 4]]
    picked += new[: limit - len(picked)]
    for rest in (overdue[limit // 2:], reopened[limit // 4:]):
        picked += rest[: limit - len(picked)]
    unique: dict[str, Target] = {}
    for target in picked:
        unique.setdefault(target.shipment_key, target)
    return list(unique.values())


_RECORD = """
INSERT INTO poll_state (account, shipment_key, carrier, tracking_number, next_poll_at, last_polled_at,
                        last_result, last_error, payload_hash, failures, polled_by)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (account, shipment_key) DO UPDATE SET
    next_poll_at = EXCLUDED.next_poll_at, last_polled_at = EXCLUDED.last_polled_at,
    last_result = EXCLUDED.last_result, last_error = EXCLUDED.last_error,
    payload_hash = coalesce(EXCLUDED.payload_hash, poll_state.payload_hash),
    failures = EXCLUDED.failures, polls = poll_state.polls + 1, polled_by = EXCLUDED.polled_by
"""


@dataclass(frozen=True)
class PollRecord:
    target: Target
    result: str  # changed | unchanged | not_found | error
    next_poll_at: datetime | None
    payload_hash: str | None = None
    error: str | None = None

    @property
    def failures(self) -> int:
        return self.target.failures + 1 if self.result in ("error", "not_found") else 0


def _target(r: Sequence[Any]) -> Target:
    return Target(shipment_key=r[0], tracking_number=r[1], status=r[2], postcode=r[3], payload_hash=r[4],
                  failures=int(r[5]))


class PollStore:
    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool

    async def due(self, account: str, carrier: str, customers: Sequence[str], retire_after: timedelta,
                  now: datetime, limit: int) -> list[Target]:
        args = {"account": account, "carrier": carrier, "final": list(FINAL_STATUSES), "now": now,
                "retire": retire_after, "customers": list(customers), "limit": limit}
        async with self.pool.connection() as conn:
            overdue_rows = await (await conn.execute(_OVERDUE, args)).fetchall()
            closed = [r[0] for r in overdue_rows if not r[6]]
            if closed:
                await conn.execute(_CLOSE, (account, closed))
            new_rows = await (await conn.execute(_NEW, args)).fetchall()
            reopened_rows = await (await conn.execute(_REOPENED, args)).fetchall()
        return share([_target(r) for r in overdue_rows if r[6]], [_target(r) for r in new_rows],
                     [_target(r) for r in reopened_rows], limit)

    async def record(self, account: str, carrier: str, worker: str, now: datetime,
                     records: Sequence[PollRecord]) -> None:
        if not records:
            return
        async with self.pool.connection() as conn, conn.cursor() as cur:
            await cur.executemany(_RECORD, [
                (account, r.target.shipment_key, carrier, r.target.tracking_number, r.next_poll_at, now,
                 r.result, r.error, r.payload_hash, r.failures, worker)
                for r in records
            ])

    async def lease(self, account: str, carrier: str, worker: str, *, acquired: bool) -> None:
        async with self.pool.connection() as conn:
            if acquired:
                await conn.execute(
                    "INSERT INTO poller_leases (account, carrier, holder, acquired_at, renewed_at)"
                    " VALUES (%s, %s, %s, now(), now()) ON CONFLICT (account) DO UPDATE SET"
                    " carrier = EXCLUDED.carrier, holder = EXCLUDED.holder, acquired_at = now(), renewed_at = now()",
                    (account, carrier, worker))
            else:
                await conn.execute("UPDATE poller_leases SET renewed_at = now() WHERE account = %s AND holder = %s",
                                   (account, worker))

    async def cursor(self, account: str) -> datetime | None:
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT cursor_at FROM poll_cursors WHERE account = %s", (account,))
            row = await cur.fetchone()
        return row[0] if row else None

    async def set_cursor(self, account: str, at: datetime) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(
                "INSERT INTO poll_cursors (account, cursor_at) VALUES (%s, %s)"
                " ON CONFLICT (account) DO UPDATE SET cursor_at = EXCLUDED.cursor_at", (account, at))
