"""The poller service: one loop per carrier account, run only by the process holding its lock.

Exactly one poller per account across all workers: each account loop takes a PostgreSQL session
advisory lock on a dedicated connection and polls only while it holds it. When that process dies
its connection closes, PostgreSQL releases the lock, and another worker's loop (retrying every few
seconds) takes over from the stored schedule (``poll_state``), so a restart resumes where it was,
without a storm.

A poll cycle: select the shipments that are due (active, not retired, ``next_poll_at`` passed),
fetch them in the carrier's batch size through the account's token bucket, classify each response
with the carrier's pure adapter (not found, unchanged since the last poll, changed, error), publish
what changed to ``carrier.<carrier>.raw`` (acks=all) and only then record the next poll time.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError
from psycopg_pool import AsyncConnectionPool

import carriers
from agents.mapping_overrides import MappingOverrides, apply_overrides
from carriers.base import CarrierErrorResponse, CodeMapping, ParseError
from pollers.accounts import Account
from pollers.clients import CLIENTS
from pollers.clients.base import HTTP_STATUS_HEADER, CarrierClient, Fetched, Target
from pollers.http import AuthError, CarrierHttp, PollError, RateLimited, RequestRejected
from pollers.ratelimit import TokenBucket
from pollers.schedule import Throttle, next_poll
from pollers.store import PollRecord, PollStore
from schemas.events import format_utc
from schemas.raw import ENVELOPE_HEADER, ENVELOPE_VERSION, PACK_BYTES, RawItem, pack
from schemas.raw import groups as raw_groups
from trackstream import crash, metrics
from trackstream.topics import raw_topic

log = logging.getLogger(__name__)

#: First key of the two-key advisory lock; the second is hashtext(account name).
LOCK_CLASS = 7_420_114
LEASE_RENEW_SECONDS = 5.0
OVERRIDES_REFRESH_SECONDS = 30.0  # operators' code mappings, reloaded for scheduling decisions
DUE_BATCHES = 20  # shipments fetched from the schedule per cycle, in batches of the carrier's size
STOP_GRACE_SECONDS = 5.0  # after stop(): how long a poll in flight may finish before it is cancelled


@dataclass(frozen=True)
class Outcome:
    """What one response means for one of the numbers it answers for."""

    result: str  # changed | unchanged | not_found | error
    status: str | None = None  # newest status in the response
    payload_hash: str | None = None
    error: str | None = None


def classify(carrier: str, fetched: Fetched, previous: Mapping[str, str | None], now: datetime,
             overrides: Mapping[tuple[str, str], CodeMapping] | None = None) -> tuple[bool, dict[str, Outcome]]:
    """Parse a response with the carrier's adapter (pure); returns whether to publish it and the
    outcome per number. Unparseable responses and carrier errors are published, so they reach the
    dead-letter topic with their reason; "not found" and unchanged responses are not. ``overrides``
    (operators' code mappings) decide the status the schedule sees, as they decide the stored one.
    A parser that crashes (a bug, not a ``ParseError``) is treated like an unparseable answer: the
    answer is published, so the normalizer keeps it as an ``internal_error`` dead letter, instead of
    the poller loop crashing on it again at every poll."""
    parser = carriers.get_parser(carrier)
    if parser is None:
        raise ValueError(f"no adapter for {carrier}")
    headers = {**fetched.headers, "content-type": fetched.content_type}
    try:
        events = parser(fetched.payload, headers, now)
    except CarrierErrorResponse as exc:
        if exc.not_found:
            return False, {n: Outcome("not_found") for n in fetched.numbers}
        return True, {n: Outcome("error", error=str(exc)[:500]) for n in fetched.numbers}
    except ParseError as exc:
        if fetched.headers.get(HTTP_STATUS_HEADER) == "404":
            return False, {n: Outcome("not_found") for n in fetched.numbers}
        return True, {n: Outcome("error", error=str(exc)[:500]) for n in fetched.numbers}
    except Exception as exc:  # a parser bug: published like an unparseable answer, not a poller crash
        summary = crash.summary(carrier, exc)
        log.error("%s, on a poll answer (published: the normalizer dead-letters it)\n%s", summary,
                  crash.safe_traceback(exc))
        return True, {n: Outcome("error", error=summary) for n in fetched.numbers}
    if overrides:
        events = apply_overrides(events, overrides)
    digest = hashlib.sha256(fetched.payload).hexdigest()[:32]
    outcomes: dict[str, Outcome] = {}
    publish = False
    for number in fetched.numbers:
        if number in fetched.failed:
            outcomes[number] = Outcome("error", error=fetched.failed[number][:500])
            continue
        own = [e for e in events if e.tracking_number == number]
        if not own and len(fetched.numbers) == 1:
            own = list(events)  # the carrier answered under another number (a package of the shipment)
        if not own:
            outcomes[number] = Outcome("not_found")
            continue
        newest = max(own, key=lambda e: e.occurred_at)
        if previous.get(number) == digest:
            outcomes[number] = Outcome("unchanged", newest.status, digest)
        else:
            outcomes[number] = Outcome("changed", newest.status, digest)
            publish = True
    if not fetched.numbers and events:
        publish = True  # a delta feed: whatever it reports is news
    return publish, outcomes


def chunks(items: Sequence[Target], size: int) -> list[Sequence[Target]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _kafka_headers(headers: Mapping[str, str]) -> list[tuple[str, bytes]]:
    return [(k, v.encode()) for k, v in headers.items()]


async def _wait(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout=max(0.0, seconds))


class AccountPoller:
    def __init__(self, account: Account, *, database_url: str, store: PollStore, producer: AIOKafkaProducer,
                 worker_id: str, stopping: asyncio.Event, lock_retry: float = 3.0,
                 rng: random.Random | None = None) -> None:
        self.account = account
        self.client_cls: type[CarrierClient] = CLIENTS[account.carrier]
        self.database_url = database_url
        self.store = store
        self.producer = producer
        self.worker_id = worker_id
        self.stopping = stopping
        self.lock_retry = lock_retry
        self.rng = rng or random.Random()
        self.leading = False
        self.delta_covered = False
        rate = self.client_cls.rate_limit(account)
        # the bucket belongs to the credential: it survives losing and regaining the lock
        self.bucket = TokenBucket(rate.requests, rate.per_seconds, rate.burst)
        self.throttle = Throttle(account.cadence)
        self.overrides = MappingOverrides()
        self._overrides_loaded = -OVERRIDES_REFRESH_SECONDS

    @property
    def carrier(self) -> str:
        return self.account.carrier

    async def run(self) -> None:
        while not self.stopping.is_set():
            try:
                # TCP keepalives: a dead database path is noticed in ~25 s, not after ~15 min
                async with await psycopg.AsyncConnection.connect(
                        self.database_url, autocommit=True, connect_timeout=10, keepalives=1, keepalives_idle=10,
                        keepalives_interval=5, keepalives_count=3) as conn:
                    cur = await conn.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))",
                                             (LOCK_CLASS, self.account.name))
                    row = await cur.fetchone()
                    if row and row[0]:
                        await self._lead(conn)
            except (psycopg.Error, OSError) as exc:
                log.warning("poller %s: database connection lost (%s)", self.account.name, exc)
            except Exception:
                log.exception("poller %s crashed; restarting it", self.account.name)
            finally:
                if self.leading:
                    log.info("poller %s: no longer polling in %s", self.account.name, self.worker_id)
                self.leading = False
                metrics.POLL_LEADER.labels(self.carrier, self.account.name).set(0)
            await _wait(self.stopping, self.lock_retry * self.rng.uniform(0.8, 1.2))

    async def _lead(self, lock: psycopg.AsyncConnection[Any]) -> None:
        self.leading = True
        metrics.POLL_LEADER.labels(self.carrier, self.account.name).set(1)
        log.info("poller %s (%s): polling in %s", self.account.name, self.carrier, self.worker_id)
        await self.store.lease(self.account.name, self.carrier, self.worker_id, acquired=True)
        http = CarrierHttp(self.carrier, self.account.name, self.bucket, timeout=self.account.timeout_seconds,
                           rng=self.rng)
        client = self.client_cls(self.account, http)
        self.delta_covered = client.supports_delta()
        cadence = self.account.cadence
        batch = self.client_cls.batch_size(self.account)
        loop = asyncio.get_running_loop()
        renewed = loop.time()
        next_delta = 0.0
        auth_failures = 0
        try:
            while not self.stopping.is_set():
                await self._alive(lock)  # raises when the lock's session is gone
                if loop.time() - renewed > LEASE_RENEW_SECONDS:
                    await self.store.lease(self.account.name, self.carrier, self.worker_id, acquired=False)
                    renewed = loop.time()
                if client.supports_delta() and loop.time() >= next_delta:
                    await self._delta(client)
                    next_delta = loop.time() + cadence.delta.total_seconds()
                if loop.time() - self._overrides_loaded >= OVERRIDES_REFRESH_SECONDS:
                    await self.overrides.refresh_from(self.store.pool)  # a failure keeps the last table
                    self._overrides_loaded = loop.time()
                now = datetime.now(UTC)
                targets = await self.store.due(self.account.name, self.carrier, self.account.customers,
                                               cadence.retire_after, now, batch * DUE_BATCHES)
                if not targets:
                    await _wait(self.stopping, cadence.idle.total_seconds())
                    continue
                for chunk in chunks(targets, batch):
                    if self.stopping.is_set():
                        break
                    await self._alive(lock)
                    try:
                        await self._poll(client, chunk)
                        auth_failures = 0
                    except AuthError as exc:
                        auth_failures += 1
                        pause = min(900.0, 30.0 * 2 ** min(auth_failures, 5))
                        log.error("poller %s: authentication failed (%s); pausing %.0fs", self.account.name, exc,
                                  pause)
                        await _wait(self.stopping, pause)
                        break
        finally:
            await http.close()

    @staticmethod
    async def _alive(lock: psycopg.AsyncConnection[Any]) -> None:
        """The lock's session still answers (a silently dropped network must not hang the loop)."""
        await asyncio.wait_for(lock.execute("SELECT 1"), timeout=LEASE_RENEW_SECONDS * 2)

    async def _poll(self, client: CarrierClient, chunk: Sequence[Target]) -> None:
        now = datetime.now(UTC)
        try:
            responses = await client.fetch(chunk)
        except RateLimited as exc:
            # not the shipments' fault: they stay due; the whole account pauses, longer each time
            pause = self.throttle.refused(exc.retry_after)
            self.bucket.penalize(pause)
            log.warning("poller %s: still rate limited after retries (%s); pausing %.0fs", self.account.name,
                        exc, pause)
            return
        except AuthError as exc:
            await self._record_errors(chunk, now, str(exc))
            raise
        except RequestRejected as exc:
            if len(chunk) > 1:
                # one malformed number can make the carrier refuse a whole batch: ask in halves, so
                # only the number at fault ends up with the error
                await self._poll_halves(client, chunk)
                return
            log.warning("poller %s: %s", self.account.name, exc)
            await self._record_errors(chunk, now, str(exc))
            return
        except PollError as exc:
            log.warning("poller %s: %s", self.account.name, exc)
            await self._record_errors(chunk, now, str(exc))
            return
        self.throttle.served()
        by_number = {t.tracking_number: t for t in chunk}
        previous = {t.tracking_number: t.payload_hash for t in chunk}
        outcomes: dict[str, Outcome] = {}
        to_publish: list[Fetched] = []
        for fetched in responses:
            publish, per_number = classify(self.carrier, fetched, previous, now, self.overrides.table)
            if publish:
                to_publish.append(fetched)
            for number, outcome in per_number.items():
                if number in by_number and (number not in outcomes or outcome.result == "changed"):
                    outcomes[number] = outcome
        if to_publish:
            try:
                published = await self._publish(to_publish, now)
            except MessageSizeTooLargeError as exc:
                if len(chunk) > 1:  # a smaller batch gives a smaller answer
                    await self._poll_halves(client, chunk)
                    return
                error = f"the carrier's answer is larger than the broker accepts ({exc})"
                log.error("poller %s: %s: %s", self.account.name, chunk[0].tracking_number, error)
                await self._record_errors(chunk, now, error)
                return
            if not published:
                return  # nothing recorded: they are polled again
        records = []
        for target in chunk:
            outcome = outcomes.get(target.tracking_number, Outcome("not_found"))
            status = outcome.status or target.status
            records.append(PollRecord(target, outcome.result,
                                      self._next(outcome.result, target, now, status),
                                      payload_hash=outcome.payload_hash, error=outcome.error))
            metrics.POLLED.labels(self.carrier, outcome.result).inc()
        await self._record(now, records)

    def _next(self, result: str, target: Target, now: datetime, status: str | None = None) -> datetime | None:
        return next_poll(result, status or target.status, now, self.account.cadence, failures=target.failures,
                         covered_by_delta=self.delta_covered, rng=self.rng)

    async def _poll_halves(self, client: CarrierClient, chunk: Sequence[Target]) -> None:
        middle = len(chunk) // 2
        await self._poll(client, chunk[:middle])
        await self._poll(client, chunk[middle:])

    async def _record_errors(self, chunk: Sequence[Target], now: datetime, error: str) -> None:
        await self._record(now, [PollRecord(t, "error", self._next("error", t, now), error=error[:500])
                                 for t in chunk])

    async def _record(self, now: datetime, records: Sequence[PollRecord]) -> None:
        await self.store.record(self.account.name, self.carrier, self.worker_id, now, records)

    async def _publish(self, responses: Sequence[Fetched], now: datetime) -> bool:
        topic = raw_topic(self.carrier)
        # one packed record per run that fits (schemas.raw): Faust handles one message per batch of
        # answers; an answer too large to share a record travels alone, as a single record
        runs = raw_groups([RawItem(r.payload, self._headers(r, now)) for r in responses], max_bytes=PACK_BYTES)
        try:
            await asyncio.gather(*(
                self.producer.send_and_wait(topic, run[0].payload, headers=_kafka_headers(run[0].headers))
                if len(run) == 1 else
                self.producer.send_and_wait(topic, pack(run), headers=[(ENVELOPE_HEADER, ENVELOPE_VERSION)])
                for run in runs
            ))
            return True
        except MessageSizeTooLargeError:
            raise  # retrying the same bytes cannot help
        except KafkaError as exc:
            log.warning("poller %s: the broker did not take %d responses (%s); they are polled again",
                        self.account.name, len(responses), exc)
            await _wait(self.stopping, 2.0)
            return False

    def _headers(self, fetched: Fetched, now: datetime) -> dict[str, str]:
        headers = {**fetched.headers, "content-type": fetched.content_type, "received-at": format_utc(now),
                   "source": "poll", "poll-account": self.account.name}
        return {k.lower(): v for k, v in headers.items()}

    async def _delta(self, client: CarrierClient) -> None:
        now = datetime.now(UTC)
        since = await self.store.cursor(self.account.name) or (now - self.account.cadence.delta)
        try:
            responses = await client.delta(since, now)
        except PollError as exc:
            log.warning("poller %s: delta feed failed (%s)", self.account.name, exc)
            return
        publish = [r for r in responses if classify(self.carrier, r, {}, now)[0]]
        if publish and not await self._publish(publish, now):
            return
        await self.store.set_cursor(self.account.name, now)


class PollerService:
    """Every configured account's loop, in this process; ``stop`` ends them."""

    def __init__(self, accounts: Sequence[Account], *, database_url: str, kafka_bootstrap: str, worker_id: str,
                 lock_retry: float = 3.0, stop_grace: float = STOP_GRACE_SECONDS) -> None:
        self.accounts = list(accounts)
        self.database_url = database_url
        self.kafka_bootstrap = kafka_bootstrap
        self.worker_id = worker_id
        self.lock_retry = lock_retry
        self.stop_grace = stop_grace
        self.stopping = asyncio.Event()
        self.pollers: list[AccountPoller] = []

    async def run(self) -> None:
        if not self.accounts:
            return
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            self.database_url, min_size=1, max_size=max(2, len(self.accounts)), open=False,
            kwargs={"autocommit": True}, name="trackstream-pollers")
        producer = AIOKafkaProducer(bootstrap_servers=self.kafka_bootstrap, acks="all", enable_idempotence=True,
                                    linger_ms=5, max_request_size=8 * 1024 * 1024)
        await pool.open(wait=False)
        while not self.stopping.is_set():
            try:
                await producer.start()
                break
            except KafkaError as exc:
                log.warning("pollers: Kafka not reachable yet (%s)", exc)
                await _wait(self.stopping, 2.0)
        store = PollStore(pool)
        self.pollers = [AccountPoller(a, database_url=self.database_url, store=store, producer=producer,
                                      worker_id=self.worker_id, stopping=self.stopping, lock_retry=self.lock_retry)
                        for a in self.accounts]
        tasks = [asyncio.create_task(p.run()) for p in self.pollers]
        try:
            await self.stopping.wait()
            # a poll in flight can wait minutes (a carrier's Retry-After, the account's throttle, HTTP
            # retries): it gets a grace period, then is cancelled; what it had not recorded stays due
            await asyncio.wait(tasks, timeout=self.stop_grace)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                await producer.stop()
            await pool.close()

    def stop(self) -> None:
        self.stopping.set()
