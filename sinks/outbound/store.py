"""The durable queue in PostgreSQL: enqueue, claim, record an attempt, replay, read the log.

Only the head of each (destination, ordering key) is scheduled; the messages behind it wait
(``WAITING``) and the head's successor is made due when the head is delivered or given up.

``enqueue`` runs in the caller's transaction (the PostgreSQL writer's, for subscriptions), so a
message is queued exactly when what caused it is stored; its unique (destination, event id, type)
makes a replay of the same changes insert nothing. ``claim`` hands a dispatcher the due messages
that are the oldest unfinished one of their (destination, ordering key), leased for the length of
an attempt: ``FOR UPDATE SKIP LOCKED`` lets every worker's dispatcher claim at once without
taking the same message, and the lease (not a transaction held open over the HTTP call) makes a
crashed dispatcher's messages due again when it expires.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from psycopg import AsyncConnection, AsyncCursor
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from schemas.events import format_utc
from sinks import audit
from sinks.outbound import policy
from trackstream.settings import OutboundSettings

NOTIFY_CHANNEL = "trackstream_outbound"
LEASE_MARGIN_SECONDS = 30.0
#: ``next_attempt_at`` of a message that waits for the one before it (or for its destination to be
#: resumed): only each (destination, ordering key)'s head is ever due, so the due index holds the
#: heads alone and a claim never walks a backlog behind them.
WAITING = datetime(9999, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class NewMessage:
    destination_id: str
    ordering_key: str
    event_id: str
    type: str
    payload: dict[str, Any]
    received_at: datetime | None = None


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


_INSERT = """
INSERT INTO outbound_messages (destination_id, ordering_key, event_id, type, payload, received_at, next_attempt_at)
SELECT d, k, e, t, p, r, %s FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::jsonb[], %s::timestamptz[])
    WITH ORDINALITY AS m(d, k, e, t, p, r, n)
ORDER BY n
ON CONFLICT (destination_id, event_id, type) DO NOTHING
RETURNING id, destination_id, ordering_key
"""
_SEQUENCES = """
INSERT INTO outbound_sequences (destination_id, ordering_key, last_sequence)
SELECT * FROM unnest(%s::text[], %s::text[], %s::bigint[])
ON CONFLICT (destination_id, ordering_key) DO UPDATE
    SET last_sequence = outbound_sequences.last_sequence + EXCLUDED.last_sequence
RETURNING destination_id, ordering_key, last_sequence
"""
# Make the oldest pending message of each given (destination, ordering key) due when it waits and
# its destination is active (through the head index).
_PROMOTE = """
UPDATE outbound_messages m SET next_attempt_at = %(now)s
FROM (
    SELECT DISTINCT ON (p.destination_id, p.ordering_key) p.id FROM outbound_messages p
    WHERE p.status = 'pending'
      AND (p.destination_id, p.ordering_key) IN (SELECT * FROM unnest(%(destinations)s::text[], %(keys)s::text[]))
    ORDER BY p.destination_id, p.ordering_key, p.id
) AS head
WHERE m.id = head.id AND m.next_attempt_at = %(waiting)s
  AND EXISTS (SELECT 1 FROM outbound_destinations d WHERE d.id = m.destination_id AND d.state = 'active')
