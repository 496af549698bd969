"""Pack concurrent raw writes into one Kafka record (group commit), so Faust handles one message for
many webhooks at peak, and a caller still waits for the broker's acknowledgement of its payload.

Per topic: a payload that arrives while no write is in flight goes out at once, alone (latency at
low load is one broker round trip, as before). Payloads that arrive while ``max_in_flight`` writes
are in flight wait, and the next write takes all of them that fit (``max_items``, ``max_bytes``) as
one packed record (``schemas.raw``). Every caller's ``put`` returns when the record holding its
payload is acknowledged, and raises what the write raised otherwise, so nobody gets a 2xx for a
payload that is not in the broker. A payload larger than ``max_bytes`` travels alone.

A caller that gives up (its HTTP client went away, its timeout passed) does not take its payload
back: it is sent anyway, which at-least-once delivery and the pipeline's deduplication allow.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from schemas.raw import ENVELOPE_HEADER, ENVELOPE_VERSION, MAGIC, PACK_BYTES, RawItem, item_size, pack

log = logging.getLogger(__name__)

#: (topic, value, kafka headers) → acknowledged by the broker, or raises.
Send = Callable[[str, bytes, list[tuple[str, bytes]]], Awaitable[None]]


@dataclass(slots=True)
class _Pending:
    item: RawItem
    size: int
    done: asyncio.Future[int]  # the number of payloads in the record that carried it


@dataclass(slots=True)
class _Topic:
    waiting: deque[_Pending] = field(default_factory=deque)
    in_flight: int = 0


class RawPacker:
    def __init__(self, send: Send, *, max_items: int = 100, max_bytes: int = PACK_BYTES,
                 max_in_flight: int = 2) -> None:
        if max_items < 1 or max_bytes < 1 or max_in_flight < 1:
            raise ValueError("max_items, max_bytes and max_in_flight must be positive")
        self._send = send
        self.max_items = max_items
        self.max_bytes = max_bytes
        self.max_in_flight = max_in_flight
        self._topics: dict[str, _Topic] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.records = 0  # records written (for the benchmark and tests)
        self.payloads = 0  # payloads acknowledged

    async def put(self, topic: str, payload: bytes, headers: Mapping[str, str]) -> int:
        """Write ``payload`` to ``topic``; returns once the broker acknowledged the record holding
        it (the number of payloads that record held), raises what the write raised."""
        item = RawItem(payload, dict(headers))
        pending = _Pending(item, item_size(item), asyncio.get_running_loop().create_future())
        state = self._topics.setdefault(topic, _Topic())
        state.waiting.append(pending)
        self._maybe_write(topic, state)
        return await asyncio.shield(pending.done)

    def _maybe_write(self, topic: str, state: _Topic) -> None:
        while state.waiting and state.in_flight < self.max_in_flight:
            batch = self._take(state)
            state.in_flight += 1
            task = asyncio.create_task(self._write(topic, state, batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _take(self, state: _Topic) -> list[_Pending]:
        batch = [state.waiting.popleft()]
        size = len(MAGIC) + 4 + batch[0].size
        while state.waiting and len(batch) < self.max_items and size + state.waiting[0].size <= self.max_bytes:
            nxt = state.waiting.popleft()
            batch.append(nxt)
            size += nxt.size
        return batch

    async def _write(self, topic: str, state: _Topic, batch: list[_Pending]) -> None:
        try:
            value = pack([p.item for p in batch])
            await self._send(topic, value, [(ENVELOPE_HEADER, ENVELOPE_VERSION)])
        except BaseException as exc:  # every waiting caller learns what happened to its payload
            for p in batch:
                if not p.done.done():
                    p.done.set_exception(exc if isinstance(exc, Exception) else ConnectionError(repr(exc)))
            if not isinstance(exc, Exception):
                raise
        else:
            self.records += 1
            self.payloads += len(batch)
            for p in batch:
                if not p.done.done():
                    p.done.set_result(len(batch))
        finally:
            state.in_flight -= 1
            self._maybe_write(topic, state)

    async def drain(self) -> None:
        """Wait for every write started or waiting (at shutdown, before the producer stops)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
