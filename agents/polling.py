"""Pollers inside the worker: every worker runs the poller service; the advisory lock per account
makes exactly one of them poll it (see ``pollers.service``)."""

from __future__ import annotations

from typing import Any

import faust

from pollers.accounts import load_accounts
from pollers.service import PollerService
from trackstream.settings import Settings


def register(app: faust.App, settings: Settings) -> PollerService | None:
    if not settings.poll_accounts or not settings.poll_in_worker:
        return None
    accounts = load_accounts(settings.poll_accounts)  # a bad file stops the worker at start, loudly
    service = PollerService(accounts, database_url=settings.database_url, kafka_bootstrap=settings.kafka_bootstrap,
                            worker_id=settings.worker_id)

    async def run_pollers() -> None:
        await service.run()

    async def stop_pollers(sender: Any, *args: Any, signal: Any = None, **kwargs: Any) -> None:
        service.stop()

    app.task(run_pollers)
    app.on_before_shutdown.connect(stop_pollers)  # type: ignore[arg-type]
    return service