"""
# The same for every ordering key of one destination (resume, replay); ``force``: heads that are
# scheduled for a retry are made due now too.
_PROMOTE_DESTINATION = """
UPDATE outbound_messages m SET next_attempt_at = %(now)s
FROM (
    SELECT DISTINCT ON (p.ordering_key) p.id FROM outbound_messages p
    WHERE p.destination_id = %(destination)s AND p.status = 'pending'
    ORDER BY p.ordering_key, p.id
) AS head
WHERE m.id = head.id AND (%(force)s OR m.next_attempt_at = %(waiting)s)
"""


async def promote(cur: AsyncCursor[Any], groups: Sequence[tuple[str, str]], now: datetime | None = None) -> None:
    """Schedule the head of each (destination, ordering key) in ``groups`` (``now``; None: the
    database's clock) if it waits."""
    if groups:
        await cur.execute(_PROMOTE.replace("%(now)s", "clock_timestamp()") if now is None else _PROMOTE, {
            "now": now, "destinations": [d for d, _ in groups], "keys": [k for _, k in groups], "waiting": WAITING})


_SET_SEQUENCES = """
UPDATE outbound_messages m SET sequence = v.s FROM unnest(%s::bigint[], %s::bigint[]) AS v(i, s) WHERE m.id = v.i
"""


async def enqueue(cur: AsyncCursor[Any], messages: Sequence[NewMessage]) -> int:
    """Queue ``messages`` (in their order) in the cursor's transaction; returns how many were new.
    Each new message gets the next sequence number of its (destination, ordering key)."""
    if not messages:
        return 0
    from sinks.postgres import storable  # (sinks.postgres imports this module)

    await cur.execute(_INSERT, (
        WAITING, [storable(m.destination_id) for m in messages], [storable(m.ordering_key) for m in messages],
        [storable(m.event_id) for m in messages], [storable(m.type) for m in messages],
        [Jsonb(storable(m.payload), dumps=_dumps) for m in messages],
        [m.received_at for m in messages]))
    inserted: list[tuple[int, str, str]] = [(int(r[0]), str(r[1]), str(r[2])) for r in await cur.fetchall()]
    if not inserted:
        return 0
    groups: dict[tuple[str, str], list[int]] = {}
    for message_id, destination, key in inserted:
        groups.setdefault((destination, key), []).append(message_id)
    ordered = sorted(groups)  # one lock order for every writer: no deadlock between two of them
    await cur.execute(_SEQUENCES, ([d for d, _ in ordered], [k for _, k in ordered],
                                   [len(groups[g]) for g in ordered]))
    ids: list[int] = []
    sequences: list[int] = []
    for destination, key, last in await cur.fetchall():
        group = sorted(groups[(destination, key)])
        ids += group
        sequences += range(int(last) - len(group) + 1, int(last) + 1)
    await cur.execute(_SET_SEQUENCES, (ids, sequences))
    await promote(cur, ordered)
    await cur.execute("SELECT pg_notify(%s, '')", (NOTIFY_CHANNEL,))
    return len(inserted)


# --- the dispatcher's side -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claimed:
    """A message leased to one dispatcher for one attempt, with what it needs to send it."""

    id: int
    destination_id: str
    destination_kind: str
    url: str
    secrets: tuple[str, ...]  # current first, then the previous one while it is valid
    ordering_key: str
    type: str
    sequence: int | None
    payload: dict[str, Any]
    created_at: datetime
    queued_at: datetime
    attempts: int  # made before this one

    @property
    def webhook_id(self) -> str:
        return f"msg_{self.id}"

    def body(self) -> bytes:
        """The JSON body: the envelope fields, then the feature's payload. The same bytes on every
        attempt (only the timestamp and signature headers change)."""
        return orjson.dumps({"id": self.webhook_id, "type": self.type, "sequence": self.sequence,
                             "emitted_at": format_utc(self.created_at), **self.payload})


_CLAIM = """
UPDATE outbound_messages m SET leased_until = %(lease)s, leased_by = %(worker)s
FROM (
    SELECT c.id, d.kind, d.url, d.secret, d.previous_secret, d.previous_valid_until
    FROM outbound_messages c
    JOIN outbound_destinations d ON d.id = c.destination_id AND d.state = 'active'
    WHERE c.status = 'pending' AND c.next_attempt_at <= %(now)s
      AND (c.leased_until IS NULL OR c.leased_until < %(now)s)
      AND c.id = (SELECT o.id FROM outbound_messages o
                  WHERE o.destination_id = c.destination_id AND o.ordering_key = c.ordering_key
                    AND o.status = 'pending'
                  ORDER BY o.destination_id, o.ordering_key, o.id LIMIT 1)
    ORDER BY c.next_attempt_at, c.id
    LIMIT %(limit)s
    FOR UPDATE OF c SKIP LOCKED
) AS due
WHERE m.id = due.id
RETURNING m.id, m.destination_id, due.kind, due.url, due.secret, due.previous_secret, due.previous_valid_until,
          m.ordering_key, m.type, m.sequence, m.payload, m.created_at, m.queued_at, m.attempts
"""


async def claim(conn: AsyncConnection[Any], *, limit: int, now: datetime, lease_seconds: float,
                worker: str) -> list[Claimed]:
    """Lease up to ``limit`` due messages, each the oldest unfinished one of its (destination,
    ordering key) of an active destination (order: the next of a key waits until the previous one
    was delivered or given up), for ``lease_seconds`` + a margin."""
    lease = now + timedelta(seconds=lease_seconds + LEASE_MARGIN_SECONDS)
    async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_CLAIM, {"lease": lease, "worker": worker, "now": now, "limit": limit})
        rows = await cur.fetchall()
    out = []
    for r in sorted(rows, key=lambda r: int(r["id"])):
        valid = [r["secret"]]
        if r["previous_secret"] and r["previous_valid_until"] is not None and r["previous_valid_until"] > now:
            valid.append(r["previous_secret"])
        out.append(Claimed(id=int(r["id"]), destination_id=r["destination_id"], destination_kind=r["kind"],
                           url=r["url"], secrets=tuple(valid), ordering_key=r["ordering_key"], type=r["type"],
                           sequence=r["sequence"], payload=r["payload"], created_at=r["created_at"],
                           queued_at=r["queued_at"], attempts=int(r["attempts"])))
    return out


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """What one HTTP attempt gave: a status code, or an error (no answer)."""

    attempted_at: datetime
    duration_ms: float
    status_code: int | None = None
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True, slots=True)
class Recorded:
    outcome: str  # delivered | retry | given_up | gone (deleted meanwhile)
    next_attempt_at: datetime | None = None
    paused: bool = False


