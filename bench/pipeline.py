"""``trackstream bench``: the pipeline end to end against the plain aiokafka round trip.

1. Starts the local stack (Kafka, PostgreSQL, one worker) in a temporary folder on free ports,
   unless ``--external`` points it at a running one.
2. Writes the mixed-carrier workload (``bench.workload``) to the raw carrier topics as fast as the
   producer goes, the way pollers and feeds write them, each payload stamped with ``received-at``.
3. Waits until PostgreSQL holds every unique event and reports events/s end to end (first write to
   last row stored), latency from ingress to queryable (``stored_at - received_at`` per event,
   p50/p99), and the worker's peak resident memory (VmHWM).
4. On the same broker, measures a plain aiokafka producer → group consumer round trip (acks=all,
   ~250-byte messages), and prints the ratio of the two rates last.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import orjson
import psycopg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.workload import Workload, build
from schemas.events import format_utc
from trackstream.settings import Settings
from trackstream.topics import raw_topic

#: The bench fails when no event is stored for this long (a stalled or lossy pipeline).
NO_PROGRESS_SECONDS = 120.0


def _peak_rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


async def _produce_workload(settings: Settings, workload: Workload) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=5,
                                max_batch_size=262144)
    await producer.start()
    started = time.perf_counter()
    try:
        pending = []
        for message in workload.messages:
            headers = [("received-at", format_utc(datetime.now(UTC)).encode()), ("source", b"bench")]
            pending.append(await producer.send(raw_topic(message.carrier), message.payload, headers=headers))
            if len(pending) >= 2000:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return started


def _stored(database_url: str, carriers: tuple[str, ...]) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM tracking_events WHERE carrier = ANY(%s)", (list(carriers),)
                           ).fetchone()
    return int(row[0]) if row else 0


async def _aiokafka_round_trip(settings: Settings, count: int = 100_000, topic: str | None = None) -> float:
    """Producer → group consumer on a new topic; the topic keeps its messages for the Faust ceiling."""
    topic = topic or f"bench.roundtrip.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, num_partitions=settings.partitions, replication_factor=1)])
    await admin.close()
    value = orjson.dumps({"event_id": "x" * 32, "carrier": "postnl", "tracking_number": "3SABCD1234567",
                          "status": "in_transit", "code": "B01", "occurred_at": "2026-11-21T10:00:00Z",
                          "description": "Shipment received by PostNL", "pad": "y" * 40})
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
                received += sum(len(r) for r in batch.values())
        return time.perf_counter()

    await asyncio.sleep(1.0)  # let the consumer join before the clock starts
    started = time.perf_counter()
    consuming = asyncio.create_task(consume())
    pending = []
    for i in range(count):
        pending.append(await producer.send(topic, value, key=str(i % 20000).encode()))
        if len(pending) >= 1000:
            await asyncio.gather(*pending)
            pending = []
    await asyncio.gather(*pending)
    ended = await asyncio.wait_for(consuming, timeout=300)
    await producer.stop()
    await consumer.stop()
    return count / (ended - started)


def run_bench(settings: Settings, events: int, shipments: int, external: bool,
              mix: tuple[float, float] = (0.3, 0.3), workers: int = 1) -> int:
    from trackstream.stack.ephemeral import remove_stack_data, stack_env
    from trackstream.stack.local import LocalStack

    print(f"building workload: {events} events over {shipments} shipments ...", flush=True)
    workload = build(events, shipments, mix=mix)
    print(f"  {len(workload.messages)} raw messages, {workload.unique_events} unique events, "
          f"{workload.duplicates} redeliveries, {workload.late} late", flush=True)
    stack: LocalStack | None = None
    data_dir: Path | None = None
    pids: list[int | None] = []
    if not external:
        data_dir = Path(tempfile.mkdtemp(prefix="trackstream-bench-"))
        env = stack_env(data_dir)
        env["TRACKSTREAM_PARTITIONS"] = str(settings.partitions)
        env["TRACKSTREAM_LOG_LEVEL"] = "warning"
        # tuning knobs given to the bench reach its stack
        env.update({k: v for k, v in os.environ.items()
                    if k in ("TRACKSTREAM_NORMALIZE_BATCH", "TRACKSTREAM_NORMALIZE_WITHIN", "TRACKSTREAM_STORE",
                             "TRACKSTREAM_SINK_POOL_SIZE", "TRACKSTREAM_EVENT_LOOP")})
        settings = Settings.from_env(env)
        stack = LocalStack(settings)
        print("starting Kafka, PostgreSQL and a worker ...", flush=True)
        stack.start_infrastructure()
        stack.reset_metrics_dir()
        pids = [stack.start_worker(f"bench-worker-{i + 1}", env).pid for i in range(workers)]
    try:
        if stack is not None:
            try:
                _wait_worker(settings)
            except TimeoutError:
                print(stack.children[0].tail(60), file=sys.stderr)
                raise
        carriers = ("sendcloud", "postnl", "fleet")
        base = _stored(settings.database_url, carriers)
        started = asyncio.run(_produce_workload(settings, workload))
        produced = time.perf_counter() - started
        print(f"  produced in {produced:.1f}s ({len(workload.messages) / produced:,.0f} msg/s)", flush=True)
        target = base + workload.unique_events
        done, progressed = base, time.monotonic()
        while done < target and time.monotonic() - progressed < NO_PROGRESS_SECONDS:
            time.sleep(0.5)
            now_done = _stored(settings.database_url, carriers)
            if now_done != done:
                done, progressed = now_done, time.monotonic()
        elapsed = time.perf_counter() - started
        if done < target:
            print(f"bench: only {done - base} of {workload.unique_events} events stored, none more for"
                  f" {NO_PROGRESS_SECONDS:.0f}s", file=sys.stderr)
            return 1
        with psycopg.connect(settings.database_url) as conn:
            row = conn.execute(
                "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM stored_at - received_at)),"
                " percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM stored_at - received_at)),"
                " extract(epoch FROM max(stored_at) - min(received_at))"
                " FROM tracking_events WHERE carrier = ANY(%s)", (list(carriers),)).fetchone()
        assert row is not None
        p50, p99, span = (float(x) for x in row)
        pipeline_rate = workload.unique_events / elapsed
        peaks = [p for p in (_peak_rss_mib(pid) for pid in pids if pid) if p is not None]
        peak = max(peaks) if peaks else None
        print("measuring the plain aiokafka round trip on the same broker ...", flush=True)
        topic = f"bench.roundtrip.{uuid.uuid4().hex[:8]}"
        kafka_rate = asyncio.run(_aiokafka_round_trip(settings, topic=topic))
        print("measuring Faust's empty-agent ceiling on the same messages ...", flush=True)
        ceiling = _faust_ceiling(settings, topic, 100_000)
        print()
        print(f"pipeline events/s:        {pipeline_rate:,.0f}  ({workload.unique_events} events in {elapsed:.1f}s;"
              f" first ingress to last stored {span:.1f}s)")
        print(f"latency ingress→queryable: p50 {p50 * 1000:,.0f} ms, p99 {p99 * 1000:,.0f} ms")
        print(f"worker peak memory:        {peak:,.0f} MiB (VmHWM, largest of {len(peaks)} worker(s))" if peak
              else "worker peak memory:        n/a (external)")
        print(f"aiokafka produce→consume:  {kafka_rate:,.0f} msg/s")
        if ceiling:
            print(f"faust empty agent:         {ceiling:,.0f} msg/s  (ceiling ratio {ceiling / kafka_rate:.3f};"
                  f" pipeline at {pipeline_rate / ceiling:.0%} of it)")
        print(f"ratio: {pipeline_rate / kafka_rate:.3f}")
        return 0
    finally:
        if stack is not None:
            stack.stop()
        if data_dir is not None:
            print(data_dir) if os.environ.get("TRACKSTREAM_KEEP_BENCH") else remove_stack_data(data_dir)


def _faust_ceiling(settings: Settings, topic: str, count: int) -> float | None:
    """Messages/s of a Faust agent that only counts (``bench.faust_ceiling``), on ``topic``."""
    import subprocess

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


def _wait_worker(settings: Settings, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(settings.database_url) as conn:
                row = conn.execute("SELECT count(*) FROM worker_heartbeats WHERE seen_at > now() - interval '5 s'"
                                   ).fetchone()
                if row and row[0]:
                    time.sleep(2)  # partitions assigned and tables recovered
                    return
        except psycopg.OperationalError:
            pass
        time.sleep(0.5)
    raise TimeoutError("the worker did not become ready")
