"""Helpers shared by the tests that run the real system: free ports, the stack, HTTP and SQL."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from trackstream.settings import Settings


def free_port(pair: bool = False) -> int:
    """A free TCP port on 127.0.0.1 (and the next one too when ``pair``: Kafka's controller)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if not pair or port >= 65535:
            if not pair:
                return port
            continue
        with socket.socket() as s2:
            try:
                s2.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair")


def world_traversable_tmpdir(prefix: str) -> Path:
    """PostgreSQL runs as the postgres user when the tests run as root: /tmp, not pytest's 0700 dir."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("TRACKSTREAM_TEST_TMP", "/tmp")))
    path.chmod(0o755)
    return path


def stack_env(data_dir: Path) -> dict[str, str]:
    kafka = free_port(pair=True)
    return {
        "TRACKSTREAM_DATA_DIR": str(data_dir),
        "TRACKSTREAM_KAFKA_BOOTSTRAP": f"127.0.0.1:{kafka}",
        "TRACKSTREAM_DATABASE_URL": f"postgresql://trackstream@127.0.0.1:{free_port()}/trackstream",
        "TRACKSTREAM_HTTP_PORT": str(free_port()),
        "TRACKSTREAM_PARTITIONS": "4",
        "TRACKSTREAM_FAST_REBALANCE": "1",
        "TRACKSTREAM_SENDCLOUD_SECRET": "be7e2f9eb99716d4698bbe8220eea46f",
        "TRACKSTREAM_WORKER_HEARTBEAT_SECONDS": "1",
        "TRACKSTREAM_MAX_BODY_BYTES": "262144",
        "TRACKSTREAM_LOG_LEVEL": "info",
    }


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
