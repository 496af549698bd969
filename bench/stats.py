"""Percentiles and their one-line summaries, for the benchmark's figures."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(ordered: Sequence[float], q: float) -> float:
    """The nearest-rank ``q``-quantile (0 < q <= 1) of ``ordered`` (sorted ascending, non-empty):
    the smallest value that at least ``q`` of the values are at or below."""
    if not ordered:
        raise ValueError("percentile of no values")
    if not 0 < q <= 1:
        raise ValueError(f"quantile {q} outside (0, 1]")
    rank = math.ceil(q * len(ordered))
    return ordered[max(0, rank - 1)]


@dataclass(frozen=True)
class Summary:
    count: int
    p50: float
    p99: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary | None:
        if not values:
            return None
        ordered = sorted(values)
        return cls(len(ordered), percentile(ordered, 0.5), percentile(ordered, 0.99), ordered[-1])

    def ms(self) -> str:
        return f"p50 {_ms(self.p50)}, p99 {_ms(self.p99)}, max {_ms(self.max)}"


def _ms(seconds: float) -> str:
    value = seconds * 1000
    return f"{value:,.1f} ms" if abs(value) < 10 else f"{value:,.0f} ms"
