"""The normalizer's copy of the operators' code mappings (``code_mapping_overrides``).

``apply_overrides`` is the pure decision: an event of a carrier whose exact ``code`` has an override
takes the override's status and substatus and ``mapped=True``; its code and description stay as
the carrier sent them, and ``attributes`` record the layer (``mapping_layer = "override"``) and
what the adapter had said (``adapter_mapping``). ``register`` loads the table from PostgreSQL when
the worker starts and again every ``TRACKSTREAM_MAPPING_REFRESH_SECONDS`` in a timer of its own,
replacing the dictionary whole: the stream never waits for the database, a failed refresh keeps
the previous table, and a change reaches every worker within one interval, without a restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

import faust
from psycopg_pool import AsyncConnectionPool

from carriers.base import CodeMapping
from schemas.events import TrackingEvent
from sinks import mapping_overrides
from sinks.postgres import PostgresSink
from trackstream.settings import Settings

log = logging.getLogger(__name__)

OVERRIDE_LAYER = "override"
REFRESH_TIMEOUT = 10.0


def apply_overrides(
    events: Iterable[TrackingEvent], overrides: Mapping[tuple[str, str], CodeMapping]
) -> list[TrackingEvent]:
    """Events with the operators' mappings applied (pure; events without one are returned as they are)."""
    if not overrides:
        return list(events)
    out: list[TrackingEvent] = []
    for event in events:
        mapping = overrides.get((event.carrier, event.code))
        if mapping is None:
            out.append(event)
            continue
        adapter = {"status": event.status, "substatus": event.substatus, "mapped": event.mapped,
                   "layer": event.attributes.get("mapping_layer")}
        out.append(replace(
            event, status=mapping.status, substatus=mapping.substatus, mapped=True,
            attributes={**event.attributes, "mapping_layer": OVERRIDE_LAYER,
                        "adapter_mapping": {k: v for k, v in adapter.items() if v is not None}},
        ))
    return out


class MappingOverrides:
    """The table the normalizer applies; ``table`` is replaced whole, never changed in place."""

    def __init__(self, table: Mapping[tuple[str, str], CodeMapping] | None = None,
                 timeout: float = REFRESH_TIMEOUT) -> None:
        self.table: Mapping[tuple[str, str], CodeMapping] = dict(table or {})
        self.timeout = timeout

    async def refresh(self, sink: PostgresSink) -> bool:
        """Reload from PostgreSQL within ``timeout`` seconds; False (the old table kept) when that fails."""

        async def load() -> mapping_overrides.Overrides:
            await sink.open()
            return await mapping_overrides.load_all(sink.pool)

        return await self._reload(load)

    async def refresh_from(self, pool: AsyncConnectionPool[Any]) -> bool:
        """``refresh`` from an open pool (the pollers' own)."""
        return await self._reload(lambda: mapping_overrides.load_all(pool))

    async def _reload(self, load: Callable[[], Awaitable[mapping_overrides.Overrides]]) -> bool:
        try:
            table = await asyncio.wait_for(load(), timeout=self.timeout)
        except Exception as exc:  # the database being away must never stop normalization
            log.warning("code mapping overrides not refreshed, keeping %d: %s", len(self.table), exc)
            return False
        if table != self.table:
            log.info("code mapping overrides: %d loaded", len(table))
        self.table = table
        return True


def register(app: faust.App, sink: PostgresSink, settings: Settings) -> MappingOverrides:
    overrides = MappingOverrides()

    async def refresh_overrides() -> None:
        await overrides.refresh(sink)

    app.task(refresh_overrides)  # at start, then on the timer
    app.timer(interval=settings.mapping_refresh_seconds)(refresh_overrides)
    return overrides
