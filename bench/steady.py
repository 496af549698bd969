"""``trackstream bench --steady RATE --seconds N``: single-event webhooks at a fixed rate through
the real HTTP ingress, open-loop (``bench.loadgen``, a process of its own), into PostgreSQL.

Starts the local stack with the API (or uses ``--external``), then prints HTTP latency and status
counts, ingress → queryable latency from PostgreSQL (``stored_at - received_at`` of the run's
``tracking_events`` rows), events stored / sent with the exactly-once check, CPU seconds per process
tree over the run, and broker messages per event hop by hop (``bench.counts``).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import psycopg

from bench import counts, procstat
from bench.loadgen import CARRIER, event_id, planned_count
from bench.stack import BenchStack, wait_stored
from bench.stats import Summary
from trackstream.settings import Settings
from trackstream.topics import raw_topic


def _floats(values: list[float | None]) -> list[float]:
    return [v for v in values if v is not None]


def _line(label: str, summary: Summary | None) -> str:
    return f"{label:<38}{summary.ms() if summary else 'n/a'}"


def status_line(statuses: list[int], errors: dict[str, int]) -> str:
    """``202 × 9,998, 503 × 2, no answer × 1 (TimeoutError × 1)``."""
    counted = Counter(statuses)
    parts = [f"{code} × {n:,}" for code, n in sorted(counted.items()) if code]
    if counted.get(0):
        detail = ", ".join(f"{k} × {v:,}" for k, v in sorted(errors.items()))
        parts.append(f"no answer × {counted[0]:,}" + (f" ({detail})" if detail else ""))
    return ", ".join(parts)


def _stored_rows(database_url: str, prefix: str) -> list[tuple[str, float, float]]:
    """(event id, stored_at - received_at, stored_at as a Unix time) of the run's stored events."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT event_id, extract(epoch FROM stored_at - received_at)::float8,"
            " extract(epoch FROM stored_at)::float8 FROM tracking_events"
            " WHERE carrier = %s AND event_id LIKE %s", (CARRIER, prefix + "-%")).fetchall()
    return [(str(r[0]), float(r[1]), float(r[2])) for r in rows]


def run_steady(settings: Settings, rate: float, seconds: float, *, workers: int, external: bool = False,
               connections: int = 256, seed: int = 1) -> int:
    total = planned_count(rate, seconds)
    prefix = f"ST{uuid.uuid4().hex[:8].upper()}"
    bench = BenchStack.start(settings, external=external, workers=workers, api=True)
    try:
        settings = bench.settings
        with tempfile.TemporaryDirectory(prefix="trackstream-steady-") as tmp:
            out = Path(tmp) / "loadgen.json"
            keep = lambda topic: not topic.startswith("bench.")  # noqa: E731
            offsets_before = asyncio.run(counts.snapshot(settings.kafka_bootstrap, keep))
            roots = bench.cpu_roots()
            cpu_before = procstat.sample(roots)
            began = time.perf_counter()
            print(f"steady: {rate:g} req/s for {seconds:g} s = {total:,} single-event requests to "
                  f"{bench.base_url}/v1/events over {connections} connections ...", flush=True)
            gen = subprocess.run(
                [sys.executable, "-m", "bench.loadgen", f"{bench.base_url}/v1/events", str(rate), str(seconds),
                 prefix, str(out), "--connections", str(connections), "--seed", str(seed),
                 "--key-file", str(settings.admin_key_path)],
                timeout=seconds + 180, check=False)
            if gen.returncode != 0:
                print(f"bench: the load generator exited with {gen.returncode}", file=sys.stderr)
                return 1
            result: dict[str, Any] = orjson.loads(out.read_bytes())
        last_answer = float(result["started_at"]) + float(result["answered_seconds"])  # Unix time
        statuses: list[int] = result["statuses"]
        accepted = {event_id(prefix, i) for i, s in enumerate(statuses) if s == 202}
        print(f"  generator done; waiting for {len(accepted):,} accepted events in PostgreSQL ...", flush=True)
        wait_stored(settings.database_url, (CARRIER,), len(accepted), prefix=prefix + "-", no_progress=60)
        rows = _stored_rows(settings.database_url, prefix)
        stored_ids = {r[0] for r in rows}
        missing = accepted - stored_ids
        if missing:  # stored late, or lost: give it the no-progress window once more
            wait_stored(settings.database_url, (CARRIER,), len(accepted) + len(stored_ids - accepted),
                        prefix=prefix + "-", no_progress=30)
            rows = _stored_rows(settings.database_url, prefix)
            stored_ids = {r[0] for r in rows}
            missing = accepted - stored_ids
        settled = bench.settle()
        offsets_after = asyncio.run(counts.snapshot(settings.kafka_bootstrap, keep))
        cpu_after = procstat.sample(roots)
        wall = time.perf_counter() - began
        cpu = procstat.cpu_seconds(cpu_before, cpu_after)
        cpu["load generator"] = float(result["cpu_seconds"])

        sent = len(statuses)
        duplicated = len(rows) - len(stored_ids)
        unacked = len(stored_ids - accepted)
        dispatched = float(result["dispatched_seconds"])
        late = Summary.of(_floats(result["late"]))
        print()
        print(f"requests sent:                        {sent:,} in {dispatched:.1f} s ({sent / dispatched:,.0f} req/s;"
              f" target {rate:g}), {result['shipments']:,} shipments, at most {result['most_in_flight']:,} in flight")
        print(_line("generator behind schedule:", late)
              + f"  (its CPU {result['cpu_seconds']:.1f} s = {result['cpu_seconds'] / max(dispatched, 1e-9):.0%}"
              " of a core)")
        print(f"http statuses:                        {status_line(statuses, result['errors'])}")
        print(_line("http latency (scheduled → answer):", Summary.of(_floats(result["from_due"]))))
        print(_line("http latency (sent → answer):", Summary.of(_floats(result["from_sent"]))))
        print(_line("ingress → queryable:", Summary.of([r[1] for r in rows]))
              + "  (stored_at - received_at)")
        exact = not missing and not duplicated and bool(accepted)
        print(f"events stored / sent:                 {len(stored_ids):,} / {sent:,}  ({len(accepted):,} accepted"
              f" with 202: {'every one stored exactly once' if exact else 'NOT all stored exactly once'};"
              f" {len(missing):,} missing, {duplicated:,} stored twice, {unacked:,} stored without a 202)")
        if rows:
            print(f"last event stored:                    {max(r[2] for r in rows) - last_answer:+.2f} s after the"
                  " last HTTP answer")
        print(f"cpu seconds over the run ({wall:.1f} s from the first request to the settled pipeline"
              f"{'' if settled else '; the consumer group never settled'}):")
        for line in procstat.format_cpu(cpu, wall):
            print(line)
        written = counts.written(offsets_before, offsets_after)
        always = [raw_topic("native"), *counts.PIPELINE_ORDER[:4], counts.CONSUMER_OFFSETS]
        for line in counts.format_hops(counts.hops(written, settings.app_id, always), len(stored_ids)):
            print(line)
        return 0 if exact else 1
    finally:
        bench.stop()
