"""Worker lifecycle: open the PostgreSQL pool at start, record liveness for ``/readyz``, run the
partition watchdog (``agents.watchdog``), close the pool at shutdown. (Consumer lag is measured
from the broker by the API's ``/metrics``.)"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

import faust

from agents.watchdog import StallDetector, observe
from sinks.postgres import PostgresSink
from trackstream import metrics
from trackstream.settings import Settings
from trackstream.topics_faust import Topics

log = logging.getLogger(__name__)


def register(app: faust.App, topics: Topics, sink: PostgresSink, settings: Settings) -> None:
    async def open_sink() -> None:
        await sink.open()
        loop = asyncio.get_running_loop()
        log.info("worker %s started (event loop: %s)", settings.worker_id, type(loop).__module__.split(".")[0])

    detector = StallDetector(settings.stall_seconds)

    async def watch_partitions() -> None:
        consumer: Any = app.consumer
        if app.in_recovery or app.rebalancing:
            detector.reset()
            return
        stalled = detector.check(observe(consumer), time.monotonic())
        if not stalled:
            return
        log.warning("partitions with unfetched messages, none held and no fetch for %ss: %s; fetching again",
                    settings.stall_seconds, ", ".join(f"{u.tp} from {u.seek_to}" + (" (paused)" if u.paused else "")
                                                   for u in stalled))
        paused = {u.tp for u in stalled if u.paused}
        if paused:
            consumer.resume_partitions(paused)
        for unstick in stalled:
            await consumer.seek(unstick.tp, unstick.seek_to)
        metrics.PARTITION_REFETCHES.inc(len(stalled))

    async def beat() -> None:
        try:
            await watch_partitions()
        except Exception as exc:  # diagnostics must never stop the worker
            log.warning("partition watchdog failed: %s", exc)
        assigned = len(app.consumer.assignment())
        if not assigned or app.rebalancing or app.in_recovery:
            return  # not ready yet: /readyz only counts workers that are processing
        try:
            await sink.heartbeat(settings.worker_id, {"pid": os.getpid(), "assigned": assigned})
        except Exception as exc:
            log.warning("heartbeat failed: %s", exc)

    async def close_sink(sender: Any, *args: Any, signal: Any = None, **kwargs: Any) -> None:
        await sink.close()

    app.task(open_sink)
    app.timer(interval=settings.worker_heartbeat_seconds)(beat)
    app.on_before_shutdown.connect(close_sink)  # type: ignore[arg-type]
