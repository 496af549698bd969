"""Webhook subscriptions, the outbound engine's first user: per tracking number or per customer.

The PostgreSQL writer calls ``enqueue_changes`` inside its transaction with the batch's accepted
events and new states: one indexed query finds the subscriptions of the batch's shipment keys
(``subscription_shipments``, primary key on shipment_key) and of their customers
(``subscriptions_customer``), with each shipment's stored status (for status changes); with no
match nothing else happens. Matching subscriptions get one queue row per wanted change
(``policy.changes``), only for shipments their owner key may see. No Faust message is added.
"""

from __future__ import annotations

import secrets as random_secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncCursor

from schemas.events import TrackingEvent, format_utc
from sinks.outbound import policy
from sinks.outbound.store import NewMessage, enqueue
from tables.shipment_states import ShipmentState

DESTINATION_KIND = "subscription"
ID_PREFIX = "sub_"

# One statement of index probes per shipment of the batch, never a scan: per-number subscriptions
# through the primary key of subscription_shipments, per-customer ones through
# subscriptions_customer, then each match's subscription, owner key and stored shipment by primary
# key. The LATERAL subqueries (OFFSET 0 keeps the planner from flattening them into hash joins over
# whole tables) make the cost follow the batch and the matches, not the number of subscriptions.
# Owner keys that were revoked or expired get nothing.
_MATCH = """
SELECT b.shipment_key, s.id, s.kinds, k.customers, sh.status
FROM unnest(%(keys)s::text[], %(customers)s::text[]) AS b(shipment_key, customer)
CROSS JOIN LATERAL (
    SELECT x.subscription_id AS id FROM subscription_shipments x WHERE x.shipment_key = b.shipment_key
    UNION ALL
    SELECT c.id FROM subscriptions c WHERE b.customer IS NOT NULL AND c.customer = b.customer
) AS m
CROSS JOIN LATERAL (SELECT s.id, s.kinds, s.owner_key_id FROM subscriptions s WHERE s.id = m.id OFFSET 0) AS s
CROSS JOIN LATERAL (
    SELECT k.customers FROM api_keys k
    WHERE k.id = s.owner_key_id AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())
    OFFSET 0
) AS k
LEFT JOIN LATERAL (SELECT sh.status FROM shipments sh WHERE sh.shipment_key = b.shipment_key OFFSET 0) AS sh ON true
"""


@dataclass(frozen=True, slots=True)
class Match:
    shipment_key: str
    subscription_id: str
    kinds: tuple[str, ...]
    owner_customers: tuple[str, ...] | None


def _customer(state: ShipmentState) -> str | None:
    customer = (state.registration or {}).get("customer")
    return customer if isinstance(customer, str) else None


def snapshot_url(public_url: str, carrier: str, tracking_number: str) -> str:
    return f"{public_url}/v1/track/{carrier}/{tracking_number}"


def message_payload(change: policy.Change, public_url: str) -> dict[str, Any]:
    """What a subscriber is told about one change: no personal data (the location is city and
    country only)."""
    event, state = change.event, change.state
    location = event.location
    return {
        "event_id": event.event_id,
        "shipment_key": state.key,
        "carrier": state.carrier,
        "tracking_number": state.tracking_number,
        "status": event.status,
        "substatus": event.substatus,
        "occurred_at": format_utc(event.occurred_at),
        "code": event.code,
        "description": event.description,
        "location": {"city": location.city, "country": location.country} if location else None,
        "shipment_status": state.status,
        "previous_status": change.previous_status,
        "estimated_delivery": None,  # none is estimated yet
        "received_at": format_utc(event.received_at),
        "snapshot_url": snapshot_url(public_url, state.carrier, state.tracking_number),
    }


async def enqueue_changes(cur: AsyncCursor[Any], events: Sequence[TrackingEvent], states: Sequence[ShipmentState],
                          public_url: str = "") -> int:
    """The writer's hook: queue what the batch means for its subscribers (call it before the
    shipments' upsert: it reads their stored status). Returns the number of messages queued."""
    if not states:
        return 0
    from sinks.postgres import storable  # (sinks.postgres imports this module)

    # keys and customers as the writer stores them (a NUL becomes U+FFFD), mapped back after
    raw_key = {storable(s.key): s.key for s in states}
    await cur.execute(_MATCH, {"keys": list(raw_key), "customers": [storable(_customer(s)) for s in states]})
    rows = await cur.fetchall()
    if not rows:
        return 0
    matches = [Match(raw_key[r[0]], r[1], tuple(r[2]), tuple(r[3]) if r[3] is not None else None) for r in rows]
    stored: dict[str, str | None] = {raw_key[r[0]]: r[4] for r in rows}
    by_key: dict[str, list[Match]] = {}
    for match in matches:
        by_key.setdefault(match.shipment_key, []).append(match)
    messages: list[NewMessage] = []
    for change in policy.changes(events, states, stored):
        payload: dict[str, Any] | None = None
        for match in sorted(by_key.get(change.state.key, ()), key=lambda m: m.subscription_id):
            if not policy.wanted(change, match.kinds, match.owner_customers):
                continue
            payload = payload or message_payload(change, public_url)
            messages.append(NewMessage(match.subscription_id, change.state.key, change.event.event_id, change.type,
                                       payload, change.event.received_at))
    return await enqueue(cur, messages)


