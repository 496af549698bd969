"""``trackstream bench --restart --shipments N``: N active shipments in the table, then a worker's crash.

1. Loads ``N`` shipments into the pipeline, one event each (``pre_transit`` or ``in_transit``: all
   of them stay active), written the fast way: native payloads of ``LOAD_EVENTS_PER_PAYLOAD``
   events packed into raw records (``schemas.raw``), and waits until PostgreSQL holds them all.
2. Prints each worker's resident memory (now and peak) and its RocksDB folder's size.
3. SIGKILLs the last worker and starts it again at once (same worker id, so the same RocksDB
   folder), while probe events keep arriving on every partition of ``tracking.events``; prints the
   time from the restart until the new process records its first heartbeat (a worker records one
   only while it holds partitions, is not rebalancing and has recovered its tables), and until
   every partition stores new events within ``RECOVERED_WITHIN`` seconds again.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import psycopg
from aiokafka import AIOKafkaProducer

from bench.stack import BenchStack, peak_rss_mib, rss_mib, wait_stored
from schemas.events import format_utc
from schemas.raw import ENVELOPE_HEADER, ENVELOPE_VERSION, PACK_BYTES, RawItem, groups, pack
from trackstream.settings import Settings
from trackstream.stack.supervision import death_cause
from trackstream.topics import partition_for, raw_topic

CARRIER = "benchload"
LOAD_EVENTS_PER_PAYLOAD = 500
#: A partition has recovered once every probe sent to it from then on is stored within this.
RECOVERED_WITHIN = 1.0
PROBE_INTERVAL = 0.1  # seconds between probe rounds (one event per partition each)
QUIET_AFTER = 5.0  # probes continue this long after every partition has recovered


def load_payloads(shipments: int, prefix: str, per_payload: int = LOAD_EVENTS_PER_PAYLOAD,
                  start: datetime | None = None) -> Iterator[bytes]:
    """Native payloads (JSON lists of ``per_payload`` events), one event per shipment, alternately
    ``pre_transit`` and ``in_transit``."""
    base = start or datetime(2026, 11, 2, 7, 0, tzinfo=UTC)
    for first in range(0, shipments, per_payload):
        yield orjson.dumps([
            {"carrier": CARRIER, "tracking_number": f"{prefix}{n:09d}", "status": "in_transit" if n % 2 else
             "pre_transit", "occurred_at": (base + timedelta(seconds=n % 86400)).isoformat(),
             "event_id": f"{prefix}-L{n:09d}"}
            for n in range(first, min(shipments, first + per_payload))])


@dataclass(frozen=True)
class Probe:
    partition: int
    sent: float  # Unix time
    stored: float | None  # Unix time, None while not stored


def recovery_seconds(probes: Sequence[Probe], restarted: float, within: float = RECOVERED_WITHIN,
                     until: float | None = None) -> dict[int, float | None]:
    """Per partition: seconds from ``restarted`` until every probe of that partition sent from then
    on was stored within ``within`` seconds (the stored time of the last slower probe; 0 when none
    was slower); None when its newest probe is not stored or was slower (not recovered). Only
    probes sent by ``until`` count (pass a time at least ``within`` ago: a probe younger than that
    may rightly be on its way)."""
    out: dict[int, float | None] = {}
    for partition in sorted({p.partition for p in probes}):
        mine = sorted((p for p in probes if p.partition == partition and (until is None or p.sent <= until)),
                      key=lambda p: p.sent)
        if not mine:
            out[partition] = None
            continue
        last = mine[-1]
        if last.stored is None or last.stored - last.sent > within:
            out[partition] = None
            continue
        slow = [p for p in mine if p.stored is None or p.stored - p.sent > within]
        out[partition] = max(0.0, max(p.stored or 0.0 for p in slow) - restarted) if slow else 0.0
    return out


def probe_numbers(prefix: str, partitions: int) -> dict[int, str]:
    """One tracking number per partition of ``tracking.events`` (by its shipment key's hash)."""
    found: dict[int, str] = {}
    n = 0
    while len(found) < partitions:
        number = f"{prefix}P{n:06d}"
        found.setdefault(partition_for(f"{CARRIER}:{number}", partitions), number)
        n += 1
    return found


async def _load(settings: Settings, shipments: int, prefix: str) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=5,
                                max_batch_size=1048576, max_request_size=1048576, enable_idempotence=True)
    await producer.start()
    records, pending = 0, []
    try:
        batch: list[RawItem] = []

        async def flush() -> None:
            nonlocal records
            for group in groups(batch, max_bytes=PACK_BYTES):
                value, headers = ((group[0].payload, [(k, v.encode()) for k, v in group[0].headers.items()])
                                  if len(group) == 1 else (pack(group), [(ENVELOPE_HEADER, ENVELOPE_VERSION)]))
                pending.append(await producer.send(raw_topic("native"), value, headers=headers))
                records += 1
            batch.clear()

        for payload in load_payloads(shipments, prefix):
            batch.append(RawItem(payload, {"received-at": format_utc(datetime.now(UTC)), "source": "bench",
                                           "content-type": "application/json"}))
            if len(batch) >= 16:
                await flush()
            if len(pending) >= 64:
                await asyncio.gather(*pending)
                pending.clear()
        await flush()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return records