async def record(conn: AsyncConnection[Any], message: Claimed, result: AttemptResult, now: datetime,
                 settings: OutboundSettings, rng: random.Random) -> Recorded:
    """Log the attempt and move the message on (delivered, retried later, or given up) and the
    destination's health (a destination that keeps failing is paused, with a notice and an audit
    record by ``system``), in one transaction."""
    failures = message.attempts + 1
    if result.succeeded:
        outcome, next_at = "delivered", None
    else:
        next_at = policy.next_attempt(failures, message.queued_at, now, settings, rng)
        outcome = "retry" if next_at is not None else "given_up"
    async with conn.transaction(), conn.cursor() as cur:
        await cur.execute(
            "UPDATE outbound_messages SET attempts = attempts + 1, status = %s, next_attempt_at = COALESCE(%s, "
            "next_attempt_at), leased_until = NULL, leased_by = NULL, finished_at = %s, last_status_code = %s, "
            "last_error = %s WHERE id = %s AND status = 'pending' RETURNING id",
            ("pending" if outcome == "retry" else outcome, next_at, None if outcome == "retry" else now,
             result.status_code, result.error, message.id))
        if await cur.fetchone() is None:
            return Recorded("gone")  # its destination was deleted, or a replay reset it meanwhile
        await cur.execute(
            "INSERT INTO outbound_attempts (message_id, destination_id, attempt, attempted_at, duration_ms, "
            "status_code, error, outcome, next_attempt_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (message.id, message.destination_id, failures, result.attempted_at, result.duration_ms,
             result.status_code, result.error, outcome, next_at))
        if outcome != "retry":  # finished: the next message of its shipment is due
            await promote(cur, [(message.destination_id, message.ordering_key)], now)
        if result.succeeded:
            # a healthy destination's row is written at most once a second, not once per delivery
            # (every delivery to it would queue on that row's lock)
            await cur.execute(
                "UPDATE outbound_destinations SET consecutive_failures = 0, failing_since = NULL, "
                "last_success_at = %s WHERE id = %s AND (consecutive_failures > 0 OR last_success_at IS NULL "
                "OR last_success_at < %s)", (now, message.destination_id, now - timedelta(seconds=1)))
            return Recorded(outcome)
        await cur.execute(
            "UPDATE outbound_destinations SET consecutive_failures = consecutive_failures + 1, "
            "failing_since = COALESCE(failing_since, %s) WHERE id = %s "
            "RETURNING consecutive_failures, failing_since, state",
            (result.attempted_at, message.destination_id))
        row = await cur.fetchone()
        paused = False
        if row is not None and row[2] == "active" and policy.should_pause(int(row[0]), row[1], now, settings):
            notice = policy.pause_notice(int(row[0]), row[1])
            await pause(cur, message.destination_id, now, "system", notice)
            await audit.record(conn, actor="system", action=f"{message.destination_kind}.paused",
                               target_type=message.destination_kind, target_id=message.destination_id,
                               details={"reason": notice, "consecutive_failures": int(row[0])})
            paused = True
        return Recorded(outcome, next_at, paused)


# --- operators' and subscribers' side ------------------------------------------------------------


