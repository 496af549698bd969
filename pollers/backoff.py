"""Exponential backoff with full jitter (AWS architecture blog's "full jitter" variant)."""

from __future__ import annotations

import random


def full_jitter(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """A random pause in ``[0, min(cap, base * 2**attempt)]``; ``attempt`` counts from 0."""
    ceiling = min(cap, base * (2 ** min(attempt, 30)))
    return (rng or random).uniform(0.0, ceiling)


def parse_retry_after(value: str | None, cap: float) -> float | None:
    """``Retry-After`` in seconds (the HTTP-date form is rare in carrier APIs and read as absent)."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    if seconds < 0:
        return None
    return min(seconds, cap)
