"""Worker lifecycle: open the PostgreSQL pool at start, record liveness for ``/readyz``, close the
pool at shutdown. (Consumer lag is measured from the broker by the API's ``/metrics``.)"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import faust

from sinks.postgres import PostgresSink
from trackstream.settings import Settings
from trackstream.topics_faust import Topics

log = logging.getLogger(__name__)

STALL_SECONDS = 20.0


def register(app: faust.App, topics: Topics, sink: PostgresSink, settings: Settings) -> None:
    async def open_sink() -> None:
        await sink.open()
        log.info("worker %s started", settings.worker_id)

    progress: dict[Any, tuple[int, float]] = {}
    seeks: set[Any] = set()

    def unstick_partitions() -> None:
        """Work around an upstream Faust/aiokafka bug (faust-streaming/faust#629): after a
        rebalance a partition can stay un-fetched although it is assigned and has a backlog. When a
        source partition makes no progress for a while outside recovery and rebalancing, resume it."""
        consumer: Any = app.consumer  # private fields below: no public API exposes them
        if app.in_recovery or app.rebalancing:
            progress.clear()
            return
        now = time.monotonic()
        stuck = set()
        for tp in consumer.assignment():
            if consumer._is_changelog_tp(tp):
                continue
            end = consumer.highwater(tp)
            position = consumer._committed_offset.get(tp) or 0
            if end is None or end <= position:
                progress.pop(tp, None)
                continue
            last = progress.get(tp)
            if last is None or last[0] != position:
                progress[tp] = (position, now)
            elif now - last[1] > STALL_SECONDS:
                stuck.add(tp)
        if stuck:
            paused = set(consumer._paused_partitions) & stuck
            log.warning("partitions with a backlog and no progress for %ss (paused: %s): %s; resuming",
                        STALL_SECONDS, sorted(map(str, paused)), sorted(map(str, stuck)))
            consumer.resume_partitions(stuck)
            app.flow_control.resume()
            for tp in stuck:
                progress.pop(tp, None)
                # re-seeking resets the fetcher's state for the partition, so it fetches again;
                # from the committed offset, so at worst events are redelivered (deduplicated)
                seeks.add(tp)

    async def beat() -> None:
        try:
            unstick_partitions()
            consumer: Any = app.consumer
            while seeks:
                tp = seeks.pop()
                await consumer.seek(tp, consumer._committed_offset.get(tp) or 0)
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