# --- the subscriptions themselves ----------------------------------------------------------------


def new_id() -> str:
    return ID_PREFIX + random_secrets.token_hex(10)


@dataclass(frozen=True, slots=True)
class Target:
    carrier: str
    tracking_number: str

    @property
    def key(self) -> str:
        from schemas.events import shipment_key

        return shipment_key(self.carrier, self.tracking_number)


async def insert(cur: AsyncCursor[Any], *, subscription_id: str, owner_key_id: str, url: str, secret: str,
                 kinds: Sequence[str], customer: str | None, targets: Sequence[Target], now: datetime) -> None:
    await cur.execute(
        "INSERT INTO outbound_destinations (id, kind, url, secret, created_at, updated_at) "
        "VALUES (%s, %s, %s, %s, %s, %s)", (subscription_id, DESTINATION_KIND, url, secret, now, now))
    await cur.execute(
        "INSERT INTO subscriptions (id, owner_key_id, kinds, customer, created_at) VALUES (%s, %s, %s, %s, %s)",
        (subscription_id, owner_key_id, list(kinds), customer, now))
    if targets:
        await cur.execute(
            "INSERT INTO subscription_shipments (shipment_key, subscription_id, carrier, tracking_number) "
            "SELECT k, %s, c, t FROM unnest(%s::text[], %s::text[], %s::text[]) AS x(k, c, t) "
            "ON CONFLICT DO NOTHING",
            (subscription_id, [t.key for t in targets], [t.carrier for t in targets],
             [t.tracking_number for t in targets]))


_FIELDS = (
    "s.id, s.owner_key_id, s.kinds, s.customer, s.created_at, d.url, d.state, d.paused_reason, d.paused_at, "
    "d.paused_by, d.consecutive_failures, d.failing_since, d.last_success_at, d.updated_at, d.previous_valid_until"
)


def _row_json(r: tuple[Any, ...], targets: list[dict[str, str]] | None) -> dict[str, Any]:
    (sid, owner, kinds, customer, created, url, state, reason, paused_at, paused_by, failures, failing_since,
     last_success, updated, previous_until) = r

    def t(value: datetime | None) -> str | None:
        return format_utc(value) if value is not None else None

    out: dict[str, Any] = {
        "id": sid, "url": url, "kinds": list(kinds), "customer": customer, "state": state,
        "paused_reason": reason, "paused_at": t(paused_at), "paused_by": paused_by, "owner_key_id": owner,
        "consecutive_failures": failures, "failing_since": t(failing_since), "last_success_at": t(last_success),
        "previous_secret_valid_until": t(previous_until), "created_at": t(created), "updated_at": t(updated),
    }
    if targets is not None:
        out["tracking_numbers"] = targets
    return out


async def fetch(cur: AsyncCursor[Any], subscription_id: str, owner_key_id: str | None) -> dict[str, Any] | None:
    """One subscription as JSON, or None when it does not exist or ``owner_key_id`` (None: an
    admin, who sees all) did not create it."""
    await cur.execute(
        f"SELECT {_FIELDS} FROM subscriptions s JOIN outbound_destinations d ON d.id = s.id "
        "WHERE s.id = %s AND (%s::text IS NULL OR s.owner_key_id = %s)", (subscription_id, owner_key_id, owner_key_id))
    row = await cur.fetchone()
    if row is None:
        return None
    await cur.execute(
        "SELECT carrier, tracking_number FROM subscription_shipments WHERE subscription_id = %s "
        "ORDER BY carrier, tracking_number", (subscription_id,))
    targets = [{"carrier": c, "tracking_number": t} for c, t in await cur.fetchall()]
    return _row_json(row, targets if row[3] is None else None)


async def list_owned(cur: AsyncCursor[Any], owner_key_id: str | None, *, limit: int,
                     after: str | None) -> list[dict[str, Any]]:
    await cur.execute(
        f"SELECT {_FIELDS}, (SELECT count(*) FROM subscription_shipments x WHERE x.subscription_id = s.id) "
        "FROM subscriptions s JOIN outbound_destinations d ON d.id = s.id "
        "WHERE (%s::text IS NULL OR s.owner_key_id = %s) AND (%s::text IS NULL OR s.id > %s) ORDER BY s.id LIMIT %s",
        (owner_key_id, owner_key_id, after, after, limit))
    out = []
    for row in await cur.fetchall():
        item = _row_json(row[:-1], None)
        item["tracking_number_count"] = row[-1]
        out.append(item)
    return out
