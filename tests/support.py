"""Helpers shared by the tests that run the real system: free ports, the stack, HTTP and SQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from trackstream.settings import Settings
from trackstream.stack.ephemeral import free_port, stack_env, world_traversable_tmpdir

__all__ = ["eventually", "free_port", "settings_from", "stack_env", "world_traversable_tmpdir"]


def settings_from(env: dict[str, str]) -> Settings:
    return Settings.from_env(env)


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 60.0,
                     interval: float = 0.25, what: str = "condition") -> Any:
    """Poll ``check`` until it returns a truthy value; the last value or error is in the failure."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = await check()
            if last:
                return last
        except AssertionError as exc:
            last = exc
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")
