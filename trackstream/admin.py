"""Kafka administration: create trackstream's topics with the right partition counts, and measure
consumer lag from the broker (committed offsets of the app's group against the log end)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable

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


async def _measure(settings: Settings, admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer) -> dict[str, int]:
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


async def consumer_lag(settings: Settings) -> dict[str, int]:
    """Messages behind the log end per topic, for the app's consumer group (one-off clients)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=5000)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    try:
        await admin.start()
        await consumer.start()
        return await _measure(settings, admin, consumer)
    finally:
        await consumer.stop()
        await admin.close()


class LagProbe:
    """Consumer lag at a bounded cost per scrape, for ``/metrics``.

    One admin client and one consumer, opened on first use and kept (reopened after a failure);
    at most one measurement per ``refresh_seconds`` whatever the scrape rate (a failed one counts
    too, so a broker that is down is not asked on every scrape); scrapes that arrive while a
    measurement runs wait for that one instead of starting their own. ``lag()`` returns the
    newest figures, or None when no measurement has succeeded yet.
    """

    def __init__(self, settings: Settings, *, refresh_seconds: float | None = None, timeout: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.refresh_seconds = settings.lag_refresh_seconds if refresh_seconds is None else refresh_seconds
        self.timeout = timeout
        self.clock = clock
        self.measurements = 0  # broker round trips started (for tests and the curious)
        self._clients: tuple[AIOKafkaAdminClient, AIOKafkaConsumer] | None = None
        self._last: dict[str, int] | None = None
        self._measured_at: float | None = None
        self._inflight: asyncio.Future[None] | None = None

    def due(self) -> bool:
        return self._measured_at is None or self.clock() - self._measured_at >= self.refresh_seconds

    async def lag(self) -> dict[str, int] | None:
        if self._inflight is None and self.due():
            self._measured_at = self.clock()
            self.measurements += 1
            self._inflight = asyncio.ensure_future(self._refresh())
        inflight = self._inflight
        if inflight is not None:
            await asyncio.shield(inflight)  # a scrape that gives up does not cancel the shared measurement
        return self._last

    async def _refresh(self) -> None:
        try:
            self._last = await asyncio.wait_for(self._measure(), timeout=self.timeout)
        except Exception as exc:  # the broker being away must not fail the scrape
            log.debug("consumer lag unavailable: %s", exc)
            await self._drop_clients()
        finally:
            self._inflight = None

    async def _measure(self) -> dict[str, int]:
        if self._clients is None:
            servers = self.settings.kafka_bootstrap
            admin = AIOKafkaAdminClient(bootstrap_servers=servers, request_timeout_ms=int(self.timeout * 1000))
            consumer = AIOKafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False)
            self._clients = (admin, consumer)
            await admin.start()
            await consumer.start()
        admin, consumer = self._clients
        return await _measure(self.settings, admin, consumer)

    async def _drop_clients(self) -> None:
        clients, self._clients = self._clients, None
        if clients is not None:
            admin, consumer = clients
            with contextlib.suppress(Exception):
                await consumer.stop()
            with contextlib.suppress(Exception):
                await admin.close()

    async def close(self) -> None:
        inflight = self._inflight
        if inflight is not None:
            inflight.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await inflight
        await self._drop_clients()
