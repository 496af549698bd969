"""The queue against the real PostgreSQL, filled by the real writer (``PostgresSink.write``), and
emptied by a real dispatcher into real receivers on loopback: exactly the wanted messages, once,
with per-subscription sequences; order per shipment through failures; pause, give-up, replay;
several dispatchers sharing the queue."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime

import orjson
import psycopg
from standardwebhooks import Webhook

from sinks.outbound.store import replay, resume
from tests.outbound.queue_support import FAST, Shipments, api_key, dispatching, event, rows, subscribe
from tests.outbound.receiver import Received, Receiver
from tests.support import eventually


async def test_the_writer_queues_each_wanted_change_once_with_sequences(queue_db: str, receiver: Receiver) -> None:
    owner = await api_key(queue_db)
    per_number, _ = await subscribe(queue_db, owner, receiver.url, kinds=("event", "status_changed", "delivered"),
                                    numbers=[("qtest", "Q1")])
    per_customer, _ = await subscribe(queue_db, owner, receiver.url, kinds=("delivered",), customer="acme-q")
    shipments = Shipments(queue_db)
    try:
        batch = [event("qtest", "Q1", 0, "pre_transit"), event("qtest", "Q1", 1, "in_transit"),
                 event("qtest", "Q2", 0, "in_transit")]  # Q2: nobody subscribed to it
        await shipments.write(batch, customer="acme-q")
        await shipments.write(batch, customer="acme-q")  # the same batch again (a replay): nothing new
        delivered = event("qtest", "Q1", 2, "delivered")  # a NUL from the carrier must not block the writer
        await shipments.write([replace(delivered, description="handed\x00over")], customer="acme-q")
        queued = await rows(queue_db, "SELECT destination_id, event_id, type, sequence, payload FROM outbound_messages "
                            "WHERE ordering_key LIKE 'qtest:%%' ORDER BY id")
    finally:
        await shipments.close()
    by_subscription = {sub: [(e, t, s) for d, e, t, s, _ in queued if d == sub] for sub in (per_number, per_customer)}
    assert by_subscription == {
        per_number: [("Q1-0", "shipment.event", 1), ("Q1-1", "shipment.event", 2),
                     ("Q1-1", "shipment.status_changed", 3), ("Q1-2", "shipment.event", 4),
                     ("Q1-2", "shipment.status_changed", 5), ("Q1-2", "shipment.delivered", 6)],
        per_customer: [("Q1-2", "shipment.delivered", 1)],
    }
    assert len(queued) == 7
    payload = next(p for d, _, _, _, p in queued if d == per_customer)
    assert payload["status"] == "delivered" and payload["previous_status"] == "in_transit"
    assert payload["shipment_key"] == "qtest:Q1" and payload["estimated_delivery"] is None
    assert payload["snapshot_url"] == "/v1/track/qtest/Q1"
    assert "customer" not in payload and "destination_postcode" not in payload
    assert payload["description"] == "handed\ufffdover"


async def test_a_key_bound_to_customers_gets_only_their_shipments(queue_db: str, receiver: Receiver) -> None:
    bound = await api_key(queue_db, customers=["acme-b"])
    sid, _ = await subscribe(queue_db, bound, receiver.url, numbers=[("btest", "MINE"), ("btest", "THEIRS")])
    shipments = Shipments(queue_db)
    try:
        await shipments.write([event("btest", "MINE", 0)], customer="acme-b")
        await shipments.write([event("btest", "THEIRS", 0)], customer="globex")
        await shipments.write([event("btest", "NOBODYS", 0)])
    finally:
        await shipments.close()
    assert await rows(queue_db, "SELECT ordering_key FROM outbound_messages WHERE destination_id = %s", sid) == [
        ("btest:MINE",)]


async def test_deliveries_keep_order_through_failures_and_verify(queue_db: str) -> None:
    """The receiver answers 500 to every second request for a while: each shipment's messages still
    arrive in sequence (the next waits for the previous), each signed as Standard Webhooks says."""
    failing = {"left": 6}

    def answer(got: Received) -> int:
        if failing["left"] > 0 and len(receiver.requests) % 2 == 0:
            failing["left"] -= 1
            return 500
        return 200

    receiver = await Receiver(answer).start()
    owner = await api_key(queue_db)
    sid, secret = await subscribe(queue_db, owner, receiver.url, numbers=[("otest", "O1"), ("otest", "O2")])
    shipments = Shipments(queue_db)
    try:
        for i in range(5):
            await shipments.write([event("otest", "O1", i), event("otest", "O2", i)])
        async with dispatching(queue_db):
            await eventually(lambda: _all_finished(queue_db, sid), timeout=60, what="all delivered")
    finally:
        await shipments.close()
        await receiver.stop()
    verifier = Webhook(secret)
    for got in receiver.requests:
        assert verifier.verify(got.body, got.headers) == got.json()
    for number in ("O1", "O2"):
        mine = [r.json() for r in receiver.requests if r.json()["tracking_number"] == number]
        sequences = [m["sequence"] for m in mine]
        assert sequences == sorted(sequences), sequences  # never a later one before an earlier one
        assert [m["sequence"] for m, r in zip(mine, [r for r in receiver.requests
                if r.json()["tracking_number"] == number], strict=True) if r.status == 200] == [1, 2, 3, 4, 5]
    assert sum(r.status == 500 for r in receiver.requests) == 6
    log = await rows(queue_db, "SELECT status_code, outcome FROM outbound_attempts WHERE destination_id = %s "
                     "ORDER BY id", sid)
    assert sorted(log) == sorted([(500, "retry")] * 6 + [(200, "delivered")] * 10)


async def _all_finished(url: str, destination: str) -> bool:
    left = await rows(url, "SELECT count(*) FROM outbound_messages WHERE destination_id = %s "
                      "AND status = 'pending'", destination)
    return bool(left[0][0] == 0)


async def test_a_destination_that_keeps_failing_is_paused_then_resumed(queue_db: str) -> None:
    up = {"ok": False}
    receiver = await Receiver(lambda _: 200 if up["ok"] else 503).start()
    owner = await api_key(queue_db)
    sid, _ = await subscribe(queue_db, owner, receiver.url, numbers=[("ptest", "P1")])
    shipments = Shipments(queue_db)
    settings = replace(FAST, pause_after_failures=4, pause_after_seconds=0)
    try:
        await shipments.write([event("ptest", "P1", 0), event("ptest", "P1", 1)])
        async with dispatching(queue_db, settings):
            await eventually(lambda: _state(queue_db, sid, "paused"), timeout=30, what="paused")
            await asyncio.sleep(1.0)  # paused: no more attempts
            assert len(receiver.requests) == 4
            notice = await rows(queue_db, "SELECT paused_reason, paused_by FROM outbound_destinations WHERE id = %s",
                                sid)
            assert notice[0][1] == "system" and "4 delivery attempts in a row failed" in notice[0][0]
            audit = await rows(queue_db, "SELECT actor, action FROM audit_log WHERE target_id = %s", sid)
            assert audit == [("system", "subscription.paused")]
            up["ok"] = True
            async with await psycopg.AsyncConnection.connect(queue_db) as conn:
                async with conn.cursor() as cur:
                    await resume(cur, sid, datetime.now(UTC))
                await conn.commit()
            await eventually(lambda: _all_finished(queue_db, sid), timeout=30, what="delivered after resume")
    finally:
        await shipments.close()
        await receiver.stop()
    assert [r.json()["event_id"] for r in receiver.accepted()] == ["P1-0", "P1-1"]


async def _state(url: str, destination: str, state: str) -> bool:
    return (await rows(url, "SELECT state FROM outbound_destinations WHERE id = %s", destination)) == [(state,)]


async def test_a_message_is_given_up_after_the_window_and_the_next_one_goes(queue_db: str) -> None:
    receiver = await Receiver(lambda got: 500 if got.json()["event_id"] == "G1-0" else 200).start()
    owner = await api_key(queue_db)
    sid, _ = await subscribe(queue_db, owner, receiver.url, numbers=[("gtest", "G1")])
    shipments = Shipments(queue_db)
    try:
        await shipments.write([event("gtest", "G1", 0), event("gtest", "G1", 1)])
        async with dispatching(queue_db, replace(FAST, retry_window_seconds=1.0)):
            await eventually(lambda: _all_finished(queue_db, sid), timeout=30, what="finished")
    finally:
        await shipments.close()
        await receiver.stop()
    statuses = await rows(queue_db, "SELECT event_id, status FROM outbound_messages WHERE destination_id = %s "
                          "ORDER BY id", sid)
    assert statuses == [("G1-0", "given_up"), ("G1-1", "delivered")]
    first_g1_1 = next(i for i, r in enumerate(receiver.requests) if r.json()["event_id"] == "G1-1")
    assert all(r.json()["event_id"] == "G1-0" for r in receiver.requests[:first_g1_1])  # it waited
    assert first_g1_1 >= 2  # G1-0 was retried before it was given up
    outcomes = await rows(queue_db, "SELECT outcome FROM outbound_attempts a JOIN outbound_messages m "
                          "ON m.id = a.message_id WHERE m.destination_id = %s AND m.event_id = 'G1-0' ORDER BY a.id",
                          sid)
    assert outcomes[-1] == ("given_up",) and all(o == ("retry",) for o in outcomes[:-1])


async def test_replay_sends_finished_messages_again_in_order(queue_db: str, receiver: Receiver) -> None:
    owner = await api_key(queue_db)
    sid, _ = await subscribe(queue_db, owner, receiver.url, numbers=[("rtest", "R1")])
    shipments = Shipments(queue_db)
    try:
        await shipments.write([event("rtest", "R1", i) for i in range(3)])
        async with dispatching(queue_db):
            await eventually(lambda: _all_finished(queue_db, sid), timeout=30, what="delivered")
            async with await psycopg.AsyncConnection.connect(queue_db) as conn:
                async with conn.cursor() as cur:
                    assert await replay(cur, sid, datetime.now(UTC), event_id="R1-1") == 2
                    assert await replay(cur, sid, datetime.now(UTC), event_id="nope") is None
                await conn.commit()
            async def replayed() -> bool:
                return len(receiver.requests) == 5

            await eventually(replayed, timeout=30, what="replayed")
            # replaying the same changes through the writer queues nothing again
            await shipments.write([event("rtest", "R1", i) for i in range(3)])
            await asyncio.sleep(0.5)
    finally:
        await shipments.close()
    assert [r.json()["event_id"] for r in receiver.requests] == ["R1-0", "R1-1", "R1-2", "R1-1", "R1-2"]
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 3  # a replay is the same message


async def test_two_dispatchers_share_the_queue_without_sending_twice(queue_db: str) -> None:
    receiver = await Receiver(delay=0.02).start()
    owner = await api_key(queue_db)
    numbers = [("stest", f"S{i}") for i in range(8)]
    sid, _ = await subscribe(queue_db, owner, receiver.url, numbers=numbers)
    shipments = Shipments(queue_db)
    try:
        for i in range(6):
            await shipments.write([event("stest", n, i) for _, n in numbers])
        small = replace(FAST, concurrency=2)  # neither can take all eight shipments' heads at once
        async with dispatching(queue_db, small, worker="one") as one, dispatching(queue_db, small, worker="two") as two:
            await eventually(lambda: _all_finished(queue_db, sid), timeout=60, what="all delivered")
            assert one.delivered > 0 and two.delivered > 0 and one.delivered + two.delivered == 48
    finally:
        await shipments.close()
        await receiver.stop()
    assert len(receiver.requests) == 48
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 48
    for _, number in numbers:
        assert [r.json()["sequence"] for r in receiver.requests
                if r.json()["tracking_number"] == number] == [1, 2, 3, 4, 5, 6]
    assert {orjson.loads(r.body)["type"] for r in receiver.requests} == {"shipment.event"}


async def test_a_nul_in_a_subscribed_shipment_key_is_matched_and_queued_not_retried_forever(
        queue_db: str, receiver: Receiver) -> None:
    """The writer stores a NUL as U+FFFD (PostgreSQL text cannot hold one); the subscription
    lookup and the queue do the same, so such a batch is written, and its subscriber hears of it."""
    owner = await api_key(queue_db)
    sid, _ = await subscribe(queue_db, owner, receiver.url, numbers=[("nultest", "N\ufffd1")])
    shipments = Shipments(queue_db)
    try:
        await asyncio.wait_for(shipments.write([event("nultest", "N\x001", 0)]), timeout=20)
    finally:
        await shipments.close()
    assert await rows(queue_db, "SELECT ordering_key, event_id FROM outbound_messages WHERE destination_id = %s",
                      sid) == [("nultest:N\ufffd1", "N\ufffd1-0")]
