"""``trackstream bench --steady`` end to end at a tiny rate for a few seconds: it starts its own
stack (Kafka, PostgreSQL, a worker, the API), prints every figure line, and every sent event is
stored exactly once. Nothing here asserts a speed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.bench
def test_steady_mode_prints_its_figures_and_stores_every_event() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKSTREAM_")}
    result = subprocess.run(
        [sys.executable, "-m", "trackstream.cli", "bench", "--steady", "20", "--seconds", "3", "--workers", "1",
         "--connections", "8"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    for label in ("requests sent:", "generator behind schedule:", "http statuses:",
                  "http latency (scheduled → answer):", "http latency (sent → answer):", "ingress → queryable:",
                  "events stored / sent:", "cpu seconds over the run", "broker messages per event"):
        assert label in out, f"{label!r} missing:\n{out}"
    assert "http statuses:                        202 × 60\n" in out, out
    stored = re.search(r"events stored / sent: +([\d,]+) / ([\d,]+) +\(([\d,]+) accepted", out)
    assert stored is not None, out
    assert stored.groups() == ("60", "60", "60"), out
    assert "every one stored exactly once; 0 missing, 0 stored twice, 0 stored without a 202" in out, out
    for piece in ("api", "worker-1", "kafka broker (JVM)", "postgresql (+ backends)", "load generator"):
        assert re.search(rf"^  {re.escape(piece)} +[\d.]+ s", out, re.M), f"no CPU line for {piece}:\n{out}"
    hops = dict(re.findall(r"^  (\S+) +([\d.]+)  \([\d,]+ records\)$", out, re.M))
    assert {"carrier.native.raw", "tracking.events", "shipment.changes", "shipment.updates",
            "tracking.deadletter", "__consumer_offsets", "total"} <= set(hops), out
    assert any(name.endswith("-changelog") for name in hops), out
    assert 0 < float(hops["carrier.native.raw"]) <= 1.0  # one request is at most one raw record
    assert float(hops["total"]) == pytest.approx(sum(float(v) for k, v in hops.items() if k != "total"), abs=0.01)
