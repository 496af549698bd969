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
    """Sends messages, awaiting acknowledgements whenever ``window`` are in flight and in ``drain``.
    The counters follow the acknowledgements as they arrive."""

    producer: AIOKafkaProducer
    window: int = 1000
    ack_timeout: float = 60.0
    acked: int = 0  # messages the broker acknowledged
    acked_payloads: int = 0  # carrier payloads among them
    acked_events: int = 0  # native items in them (chunks)
    acked_bytes: int = 0

    def __post_init__(self) -> None:
        self._pending: list[asyncio.Future[object]] = []
        self._failure: BaseException | None = None

    def _done(self, message: FeedMessage, future: asyncio.Future[object]) -> None:
        if future.cancelled():
            self._failure = self._failure or asyncio.CancelledError()
        elif future.exception() is not None:
            self._failure = self._failure or future.exception()
        else:
            self.acked += 1
            self.acked_payloads += int(message.events == 0)
            self.acked_events += message.events
            self.acked_bytes += len(message.value)

    async def send(self, message: FeedMessage) -> None:
        try:
            future = await self.producer.send(message.topic, message.value, key=message.key,
                                              partition=message.partition, headers=message.headers)
        except KafkaError as exc:
            await self._settle()
            raise SendFailed(f"the broker refused a message ({type(exc).__name__}: {exc})") from exc
        future.add_done_callback(lambda done: self._done(message, done))
        self._pending.append(future)
        if len(self._pending) >= self.window:
            await self.drain()

    async def _settle(self) -> None:
        pending, self._pending = self._pending, []
        if not pending:
            return
        try:
            await asyncio.wait_for(asyncio.gather(*pending, return_exceptions=True), self.ack_timeout)
        except TimeoutError as exc:
            self._failure = self._failure or exc

    async def drain(self) -> None:
        """Await every message in flight; ``SendFailed`` if any was not acknowledged."""
        await self._settle()
        failure = self._failure
        if failure is not None:
            raise SendFailed(f"the broker did not acknowledge a message ({type(failure).__name__}"
                             f"{': ' + str(failure) if str(failure) else ''})") from failure