def _dir_mib(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20 if path.exists() else 0.0


def _heartbeat_pid(database_url: str, worker_id: str) -> int | None:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT info->>'pid' FROM worker_heartbeats WHERE worker_id = %s", (worker_id,)).fetchone()
    return int(row[0]) if row and row[0] else None


async def _probe(settings: Settings, prefix: str, restarted: float, worker_id: str, current_pid: Callable[[], int],
                 supervise: Callable[[], None], timeout: float = 300.0) -> tuple[list[Probe], float | None, float]:
    """Probe events on every partition until all have recovered (and ``QUIET_AFTER`` more), or
    ``timeout``; ``supervise`` restarts workers that died meanwhile. Returns the probes, when the
    restarted worker's first heartbeat was seen, and the cutoff the probes count until."""
    numbers = probe_numbers(prefix, settings.partitions)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=1,
                                enable_idempotence=True)
    await producer.start()
    sent: dict[str, tuple[int, float]] = {}  # event id -> (partition, sent)
    stored: dict[str, float] = {}
    heartbeat: float | None = None
    recovered_at: float | None = None
    round_no = 0
    conn = await psycopg.AsyncConnection.connect(settings.database_url, autocommit=True)
    try:
        while time.time() - restarted < timeout:
            now = time.time()
            items = []
            for partition, number in numbers.items():
                eid = f"{prefix}-R{round_no:06d}-{partition}"
                items.append({"carrier": CARRIER, "tracking_number": number, "status": "in_transit",
                              "occurred_at": (datetime(2026, 11, 3, tzinfo=UTC) + timedelta(seconds=round_no))
                              .isoformat(), "event_id": eid})
                sent[eid] = (partition, now)
            await producer.send_and_wait(raw_topic("native"), orjson.dumps(items), headers=[
                ("received-at", format_utc(datetime.now(UTC)).encode()), ("source", b"bench")])
            round_no += 1
            if round_no % 5 == 0:
                rows = await (await conn.execute(
                    "SELECT event_id, extract(epoch FROM stored_at)::float8 FROM tracking_events"
                    " WHERE shipment_key = ANY(%s) AND event_id LIKE %s",
                    ([f"{CARRIER}:{n}" for n in numbers.values()], f"{prefix}-R%"))).fetchall()
                stored.update({str(r[0]): float(r[1]) for r in rows})
                supervise()
                if heartbeat is None:
                    row = await (await conn.execute("SELECT info->>'pid' FROM worker_heartbeats WHERE worker_id = %s",
                                                    (worker_id,))).fetchone()
                    if row and row[0] and int(row[0]) == current_pid():
                        heartbeat = time.time()
                probes = [Probe(p, s, stored.get(e)) for e, (p, s) in sent.items()]
                cutoff = time.time() - 2 * RECOVERED_WITHIN
                done = heartbeat is not None and all(
                    v is not None for v in recovery_seconds(probes, restarted, until=cutoff).values())
                if done and recovered_at is None:
                    recovered_at = time.time()
                elif not done:
                    recovered_at = None
                if recovered_at is not None and time.time() - recovered_at >= QUIET_AFTER:
                    break
            await asyncio.sleep(max(0.0, now + PROBE_INTERVAL - time.time()))
    finally:
        await conn.close()
        await producer.stop()
    return [Probe(p, s, stored.get(e)) for e, (p, s) in sent.items()], heartbeat, time.time() - 2 * RECOVERED_WITHIN


