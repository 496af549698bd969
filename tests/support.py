"""Helpers shared by the tests that run the real system: free ports, the stack, HTTP and SQL."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from api.access import Principal
from api.auth import VERIFIER
from api.errors import ApiError
from schemas.raw import RawItem
from schemas.raw import items as raw_items
from trackstream.settings import Settings
from trackstream.stack.ephemeral import free_port, remove_stack_data, stack_env

__all__ = ["eventually", "free_port", "remove_stack_data", "settings_from", "stack_env", "with_test_carriers"]

#: Carriers defined by a file only (no Python module), loaded by the test system's worker and API.
TEST_CARRIERS = Path(__file__).resolve().parent / "fixtures" / "carriers"
PIGEONPOST_SECRET = "test-pigeonpost-secret"


def with_test_carriers(env: dict[str, str], data_dir: Path) -> dict[str, str]:
    """``env`` plus the test carrier definitions, copied into a folder of the stack's own
    (``TRACKSTREAM_CARRIERS_DIR``), and their webhook secrets."""
    folder = data_dir / "carriers"
    folder.mkdir(parents=True, exist_ok=True)
    for definition in TEST_CARRIERS.glob("*.yaml"):
        shutil.copy(definition, folder / definition.name)
    return {**env, "TRACKSTREAM_CARRIERS_DIR": str(folder), "PIGEONPOST_WEBHOOK_SECRET": PIGEONPOST_SECRET}


def settings_from(env: dict[str, str]) -> Settings:
    return Settings.from_env(env)


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 60.0,
                     interval: float = 0.25, what: str = "condition") -> Any:
    """Poll ``check`` until it returns a truthy value; the last value or error is in the failure."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = await check()
            if last:
                return last
        except AssertionError as exc:
            last = exc
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


async def raw_records(settings: Settings, carrier: str, timeout: float = 30.0) -> list[tuple[bytes, dict[str, str]]]:
    """Every record on ``carrier.<carrier>.raw`` (value, lower-cased headers), read from the broker
    from the beginning to the end offsets it had when asked."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from trackstream.topics import raw_topic

    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        topic = raw_topic(carrier)
        partitions = [TopicPartition(topic, p) for p in range(settings.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: list[tuple[bytes, dict[str, str]]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                found += [(r.value or b"", {k.lower(): v.decode("utf-8", "replace") for k, v in r.headers})
                          for r in records if r.offset < ends[TopicPartition(r.topic, r.partition)]]
            positions = {tp: await consumer.position(tp) for tp in partitions}
            if all(positions[tp] >= ends[tp] for tp in partitions):
                return found
        raise AssertionError(f"{carrier}: did not reach the end of the raw topic in {timeout}s")
    finally:
        await consumer.stop()


async def raw_payloads(settings: Settings, carrier: str, needle: bytes, timeout: float = 30.0) -> list[RawItem]:
    """Every payload on ``carrier.<carrier>.raw`` that contains ``needle``, as the normalizer reads
    it: the items of packed records (``schemas.raw``), single records as they are."""
    return [item for value, headers in await raw_records(settings, carrier, timeout)
            for item in raw_items(value, headers) if needle in item.payload]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


ADMIN_PRINCIPAL = Principal(key_id="tsk_000000000000", name="in-process admin", scopes=frozenset({"admin"}),
                            customers=None, carriers=frozenset(), personal_data=True, rate_limit=0.0)


def admit_one_key(app: web.Application, principal: Principal = ADMIN_PRINCIPAL) -> dict[str, str]:
    """After the app started (its ``cleanup_ctx`` ran): it accepts one made-up key; returns the
    headers that send it. Only for handler tests that run with no database at all; anything with
    a database uses real keys (``System.admin_key``, ``create_key``)."""
    key = f"{principal.key_id}.{'k' * 43}"

    async def verify(given: str, now: datetime) -> Principal:
        if given != key:
            raise ApiError(401, "invalid_key", "not the in-process test key")
        return principal

    app[VERIFIER].verify = verify  # type: ignore[method-assign,assignment]  # never looks anything up
    return bearer(key)
