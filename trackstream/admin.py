"""Kafka administration: create trackstream's topics with the right partition counts, and measure
consumer lag from the broker (committed offsets of the app's group against the log end)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError
from aiokafka.structs import TopicPartition

from trackstream import topics as names
from trackstream.settings import Settings

log = logging.getLogger(__name__)


async def ensure_topics(settings: Settings, timeout: float = 60.0) -> list[str]:
    """Create the source topics (Faust creates only its changelogs). Returns the ones created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=10000)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            await admin.start()
            break
        except KafkaConnectionError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)
    created: list[str] = []
    try:
        existing = set(await admin.list_topics())
        wanted = [t for t in names.all_topics(settings.configured_carriers) if t not in existing]
        if wanted:
            try:
                await admin.create_topics(
                    [NewTopic(t, num_partitions=settings.partitions, replication_factor=1) for t in wanted]
                )
            except TopicAlreadyExistsError:
                pass
            created = wanted
    finally:
        await admin.close()
    return created


def consumed_topics(configured: Iterable[str] = ()) -> list[str]:
    """The topics the worker's consumer group reads."""
    return [*(names.raw_topic(c) for c in names.raw_carriers(configured)), names.TRACKING_EVENTS,
            names.SHIPMENTS_REGISTERED, names.SHIPMENT_CHANGES, names.DEADLETTER]


async def consumer_lag(settings: Settings) -> dict[str, int]:
    """Messages behind the log end per topic, for the app's consumer group."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=5000)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    try:
        await admin.start()
        await consumer.start()
        committed = await admin.list_consumer_group_offsets(settings.app_id)
        tracked = [TopicPartition(t, p) for t in consumed_topics(settings.configured_carriers)
                   for p in range(settings.partitions)]
        ends = await consumer.end_offsets(tracked)
        lag: dict[str, int] = {}
        for tp, end in ends.items():
            meta = committed.get(tp)
            position = meta.offset if meta is not None and meta.offset >= 0 else 0
            lag[tp.topic] = lag.get(tp.topic, 0) + max(0, end - position)
        return lag
    finally:
        await consumer.stop()
        await admin.close()