def run_restart(settings: Settings, shipments: int, *, workers: int) -> int:
    if workers < 1:
        print("bench --restart: needs a worker", file=sys.stderr)
        return 2
    prefix = f"LD{uuid.uuid4().hex[:6].upper()}"
    bench = BenchStack.start(settings, external=False, workers=workers, api=False)
    try:
        settings = bench.settings
        print(f"loading {shipments:,} active shipments (one pre_transit/in_transit event each, packed native"
              " payloads) ...", flush=True)
        began = time.perf_counter()
        records = asyncio.run(_load(settings, shipments, prefix))
        produced = time.perf_counter() - began
        print(f"  {records:,} raw records written in {produced:.1f} s; waiting for PostgreSQL ...", flush=True)
        done = wait_stored(settings.database_url, (CARRIER,), shipments, prefix=f"{prefix}-L", no_progress=120,
                           interval=2.0)
        loaded = time.perf_counter() - began
        if done < shipments:
            print(f"bench: only {done:,} of {shipments:,} events stored, none more for 120 s", file=sys.stderr)
            return 1
        bench.settle()
        print()
        print(f"loaded:                      {shipments:,} shipments in {loaded:.1f} s ({shipments / loaded:,.0f}"
              " events/s end to end)")
        assert bench.data_dir is not None
        for w in bench.workers:
            name = w.name
            rss, peak = (rss_mib(w.pid), peak_rss_mib(w.pid)) if w.pid else (None, None)
            store = _dir_mib(bench.data_dir / "worker" / name)
            label = name.removeprefix("bench-") + " memory:"
            print(f"{label:<29}{rss or 0:,.0f} MiB resident, {peak or 0:,.0f} MiB peak (VmRSS, VmHWM);"
                  f" its table folder {store:,.0f} MiB on disk")
        victim = bench.workers[-1]
        bench.workers.remove(victim)
        assert bench.local is not None
        bench.local.children.remove(victim)
        victim.kill()
        restarted = time.time()
        fresh = bench.start_worker(victim.name)
        assert fresh.pid is not None
        print(f"SIGKILLed {victim.name.removeprefix('bench-')} (pid {victim.pid}) and started it again"
              f" (pid {fresh.pid}); probing every partition ...", flush=True)
        stops: list[str] = []

        def supervise() -> None:
            """What ``trackstream up`` does: a worker that stopped (the gap guard's exit 75 after a
            rebalance, say) is started again."""
            for w in list(bench.workers):
                if not w.alive():
                    bench.workers.remove(w)
                    assert bench.local is not None
                    bench.local.children.remove(w)
                    again = bench.start_worker(w.name)
                    cause = death_cause(w.returncode, worker=True)
                    stops.append(f"{w.name.removeprefix('bench-')} stopped ({cause}) {time.time() - restarted:.1f} s"
                                 f" after the restart; started it again (pid {again.pid})")
                    print(f"  {stops[-1]}", flush=True)

        def current_pid() -> int:
            return next((w.pid or 0 for w in bench.workers if w.name == victim.name), 0)

        probes, heartbeat, cutoff = asyncio.run(_probe(settings, prefix, restarted, victim.name, current_pid,
                                                       supervise))
        per_partition = recovery_seconds(probes, restarted, until=cutoff)
        worst = max((p.stored - p.sent for p in probes if p.stored is not None), default=0.0)
        unstored = sum(1 for p in probes if p.stored is None and p.sent <= cutoff)
        print(f"restarted worker ready:      {heartbeat - restarted:.1f} s after the restart (first heartbeat of"
              " the new process: partitions held, tables recovered)" if heartbeat is not None else
              "restarted worker ready:      never (no heartbeat of the new process)")
        values = [v for v in per_partition.values() if v is not None]
        if len(values) == len(per_partition):
            print(f"new events flow again:       {max(values):.1f} s after the restart (every partition stores"
                  f" new events within {RECOVERED_WITHIN:g} s again; worst probe waited {worst:.1f} s)")
        else:
            print(f"new events flow again:       not within the probe time ({unstored} probes never stored)")
        print("  per partition: " + ", ".join(f"{p}: {'—' if v is None else f'{v:.1f} s'}"
                                               for p, v in per_partition.items()))
        for line in stops:
            print(f"meanwhile:                   {line}")
        rss = rss_mib(current_pid())
        print(f"restarted worker memory:     {rss or 0:,.0f} MiB resident")
        return 0 if len(values) == len(per_partition) and heartbeat is not None else 1
    finally:
        bench.stop()
