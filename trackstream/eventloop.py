"""The event loop a long-running process runs on (``TRACKSTREAM_EVENT_LOOP``).

uvloop by default: Faust's per-message overhead is mostly event-loop work, and ``trackstream bench``
measured the pipeline faster on it (README, "Tests and benchmark"). ``asyncio`` is the fallback for
platforms without uvloop.
"""

from __future__ import annotations

import asyncio


def install(name: str) -> None:
    """Make ``name`` the policy for every loop this process creates from now on (Faust's worker,
    aiohttp's ``run_app``, ``asyncio.run``)."""
    if name == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    elif name == "asyncio":
        asyncio.set_event_loop_policy(asyncio.DefaultEventLoopPolicy())
    else:
        raise ValueError(f"unknown event loop {name!r} (uvloop or asyncio)")
