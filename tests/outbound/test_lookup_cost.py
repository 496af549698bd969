"""Finding the subscriptions of a batch is an index lookup, not a scan: the writer's query
(``subscriptions._MATCH``) on a batch of 200 shipments visits the same rows and about the same
buffers with 100,000 subscriptions as with 1,000 (EXPLAIN ANALYZE, BUFFERS, on the real server)."""

from __future__ import annotations

from typing import Any

import orjson
import psycopg

from sinks.outbound.subscriptions import _MATCH
from tests.outbound.queue_support import api_key

SUBSCRIPTION_TABLES = {"subscriptions", "subscription_shipments", "outbound_destinations"}


def _add(conn: psycopg.Connection[Any], owner: str, start: int, stop: int) -> None:
    """Per-number subscriptions ``sub_cost_<i>`` on ``costtest:N<i>``, and one per-customer one per
    hundred (customer ``cust-<i>``)."""
    conn.execute("INSERT INTO outbound_destinations (id, kind, url, secret) SELECT 'sub_cost_' || i, 'subscription', "
                 "'http://127.0.0.1:9/', 'whsec_x' FROM generate_series(%s::int, %s::int) i", (start, stop - 1))
    conn.execute("INSERT INTO subscriptions (id, owner_key_id, kinds, customer) SELECT 'sub_cost_' || i, %s, "
                 "'{event}', CASE WHEN i %% 100 = 0 THEN 'cust-' || i END FROM generate_series(%s::int, %s::int) i",
                 (owner, start, stop - 1))
    conn.execute("INSERT INTO subscription_shipments (shipment_key, subscription_id, carrier, tracking_number) "
                 "SELECT 'costtest:N' || i, 'sub_cost_' || i, 'costtest', 'N' || i "
                 "FROM generate_series(%s::int, %s::int) i "
                 "WHERE i %% 100 <> 0", (start, stop - 1))
    conn.execute("ANALYZE outbound_destinations, subscriptions, subscription_shipments")


