"""``trackstream bench``: the pipeline end to end against the plain aiokafka round trip.

1. Starts the local stack (Kafka, PostgreSQL, the workers) in a temporary folder on free ports,
   unless ``--external`` points it at a running one.
2. Writes the mixed-carrier workload (``bench.workload``) to the raw carrier topics as fast as the
   producer goes, the way sources write them: per carrier, runs of payloads as packed raw records
   (``schemas.raw.groups`` / ``pack``, at most ``PACK_ITEMS`` payloads or ``PACK_BYTES`` bytes: what
   the ingress packer writes under a burst and pollers write per poll batch), each payload stamped
   with ``received-at``.
3. Waits until PostgreSQL holds every unique event and reports events/s end to end (first write to
   last row stored), latency from ingress to queryable (``stored_at - received_at`` per event),
   each worker's peak resident memory (VmHWM), CPU seconds per process tree, and broker messages
   per event hop by hop (``bench.counts``).
4. On the same broker, a plain aiokafka producer → group consumer moves the same payloads (the
   same bytes, one message per carrier payload, acks=all); the last line is the ratio of the two
   rates, ``pipeline events/s ÷ the events/s aiokafka carries`` (= aiokafka's time to move the
   workload ÷ the pipeline's).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import orjson
import psycopg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench import counts, procstat
from bench.stack import BenchStack, stored_count, wait_stored
from bench.workload import RawMessage, Workload, build
from schemas.events import format_utc
from schemas.raw import ENVELOPE_HEADER, ENVELOPE_VERSION, PACK_BYTES, RawItem, groups, pack
from trackstream.settings import Settings
from trackstream.topics import raw_topic

#: The bench fails when no event is stored for this long (a stalled or lossy pipeline).
NO_PROGRESS_SECONDS = 120.0
#: Payloads per packed raw record at most (``api.packer.RawPacker``'s default).
PACK_ITEMS = 100
CARRIERS = ("sendcloud", "postnl", "fleet")  # as stored (the native items name their fleet)


def carrier_runs(messages: Sequence[RawMessage], max_items: int = PACK_ITEMS) -> Iterator[list[RawMessage]]:
    """The workload in arrival order, as runs of one carrier's payloads: each carrier's payloads
    wait in a buffer of their own that goes out when it holds ``max_items`` (and at the end), so
    every carrier keeps its order and the carriers stay interleaved."""
    buffers: dict[str, list[RawMessage]] = {}
    for message in messages:
        buffer = buffers.setdefault(message.carrier, [])
        buffer.append(message)
        if len(buffer) >= max_items:
            yield buffer
            buffers[message.carrier] = []
    for buffer in buffers.values():
        if buffer:
            yield buffer


def records_of(run: Sequence[RawMessage], received_at: str) -> list[tuple[bytes, list[tuple[str, bytes]]]]:
    """A run's raw records as sources write them (``pollers.service``): one packed record per group
    that fits ``PACK_BYTES``; a payload alone in its group goes as a single record."""
    items = [RawItem(m.payload, {"received-at": received_at, "source": "bench", "content-type": "application/json"})
             for m in run]
    out = []
    for group in groups(items, max_bytes=PACK_BYTES, max_items=PACK_ITEMS):
        if len(group) == 1:
            out.append((group[0].payload, [(k, v.encode()) for k, v in group[0].headers.items()]))
        else:
            out.append((pack(group), [(ENVELOPE_HEADER, ENVELOPE_VERSION)]))
    return out


async def _produce_workload(settings: Settings, workload: Workload) -> tuple[float, int]:
    """Returns when the first record was sent (perf counter) and the records written."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=5,
                                max_batch_size=262144, max_request_size=1048576, enable_idempotence=True)
    await producer.start()
    started = time.perf_counter()
    records = 0
    try:
        pending = []
        for run in carrier_runs(workload.messages):
            topic = raw_topic(run[0].carrier)
            for value, headers in records_of(run, format_utc(datetime.now(UTC))):
                pending.append(await producer.send(topic, value, headers=headers))
                records += 1
            if len(pending) >= 200:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return started, records


