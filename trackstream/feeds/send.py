"""Sending feed messages: an idempotent ``acks=all`` producer, and a sender that keeps a bounded
window of messages in flight and counts only what the broker acknowledged."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from trackstream.feeds.read import FeedMessage


class SendFailed(Exception):
    """The broker did not take (or acknowledge) a message; ``Sender`` counts what it did take."""


def make_producer(bootstrap: str, max_payload_bytes: int) -> AIOKafkaProducer:
    """The producer every feed uses: acknowledged by all in-sync replicas, idempotent (a retried
    batch is never written twice, order per partition is kept), batching for throughput."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=10,
        max_batch_size=256 * 1024, request_timeout_ms=15000,
        max_request_size=max(1048576, max_payload_bytes * 2),
    )


async def partitions_of(producer: AIOKafkaProducer, topic: str) -> int:
    try:
        found = await producer.partitions_for(topic)
    except KafkaError as exc:
        raise SendFailed(f"topic {topic} is not available ({type(exc).__name__}); a worker creates the "
                         "topics when it starts") from exc
    if not found:
        raise SendFailed(f"topic {topic} has no partitions")
    return len(found)


@dataclass
class Sender:
    """Sends messages, awaiting acknowledgements whenever ``window`` are in flight and in ``drain``."""

    producer: AIOKafkaProducer
    window: int = 1000
    ack_timeout: float = 60.0
    acked: int = 0  # messages the broker acknowledged
    acked_payloads: int = 0  # carrier payloads among them
    acked_events: int = 0  # native items in them (chunks)
    acked_bytes: int = 0

    def __post_init__(self) -> None:
        self._pending: list[tuple[asyncio.Future[object], FeedMessage]] = []

    async def send(self, message: FeedMessage) -> None:
        try:
            future = await self.producer.send(message.topic, message.value, key=message.key,
                                              partition=message.partition, headers=message.headers)
        except KafkaError as exc:
            await self._settle()
            raise SendFailed(f"the broker refused a message ({type(exc).__name__}: {exc})") from exc
        self._pending.append((future, message))
        if len(self._pending) >= self.window:
            await self.drain()

    async def _settle(self) -> BaseException | None:
        pending, self._pending = self._pending, []
        if not pending:
            return None
        try:
            results = await asyncio.wait_for(
                asyncio.gather(*(f for f, _ in pending), return_exceptions=True), self.ack_timeout)
        except TimeoutError as exc:
            return exc
        failure: BaseException | None = None
        for (_, message), result in zip(pending, results, strict=True):
            if isinstance(result, BaseException):
                failure = failure or result
            else:
                self.acked += 1
                self.acked_payloads += int(message.events == 0)
                self.acked_events += message.events
                self.acked_bytes += len(message.value)
        return failure

    async def drain(self) -> None:
        """Await every message in flight; ``SendFailed`` if any was not acknowledged."""
        failure = await self._settle()
        if failure is not None:
            raise SendFailed(f"the broker did not acknowledge a message ({type(failure).__name__}"
                             f"{': ' + str(failure) if str(failure) else ''})") from failure
