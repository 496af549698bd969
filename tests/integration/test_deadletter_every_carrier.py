"""A truncated payload on every carrier's raw topic ends in the dead-letter store with its carrier,
reason and payload, and the worker goes on."""

from __future__ import annotations

import base64
import uuid
from typing import Any

from aiokafka import AIOKafkaProducer

from tests.agents.test_normalize_deadletters import CARRIERS, samples
from tests.conftest import System
from tests.support import eventually
from trackstream.topics import raw_topic


async def test_a_truncated_payload_of_every_carrier_is_dead_lettered(system: System) -> None:
    marker = uuid.uuid4().hex
    producer = AIOKafkaProducer(bootstrap_servers=system.settings.kafka_bootstrap, acks="all")
    await producer.start()
    sent: dict[str, bytes] = {}
    try:
        for carrier in CARRIERS:
            payload = max(samples(carrier), key=len)
            sent[carrier] = payload[: len(payload) // 2]
            await producer.send_and_wait(raw_topic(carrier), sent[carrier],
                                         headers=[("x-test-marker", marker.encode())])
    finally:
        await producer.stop()

    async def letters() -> dict[str, Any] | None:
        with system.db() as conn:
            rows = conn.execute(
                "SELECT carrier, error, reason, payload, payload_b64 FROM dead_letters"
                " WHERE headers ->> 'x-test-marker' = %s", (marker,)).fetchall()
        found = {str(r[0]): r for r in rows}
        return found if set(found) == set(CARRIERS) else None

    found = await eventually(letters, 90, what="a dead letter per carrier")
    assert found is not None
    for carrier, (_, error, reason, payload, payload_b64) in found.items():
        assert error in ("malformed_payload", "carrier_error"), (carrier, error)
        assert reason, carrier
        stored = payload.encode() if payload is not None else base64.b64decode(payload_b64)
        assert stored == sent[carrier], carrier
    assert system.worker.alive()