async def _aiokafka_round_trip(settings: Settings, messages: Sequence[RawMessage], topic: str) -> float:
    """Seconds a plain aiokafka producer → group consumer takes to move ``messages`` (one Kafka
    message per payload, acks=all) through a new topic, which keeps them for the Faust ceiling."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, num_partitions=settings.partitions, replication_factor=1)])
    await admin.close()
    count = len(messages)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=settings.kafka_bootstrap, group_id=f"{topic}.g",
                                auto_offset_reset="earliest", enable_auto_commit=True)
    await consumer.start()
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")  # aiokafka defaults
    await producer.start()
    received = 0

    async def consume() -> float:
        nonlocal received
        while received < count:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            for records in batch.values():
                for record in records:
                    orjson.loads(record.value or b"{}")
                received += len(records)
        return time.perf_counter()

    await asyncio.sleep(1.0)  # let the consumer join before the clock starts
    started = time.perf_counter()
    consuming = asyncio.create_task(consume())
    pending = []
    for message in messages:
        headers = [("received-at", format_utc(datetime.now(UTC)).encode()), ("source", b"bench"),
                   ("content-type", b"application/json")]
        pending.append(await producer.send(topic, message.payload, headers=headers))
        if len(pending) >= 1000:
            await asyncio.gather(*pending)
            pending = []
    await asyncio.gather(*pending)
    ended = await asyncio.wait_for(consuming, timeout=300)
    await producer.stop()
    await consumer.stop()
    return ended - started


def run_bench(settings: Settings, events: int, shipments: int, external: bool,
              mix: tuple[float, float] = (0.3, 0.3), workers: int = 1) -> int:
    print(f"building workload: {events} events over {shipments} shipments ...", flush=True)
    workload = build(events, shipments, mix=mix)
    payload_bytes = sum(len(m.payload) for m in workload.messages)
    print(f"  {len(workload.messages)} carrier payloads ({payload_bytes / 2**20:.1f} MiB), {workload.unique_events}"
          f" unique events, {workload.duplicates} redeliveries, {workload.late} late", flush=True)
    bench = BenchStack.start(settings, external=external, workers=workers, api=False)
    try:
        settings = bench.settings
        keep = lambda topic: not topic.startswith("bench.")  # noqa: E731
        base = stored_count(settings.database_url, CARRIERS)
        offsets_before = asyncio.run(counts.snapshot(settings.kafka_bootstrap, keep))
        roots = bench.cpu_roots()
        cpu_before = procstat.sample(roots)
        began = time.perf_counter()
        started, records = asyncio.run(_produce_workload(settings, workload))
        produced = time.perf_counter() - started
        print(f"  produced {records} raw records in {produced:.1f}s ({records / produced:,.0f} records/s,"
              f" {len(workload.messages) / records:.1f} payloads per record)", flush=True)
        target = base + workload.unique_events
        done = wait_stored(settings.database_url, CARRIERS, target, no_progress=NO_PROGRESS_SECONDS)
        elapsed = time.perf_counter() - started
        if done < target:
            print(f"bench: only {done - base} of {workload.unique_events} events stored, none more for"
                  f" {NO_PROGRESS_SECONDS:.0f}s", file=sys.stderr)
            return 1
        settled = bench.settle()
        offsets_after = asyncio.run(counts.snapshot(settings.kafka_bootstrap, keep))
        cpu = procstat.cpu_seconds(cpu_before, procstat.sample(roots))
        wall = time.perf_counter() - began
        with psycopg.connect(settings.database_url) as conn:
            row = conn.execute(
                "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM stored_at - received_at)),"
                " percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM stored_at - received_at)),"
                " extract(epoch FROM max(stored_at - received_at)),"
                " extract(epoch FROM max(stored_at) - min(received_at))"
                " FROM tracking_events WHERE carrier = ANY(%s)", (list(CARRIERS),)).fetchone()
        assert row is not None
        p50, p99, worst, span = (float(x) for x in row)
        pipeline_rate = workload.unique_events / elapsed
        peaks = bench.worker_peaks()
        print("measuring the plain aiokafka round trip of the same payloads on the same broker ...", flush=True)
        topic = f"bench.roundtrip.{uuid.uuid4().hex[:8]}"
        kafka_seconds = asyncio.run(_aiokafka_round_trip(settings, workload.messages, topic))
        kafka_msgs = len(workload.messages) / kafka_seconds
        kafka_events = workload.unique_events / kafka_seconds
        print("measuring Faust's empty-agent ceiling on the same messages ...", flush=True)
        ceiling = _faust_ceiling(settings, topic, len(workload.messages))
        print()
        print(f"pipeline events/s:         {pipeline_rate:,.0f}  ({workload.unique_events} events in {elapsed:.1f}s;"
              f" first ingress to last stored {span:.1f}s; {records} raw records)")
        print(f"latency ingress→queryable: p50 {p50 * 1000:,.0f} ms, p99 {p99 * 1000:,.0f} ms,"
              f" max {worst * 1000:,.0f} ms")
        if peaks:
            print("worker peak memory:        " + ", ".join(
                f"{name} {mib:,.0f} MiB" if mib is not None else f"{name} n/a" for name, mib in peaks) + " (VmHWM)")
        else:
            print("worker peak memory:        n/a (external)")
        if roots:
            print(f"cpu seconds over the run ({wall:.1f} s from the first write to the settled pipeline"
                  f"{'' if settled else '; the consumer group never settled'}):")
            for line in procstat.format_cpu(cpu, wall):
                print(line)
        written = counts.written(offsets_before, offsets_after)
        always = [*(raw_topic(c) for c in ("sendcloud", "postnl", "native")), *counts.PIPELINE_ORDER[:4],
                  counts.CONSUMER_OFFSETS]
        hop_rows = counts.hops(written, settings.app_id, always)
        hop_total = sum(h.records for h in hop_rows)
        for line in counts.format_hops(hop_rows, workload.unique_events):
            print(line)
        print(f"aiokafka produce→consume:  {kafka_msgs:,.0f} msg/s  (the same {len(workload.messages)} payloads,"
              f" {payload_bytes / 2**20:.1f} MiB, one message each, in {kafka_seconds:.1f}s = {kafka_events:,.0f}"
              " events/s)")
        if ceiling:
            print(f"faust empty agent:         {ceiling:,.0f} msg/s  (ceiling ratio {ceiling / kafka_msgs:.3f};"
                  f" the run's {hop_total:,} broker records at this rate: {hop_total / ceiling:.1f}s)")
        print(f"ratio: {pipeline_rate / kafka_events:.3f}")
        return 0
    finally:
        bench.stop()


def _faust_ceiling(settings: Settings, topic: str, count: int) -> float | None:
    """Messages/s of a Faust agent that only counts (``bench.faust_ceiling``), on ``topic``."""
    with tempfile.TemporaryDirectory(prefix="faust-ceiling-") as datadir:
        try:
            result = subprocess.run(
                [sys.executable, "-m", "bench.faust_ceiling", settings.kafka_bootstrap, topic, str(count), datadir],
                capture_output=True, text=True, timeout=600, check=False,
            )
        except subprocess.TimeoutExpired:
            return None
    lines = [line for line in result.stdout.split() if line.isdigit()]
    return float(lines[-1]) if lines else None
