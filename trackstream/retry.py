"""Retry until it works: how the worker treats a write it must not drop (Kafka sends, PostgreSQL).

The caller's partition waits meanwhile; acking input whose output is not stored would lose it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


async def retry_forever(action: Callable[[], Awaitable[T]], what: str, *, first_delay: float = 0.2,
                        max_delay: float = 10.0, on_error: Callable[[], None] | None = None) -> T:
    """Await ``action()`` until it returns, doubling the pause after each failure up to ``max_delay``."""
    delay = first_delay
    while True:
        try:
            return await action()
        except Exception as exc:
            if on_error is not None:
                on_error()
            log.warning("%s failed (%s); retrying in %.1fs", what, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay)
