"""Worker lifecycle: open the PostgreSQL pool at start, record liveness for ``/readyz``, close the
pool at shutdown. (Consumer lag is measured from the broker by the API's ``/metrics``.)"""

from __future__ import annotations

import logging
import os
from typing import Any

import faust

from sinks.postgres import PostgresSink
from trackstream.settings import Settings
from trackstream.topics_faust import Topics

log = logging.getLogger(__name__)


def register(app: faust.App, topics: Topics, sink: PostgresSink, settings: Settings) -> None:
    async def open_sink() -> None:
        await sink.open()
        await sink.heartbeat(settings.worker_id, {"pid": os.getpid(), "state": "started"})
        log.info("worker %s ready", settings.worker_id)

    async def beat() -> None:
        try:
            await sink.heartbeat(
                settings.worker_id, {"pid": os.getpid(), "assigned": len(app.consumer.assignment())}
            )
        except Exception as exc:
            log.warning("heartbeat failed: %s", exc)

    async def close_sink(sender: Any, *args: Any, signal: Any = None, **kwargs: Any) -> None:
        await sink.close()

    app.task(open_sink)
    app.timer(interval=settings.worker_heartbeat_seconds)(beat)
    app.on_before_shutdown.connect(close_sink)  # type: ignore[arg-type]
