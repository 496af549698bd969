"""The outbound dispatcher inside the worker: every worker runs one; they share the queue
(``sinks.outbound.dispatcher``). ``TRACKSTREAM_OUTBOUND_IN_WORKER=0`` leaves it to
``trackstream deliver``."""

from __future__ import annotations

from typing import Any

import faust

from sinks.outbound.dispatcher import Dispatcher
from trackstream.settings import Settings


def register(app: faust.App, settings: Settings) -> Dispatcher | None:
    if not settings.outbound.in_worker:
        return None
    dispatcher = Dispatcher(settings.database_url, settings.outbound, settings.worker_id)

    async def run_dispatcher() -> None:
        await dispatcher.run()

    async def stop_dispatcher(sender: Any, *args: Any, signal: Any = None, **kwargs: Any) -> None:
        dispatcher.stop()

    app.task(run_dispatcher)
    app.on_before_shutdown.connect(stop_dispatcher)  # type: ignore[arg-type]
    return dispatcher
