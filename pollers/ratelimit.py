"""A token bucket per credential: the carrier's published request rate, never exceeded."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class TokenBucket:
    """``rate`` requests per ``per`` seconds, with at most ``burst`` saved up.

    It starts with a single token rather than a full bucket, so a restart does not open with a burst
    (many carriers count requests in fixed windows, and a restart may land in a window the previous
    process already used). ``acquire`` waits, FIFO, until a token is available.
    """

    def __init__(self, rate: float, per: float, burst: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or per <= 0:
            raise ValueError("rate and per must be positive")
        self.fill_rate = rate / per  # tokens per second
        self.capacity = max(1.0, burst if burst is not None else min(rate, max(1.0, self.fill_rate)))
        self._tokens = 1.0
        self._clock = clock
        self._updated = clock()
        self._lock = asyncio.Lock()
        self.waited_seconds = 0.0

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.fill_rate)
        self._updated = now

    def delay(self) -> float:
        """Seconds until a token is available (0 when one is)."""
        self._refill()
        return 0.0 if self._tokens >= 1.0 else (1.0 - self._tokens) / self.fill_rate

    async def acquire(self) -> float:
        """Take a token, waiting if needed; returns the seconds waited."""
        async with self._lock:
            waited = 0.0
            while True:
                wait = self.delay()
                if wait <= 0:
                    self._tokens -= 1.0
                    self.waited_seconds += waited
                    return waited
                await asyncio.sleep(wait)
                waited += wait

    def penalize(self, seconds: float) -> None:
        """The carrier said "slow down" (429): no token for ``seconds``."""
        self._refill()
        self._tokens = min(self._tokens, 0.0) - seconds * self.fill_rate