async def resume(cur: AsyncCursor[Any], destination_id: str, now: datetime) -> None:
    """Active again: its health starts afresh and what waits is due now."""
    await cur.execute(
        "UPDATE outbound_destinations SET state = 'active', paused_reason = NULL, paused_at = NULL, paused_by = NULL, "
        "consecutive_failures = 0, failing_since = NULL, updated_at = %s WHERE id = %s", (now, destination_id))
    await cur.execute(_PROMOTE_DESTINATION, {"now": now, "destination": destination_id, "force": True,
                                             "waiting": WAITING})
    await cur.execute("SELECT pg_notify(%s, '')", (NOTIFY_CHANNEL,))


async def pause(cur: AsyncCursor[Any], destination_id: str, now: datetime, by: str, reason: str) -> None:
    """Paused: nothing of it is due until it is resumed (a delivery in flight finishes)."""
    await cur.execute(
        "UPDATE outbound_destinations SET state = 'paused', paused_reason = %s, paused_at = %s, paused_by = %s, "
        "updated_at = %s WHERE id = %s", (reason, now, by, now, destination_id))
    await cur.execute(
        "UPDATE outbound_messages SET next_attempt_at = %s WHERE destination_id = %s AND status = 'pending'",
        (WAITING, destination_id))


async def replay(cur: AsyncCursor[Any], destination_id: str, now: datetime, *, since: datetime | None = None,
                 event_id: str | None = None) -> int | None:
    """Send again, in their order, the destination's finished messages queued at or after ``since``
    or from the first message of ``event_id`` on (None: no message of that event); each gets a new
    retry window. Returns how many were queued again."""
    if event_id is not None:
        await cur.execute("SELECT min(id) FROM outbound_messages WHERE destination_id = %s AND event_id = %s",
                          (destination_id, event_id))
        row = await cur.fetchone()
        if row is None or row[0] is None:
            return None
        condition, arg = "id >= %s", row[0]
    else:
        condition, arg = "created_at >= %s", since
    await cur.execute(
        "UPDATE outbound_messages SET status = 'pending', next_attempt_at = %s, queued_at = %s, finished_at = NULL "
        f"WHERE destination_id = %s AND status <> 'pending' AND {condition}", (WAITING, now, destination_id, arg))
    count = cur.rowcount
    await cur.execute("SELECT state FROM outbound_destinations WHERE id = %s", (destination_id,))
    if await cur.fetchone() == ("active",):
        await cur.execute(_PROMOTE_DESTINATION, {"now": now, "destination": destination_id, "force": False,
                                                 "waiting": WAITING})
    await cur.execute("SELECT pg_notify(%s, '')", (NOTIFY_CHANNEL,))
    return count


async def deliveries(cur: AsyncCursor[Any], destination_id: str, *, limit: int,
                     before: int | None = None) -> list[dict[str, Any]]:
    """The delivery log, newest message first, each with its attempts (status codes, timings)."""
    await cur.execute(
        "SELECT m.id, m.event_id, m.type, m.ordering_key, m.sequence, m.status, m.attempts, m.created_at, "
        "m.next_attempt_at, m.finished_at, m.last_status_code, m.last_error, "
        "COALESCE((SELECT json_agg(json_build_object('attempt', a.attempt, 'attempted_at', a.attempted_at, "
        "'duration_ms', round(a.duration_ms::numeric, 1), 'status_code', a.status_code, 'error', a.error, "
        "'outcome', a.outcome) ORDER BY a.id) FROM outbound_attempts a WHERE a.message_id = m.id), '[]') "
        "AS attempt_log FROM outbound_messages m WHERE m.destination_id = %s AND (%s::bigint IS NULL OR m.id < %s) "
        "ORDER BY m.id DESC LIMIT %s", (destination_id, before, before, limit))
    rows: list[dict[str, Any]] = []
    for r in await cur.fetchall():
        (mid, event_id, type_, key, seq, status, attempts, created, next_at, finished, code, error, log) = r
        rows.append({
            "id": f"msg_{mid}", "event_id": event_id, "type": type_, "shipment_key": key, "sequence": seq,
            "status": status, "attempts": attempts, "created_at": format_utc(created),
            "next_attempt_at": format_utc(next_at) if status == "pending" and next_at != WAITING else None,
            "finished_at": format_utc(finished) if finished else None, "last_status_code": code,
            "last_error": error, "attempt_log": log,
        })
    return rows