def _plan(conn: psycopg.Connection[Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    # a batch of 200 shipments: two subscribed by number, one by customer, the rest nobody's
    keys = ["costtest:N7", "costtest:N501"] + [f"costtest:X{i}" for i in range(198)]
    customers = ["cust-300"] + [None] * 199
    row = conn.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + _MATCH,
                       {"keys": keys, "customers": customers}).fetchone()
    assert row is not None
    plan = (row[0] if isinstance(row[0], list) else orjson.loads(row[0]))[0]["Plan"]
    nodes: list[dict[str, Any]] = []

    def walk(node: dict[str, Any]) -> None:
        nodes.append(node)
        for child in node.get("Plans", []):
            walk(child)

    walk(plan)
    return plan, nodes


def _visited(nodes: list[dict[str, Any]]) -> int:
    """Rows the scans of the subscription tables produced or threw away (with loops)."""
    return sum((n["Actual Rows"] + n.get("Rows Removed by Filter", 0) + n.get("Rows Removed by Index Recheck", 0))
               * n["Actual Loops"] for n in nodes if n.get("Relation Name") in SUBSCRIPTION_TABLES)


async def test_the_batch_lookup_costs_the_same_with_100000_subscriptions_as_with_1000(queue_db: str) -> None:
    owner = await api_key(queue_db)
    with psycopg.connect(queue_db, autocommit=True) as conn:
        _add(conn, owner, 0, 1_000)
        small_plan, small_nodes = _plan(conn)
        _add(conn, owner, 1_000, 100_000)
        assert conn.execute("SELECT count(*) FROM subscriptions WHERE id LIKE 'sub_cost_%%'").fetchone() == (100_000,)
        large_plan, large_nodes = _plan(conn)
        matched = conn.execute(_MATCH, {"keys": ["costtest:N7", "costtest:N501"], "customers": ["cust-300", None]})
        assert sorted(r[1] for r in matched.fetchall()) == ["sub_cost_300", "sub_cost_501", "sub_cost_7"]
    for nodes in (small_nodes, large_nodes):
        scans = {(n["Node Type"], n.get("Relation Name")) for n in nodes if n.get("Relation Name")}
        assert not {s for s in scans if s[0] == "Seq Scan" and s[1] in SUBSCRIPTION_TABLES}, scans
        assert {n.get("Index Name") for n in nodes} >= {"subscription_shipments_pkey", "subscriptions_customer"}
    assert large_plan["Actual Rows"] == small_plan["Actual Rows"] == 3
    small_rows, large_rows = _visited(small_nodes), _visited(large_nodes)
    assert large_rows == small_rows <= 10, (small_rows, large_rows)  # only the matching rows are visited
    small_hits, large_hits = small_plan["Shared Hit Blocks"], large_plan["Shared Hit Blocks"]
    # one more B-tree level at most per probe of the 200 + 200 keys, whatever the table size
    assert large_hits <= small_hits + 400, (small_hits, large_hits)
    print(f"batch of 200 shipments: {small_hits} buffers / {small_rows} rows with 1,000 subscriptions, "
          f"{large_hits} buffers / {large_rows} rows with 100,000")


async def test_a_claim_looks_at_the_due_heads_only_whatever_waits_behind_them(queue_db: str) -> None:
    """Only the head of each (destination, shipment) is ever due: a subscriber that keeps failing
    with thousands of messages queued behind its head, or a paused one with thousands of shipments,
    costs a claim nothing."""
    import secrets
    from datetime import UTC, datetime, timedelta

    from sinks.outbound.store import _CLAIM, NewMessage, enqueue, pause

    tag = secrets.token_hex(3)
    failing, paused, healthy = f"sub_claim_f{tag}", f"sub_claim_p{tag}", f"sub_claim_h{tag}"
    async with await psycopg.AsyncConnection.connect(queue_db) as conn:
        async with conn.cursor() as cur:
            for destination in (failing, paused, healthy):
                await cur.execute("INSERT INTO outbound_destinations (id, kind, url, secret) VALUES "
                                  "(%s, 'subscription', 'http://127.0.0.1:9/', 'whsec_x')", (destination,))
            await enqueue(cur, [NewMessage(failing, "claim:ONE", f"e{i}", "shipment.event", {}) for i in range(3000)])
            await enqueue(cur, [NewMessage(paused, f"claim:P{i}", "e", "shipment.event", {}) for i in range(1000)])
            await enqueue(cur, [NewMessage(healthy, "claim:H", "e0", "shipment.event", {})])
            later = datetime.now(UTC) + timedelta(hours=1)  # the failing head's next retry
            await cur.execute("UPDATE outbound_messages SET next_attempt_at = %s WHERE destination_id = %s "
                              "AND event_id = 'e0'", (later, failing))
            await pause(cur, paused, datetime.now(UTC), "test", "paused by the test")
        await conn.commit()
        await conn.execute("ANALYZE outbound_messages")
        await conn.commit()
        async with conn.transaction(force_rollback=True):
            cursor = await conn.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + _CLAIM, {
                "lease": datetime.now(UTC) + timedelta(minutes=1), "worker": "explain", "now": datetime.now(UTC),
                "limit": 10})
            row = await cursor.fetchone()
    assert row is not None
    plan = (row[0] if isinstance(row[0], list) else orjson.loads(row[0]))[0]["Plan"]
    nodes: list[dict[str, Any]] = []

    def walk(node: dict[str, Any]) -> None:
        nodes.append(node)
        for child in node.get("Plans", []):
            walk(child)

    walk(plan)
    visited = sum((n["Actual Rows"] + n.get("Rows Removed by Filter", 0)) * n["Actual Loops"]
                  for n in nodes if n.get("Relation Name") == "outbound_messages")
    claimed = next(n for n in nodes if n["Node Type"] == "ModifyTable")["Actual Rows"]
    assert claimed >= 1  # the healthy head (and whatever other tests left due)
    assert visited <= 3 * claimed + 20, f"{visited} queue rows visited to claim {claimed}"
