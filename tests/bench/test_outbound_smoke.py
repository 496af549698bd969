"""``trackstream bench --outbound`` end to end at a tiny size: it starts its own stack, subscribes,
posts events, and prints its figures, every event delivered once and in order. Nothing here
asserts a speed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.bench
def test_outbound_mode_prints_its_figures_and_delivers_every_event() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKSTREAM_")}
    result = subprocess.run(
        [sys.executable, "-m", "trackstream.cli", "bench", "--outbound", "--outbound-events", "60",
         "--outbound-shipments", "6", "--workers", "1"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "webhooks delivered:                   60 (60 distinct, 0 twice, 0 missing)" in out, out
    assert "shipments delivered out of order:     0" in out, out
    assert re.search(r"^deliveries per second: +[\d,]+ \(first to last delivery", out, re.M), out
    assert re.search(r"^received_at → delivered: +p50 [\d,.]+ ms, p99 [\d,.]+ ms", out, re.M), out
    assert re.search(r"^writer lookup, nobody subscribed: +[\d.]+ ms per batch", out, re.M), out
