"""The dispatcher: takes due messages from the queue and delivers them.

It runs in every worker (``agents.outbound``) and alone (``trackstream deliver``); any number of
them share the queue (``store.claim``). It wakes when a writer queues something (PostgreSQL
``NOTIFY``), when one of its deliveries finishes (the next message of that shipment may be due
now) and at least every ``TRACKSTREAM_OUTBOUND_POLL_SECONDS`` (retries that became due). A 2xx
answer is a success; a timeout, a connection error, a refused address or any other status is a
failure, retried on ``policy.next_attempt``'s schedule. Redirects are not followed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from sinks.outbound import guard, store
from sinks.outbound.signing import webhook_headers
from trackstream import metrics
from trackstream.settings import OutboundSettings

log = logging.getLogger(__name__)

USER_AGENT = "trackstream-webhooks/1"
MAX_ERROR_CHARS = 300
STOP_GRACE_SECONDS = 5.0
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


async def _wait(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)


def http_session(settings: OutboundSettings) -> aiohttp.ClientSession:
    """The client deliveries go through: its resolver keeps only allowed addresses (``guard``), no
    proxy from the environment."""
    connector = aiohttp.TCPConnector(resolver=guard.GuardedResolver(settings.allow_private),
                                     limit=settings.concurrency, ttl_dns_cache=10)
    return aiohttp.ClientSession(connector=connector, trust_env=False,
                                 headers={"User-Agent": USER_AGENT, "Content-Type": "application/json"})


class Dispatcher:
    def __init__(self, database_url: str, settings: OutboundSettings, worker_id: str, *,
                 clock: Clock = utc_now, rng: random.Random | None = None, pool_size: int = 4) -> None:
        self.database_url = database_url
        self.settings = settings
        self.worker_id = worker_id
        self.clock = clock
        self.rng = rng or random.Random()
        self.pool = AsyncConnectionPool(database_url, min_size=1, max_size=pool_size, open=False, timeout=10,
                                        kwargs={"autocommit": True}, name="trackstream-outbound")
        self.stopping = asyncio.Event()
        self.wake = asyncio.Event()
        self.delivered = 0  # attempts that succeeded, in this process

    def stop(self) -> None:
        self.stopping.set()

    async def run(self) -> None:
        await self.pool.open(wait=False)
        session = http_session(self.settings)
        listener = asyncio.create_task(self._listen())
        inflight: set[asyncio.Task[None]] = set()
        try:
            while not self.stopping.is_set():
                self.wake.clear()
                free = self.settings.concurrency - len(inflight)
                claimed: list[store.Claimed] = []
                if free > 0:
                    try:
                        claimed = await self._claim(free)
                    except (psycopg.OperationalError, PoolTimeout) as exc:
                        log.warning("outbound: the queue is not reachable (%s); retrying", exc)
                        await _wait(self.stopping, 2.0)
                        continue
                    for message in claimed:
                        inflight.add(asyncio.create_task(self._deliver(session, message)))
                if claimed and len(claimed) == free:
                    continue  # more may be due: claim again once a slot is free
                waiters = {asyncio.create_task(self.wake.wait()), asyncio.create_task(self.stopping.wait())}
                done, _ = await asyncio.wait(inflight | waiters, timeout=self.settings.poll_seconds,
                                             return_when=asyncio.FIRST_COMPLETED)
                for waiter in waiters:
                    waiter.cancel()
                inflight -= {t for t in done if t not in waiters}
                inflight = {t for t in inflight if not t.done()}
        finally:
            if inflight:
                await asyncio.wait(inflight, timeout=STOP_GRACE_SECONDS)
                for task in inflight:
                    task.cancel()
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
            await session.close()
            await self.pool.close()

    async def _claim(self, limit: int) -> list[store.Claimed]:
        async with self.pool.connection() as conn:
            return await store.claim(conn, limit=limit, now=self.clock(), lease_seconds=self.settings.timeout_seconds,
                                     worker=self.worker_id)

    async def _listen(self) -> None:
        """Wake the loop on every NOTIFY of the queue's channel; reconnect when the link drops."""
        while not self.stopping.is_set():
            try:
                async with await psycopg.AsyncConnection.connect(self.database_url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {store.NOTIFY_CHANNEL}")
                    async for _ in conn.notifies():
                        self.wake.set()
            except psycopg.OperationalError as exc:
                log.debug("outbound: notification link lost (%s)", exc)
                await _wait(self.stopping, 2.0)

    async def _deliver(self, session: aiohttp.ClientSession, message: store.Claimed) -> None:
        """One attempt and its record. The service boundary: whatever goes wrong here is logged, and
        the message's lease expires, so it is tried again."""
        try:
            result = await self.attempt(session, message)
            async with self.pool.connection() as conn:
                recorded = await store.record(conn, message, result, self.clock(), self.settings, self.rng)
            metrics.OUTBOUND_ATTEMPTS.labels(recorded.outcome).inc()
            if recorded.paused:
                metrics.OUTBOUND_PAUSED.inc()
                log.warning("outbound: %s %s paused: it kept failing", message.destination_kind,
                            message.destination_id)
            if recorded.outcome == "delivered":
                self.delivered += 1
            elif recorded.outcome == "given_up":
                log.warning("outbound: gave up %s to %s after %d attempts", message.webhook_id,
                            message.destination_id, message.attempts + 1)
        except Exception:
            log.exception("outbound: delivering %s failed unexpectedly; it is retried when its lease expires",
                          message.webhook_id)
        finally:
            self.wake.set()

    async def attempt(self, session: aiohttp.ClientSession, message: store.Claimed) -> store.AttemptResult:
        """POST the message, signed; what came of it."""
        attempted_at = self.clock()
        body = message.body()
        headers = webhook_headers(message.webhook_id, int(attempted_at.timestamp()), body, message.secrets)
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        try:
            guard.check_literal(message.url, self.settings.allow_private)
            timeout = aiohttp.ClientTimeout(total=self.settings.timeout_seconds)
            async with session.post(message.url, data=body, headers=headers, timeout=timeout,
                                    allow_redirects=False) as response:
                status = response.status
                await response.content.read(4096)  # a little of the answer; the rest is dropped
        except guard.TargetRefused as exc:
            error = f"target refused: {exc}"
        except aiohttp.ClientConnectorError as exc:
            cause: Any = exc.os_error
            error = (f"target refused: {cause}" if isinstance(cause, guard.TargetRefused)
                     else f"connection failed: {cause}")
        except TimeoutError:
            error = f"no answer within {self.settings.timeout_seconds:g}s"
        except aiohttp.ClientError as exc:
            error = f"{type(exc).__name__}: {exc}"
        duration = time.perf_counter() - started
        metrics.OUTBOUND_SECONDS.observe(duration)
        return store.AttemptResult(attempted_at=attempted_at, duration_ms=duration * 1000.0, status_code=status,
                                   error=error[:MAX_ERROR_CHARS] if error else None)
