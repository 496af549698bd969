"""``/metrics`` measures consumer lag at a bounded cost: one pair of Kafka clients kept open, at
most one broker round trip per ``TRACKSTREAM_LAG_REFRESH_SECONDS``, however often it is scraped.
Against the session's real broker."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid

import aiohttp

from tests.conftest import System
from trackstream.admin import LagProbe, consumer_lag
from trackstream.stack.ephemeral import free_port


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_many_scrapes_cost_one_measurement_per_interval(system: System) -> None:
    # a group with no committed offsets: its lag is the log end, the same as a one-off measurement
    settings = dataclasses.replace(system.settings, app_id=f"lag-probe-{uuid.uuid4().hex[:8]}")
    clock = Clock()
    probe = LagProbe(settings, refresh_seconds=10, clock=clock)
    try:
        before = await consumer_lag(settings)
        results = await asyncio.gather(*(probe.lag() for _ in range(20)))  # concurrent scrapes
        after = await consumer_lag(settings)
        assert probe.measurements == 1
        expected = results[0]
        assert expected is not None and all(r is expected for r in results)  # one measurement, shared
        # the session's worker keeps writing; log ends only grow, so the figure lies between
        assert set(expected) == set(before) >= {"tracking.events", "shipment.changes"}
        assert all(before[t] <= expected[t] <= after[t] for t in expected), (before, expected, after)
        first_clients = probe._clients
        for _ in range(50):
            clock.now += 0.1  # 5 s of scrapes every 100 ms
            assert await probe.lag() == expected
        assert probe.measurements == 1
        clock.now += 10
        await probe.lag()
        assert probe.measurements == 2
        assert probe._clients is first_clients  # the same admin client and consumer, not new ones
    finally:
        await probe.close()
    assert probe._clients is None


async def test_a_broker_that_is_down_is_asked_once_per_interval(system: System) -> None:
    settings = dataclasses.replace(system.settings, kafka_bootstrap=f"127.0.0.1:{free_port()}")
    clock = Clock()
    probe = LagProbe(settings, refresh_seconds=10, timeout=1.0, clock=clock)
    try:
        assert await probe.lag() is None
        for _ in range(10):
            assert await probe.lag() is None
        assert probe.measurements == 1
        assert probe._clients is None  # dropped after the failure, reopened on the next measurement
    finally:
        await probe.close()


async def test_metrics_reports_lag_from_the_probe(http: aiohttp.ClientSession) -> None:
    for _ in range(3):
        async with http.get("/metrics") as resp:
            assert resp.status == 200
            text = await resp.text()
    assert 'trackstream_consumer_lag_messages{topic="tracking.events"}' in text
