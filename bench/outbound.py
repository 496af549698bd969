"""``trackstream bench --outbound``: webhook deliveries per second to a local receiver, and the
time from an event's arrival (its ``received_at``) to its delivery, p50 and p99.

It starts its own stack (Kafka, PostgreSQL, the workers, the API) with private targets allowed,
subscribes (admin key) to ``shipments`` tracking numbers with a receiver on 127.0.0.1, posts
``events`` native events spread over them (``POST /v1/events``, batches of 50, in the order of
their times; all at once, or at ``rate`` events per second), and waits until the receiver has
every one. It also prints what the writer's
subscription lookup costs a batch when nobody subscribed (the hot path's price)."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import orjson
import psycopg
from aiohttp import web

from bench.stack import BenchStack
from bench.stats import Summary
from schemas.events import parse_utc
from sinks.outbound.subscriptions import _MATCH
from trackstream.keys_cli import read_key_file
from trackstream.settings import Settings
from trackstream.stack.ephemeral import free_port

CARRIER = "benchfleet"
POST_BATCH = 50
NUMBERS_PER_SUBSCRIPTION = 1000
EMPTY_LOOKUPS = 300


@dataclass
class Inbox:
    """The receiver's record: per delivery its arrival (Unix time) and body."""

    got: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        self.got.append((time.time(), body))
        self.changed.set()
        return web.Response(status=204)


def lookup_cost(database_url: str, keys: int = 200) -> float:
    """Mean seconds of the writer's subscription lookup for a batch of ``keys`` shipments nobody
    subscribed to."""
    batch = [f"{CARRIER}:NOBODY{i}" for i in range(keys)]
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(_MATCH, {"keys": batch, "customers": [None] * keys})
        began = time.perf_counter()
        for _ in range(EMPTY_LOOKUPS):
            conn.execute(_MATCH, {"keys": batch, "customers": [None] * keys}).fetchall()
        return (time.perf_counter() - began) / EMPTY_LOOKUPS


async def _measure(bench: BenchStack, shipments: int, events: int, rate: float) -> int:
    settings = bench.settings
    key = read_key_file(settings.admin_key_path)
    if key is None:
        print(f"bench: no admin key in {settings.admin_key_path}")
        return 1
    inbox = Inbox()
    app = web.Application()
    app.router.add_post("/hook", inbox.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    prefix = f"OB{uuid.uuid4().hex[:8].upper()}"
    numbers = [f"{prefix}{i:06d}" for i in range(shipments)]
    try:
        async with aiohttp.ClientSession(base_url=bench.base_url,
                                         headers={"Authorization": f"Bearer {key}"}) as http:
            for start in range(0, shipments, NUMBERS_PER_SUBSCRIPTION):
                chunk = numbers[start:start + NUMBERS_PER_SUBSCRIPTION]
                async with http.post("/v1/subscriptions", json={
                        "url": f"http://127.0.0.1:{port}/hook", "kinds": ["event"],
                        "tracking_numbers": [{"carrier": CARRIER, "tracking_number": n} for n in chunk]}) as resp:
                    if resp.status != 201:
                        print(f"bench: subscribing failed: {resp.status} {await resp.text()}")
                        return 1
            base = datetime(2026, 11, 1, tzinfo=UTC)
            items = [{"carrier": CARRIER, "tracking_number": numbers[i % shipments], "status": "in_transit",
                      "code": "BENCH", "event_id": f"{prefix}-{i}",
                      "occurred_at": (base + timedelta(seconds=i)).isoformat()} for i in range(events)]
            size = POST_BATCH if rate <= 0 else max(1, min(POST_BATCH, round(rate / 20)))
            pace = f"at {rate:g} events/s" if rate > 0 else "as fast as the API takes them"
            print(f"outbound: {events:,} events over {shipments:,} subscribed shipments, posted in batches of "
                  f"{size} {pace} ...", flush=True)
            began = time.time()
            for start in range(0, events, size):
                if rate > 0:
                    await asyncio.sleep(max(0.0, began + start / rate - time.time()))
                async with http.post("/v1/events", json=items[start:start + size]) as resp:
                    if resp.status != 202:
                        print(f"bench: POST /v1/events answered {resp.status}: {await resp.text()}")
                        return 1
            posted = time.time()
        last_progress = time.monotonic()
        seen = 0
        while len(inbox.got) < events and time.monotonic() - last_progress < 60:
            inbox.changed.clear()
            try:
                await asyncio.wait_for(inbox.changed.wait(), 1.0)
            except TimeoutError:
                pass
            if len(inbox.got) != seen:
                seen, last_progress = len(inbox.got), time.monotonic()
    finally:
        await runner.cleanup()
    got = inbox.got
    ids = [body["event_id"] for _, body in got]
    latency = [at - parse_utc(body["received_at"]).timestamp() for at, body in got]
    per_shipment: dict[str, list[int]] = {}
    for _, body in got:
        per_shipment.setdefault(body["tracking_number"], []).append(body["sequence"])
    out_of_order = sum(seqs != sorted(seqs) for seqs in per_shipment.values())
    first, last = (got[0][0], got[-1][0]) if got else (began, began)
    span = max(last - first, 1e-9)
    summary = Summary.of(latency)
    print()
    print(f"events posted:                        {events:,} in {posted - began:.1f} s")
    print(f"webhooks delivered:                   {len(got):,} ({len(set(ids)):,} distinct, "
          f"{len(got) - len(set(ids)):,} twice, {events - len(set(ids)):,} missing)")
    print(f"deliveries per second:                {len(got) / span:,.0f} (first to last delivery, {span:.1f} s)")
    print(f"received_at → delivered:              {summary.ms() if summary else 'n/a'}")
    print(f"shipments delivered out of order:     {out_of_order}")
    empty = lookup_cost(settings.database_url)
    print(f"writer lookup, nobody subscribed:     {empty * 1000:.2f} ms per batch of 200 shipments")
    return 0 if len(set(ids)) == events and out_of_order == 0 else 1


def run_outbound(settings: Settings, *, shipments: int, events: int, workers: int, rate: float = 0.0) -> int:
    env = {"TRACKSTREAM_OUTBOUND_ALLOW_PRIVATE": "true", "TRACKSTREAM_OUTBOUND_POLL_SECONDS": "0.5",
           "TRACKSTREAM_KEY_RATE_LIMIT": "0"}
    bench = BenchStack.start(settings, external=False, workers=workers, api=True, extra_env=env)
    try:
        return asyncio.run(_measure(bench, shipments, events, rate))
    finally:
        bench.stop()
