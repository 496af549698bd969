"""What the ``track`` agent needs to detect alerts: the rules, the clock, the due-time index of the
partitions it holds (rebuilt from the ``shipment_states`` table when it gains one), the tick.

The agent decides alerts for every shipment a message changes (``trackstream.alerts.lifecycle``),
and on a tick for those whose ``due`` passed: no extra Faust message per event, and a tick reads
only what is due.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from faust.types import TableT

from tables.shipment_states import ShipmentState
from trackstream.alerts.due_index import DueIndex
from trackstream.alerts.rules import AlertRules
from trackstream.topics import partition_for

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Alerting:
    rules: AlertRules = field(default_factory=AlertRules)
    index: DueIndex = field(default_factory=lambda: DueIndex(Path(".trackstream-alert-due")))
    partitions: int = 8
    tick_seconds: float = 10.0
    per_tick: int = 2000
    clock: Callable[[], datetime] = _now
    built: set[int] = field(default_factory=set)

    def forget(self, partitions: set[int]) -> None:
        """The worker lost these partitions: their index is rebuilt if it gets them back."""
        self.built -= partitions

    def ensure_index(self, partition: int, states: TableT[str, bytes]) -> None:
        if partition in self.built:
            return
        started = time.perf_counter()
        count = self.index.rebuild(partition, _dues(states, partition, self.partitions))
        self.built.add(partition)
        log.info("alert due-time index of partition %s rebuilt: %s shipment(s) due later, %.2fs", partition,
                 count, time.perf_counter() - started)


def partition_values(states: TableT[str, bytes], partition: int, partitions: int) -> Iterator[bytes]:
    """The values the table holds for ``partition`` on this worker.

    With the RocksDB store each partition is its own database, read directly (the store's
    per-partition map is not public API; anything else falls back to filtering every item)."""
    store: Any = states.data
    dbs = getattr(store, "_dbs", None)
    visible = getattr(store, "_visible_items", None)
    if isinstance(dbs, dict) and callable(visible):
        db = dbs.get(partition)
        if db is None:
            return
        for _key, value in visible(db):
            yield value
        return
    for key, value in states.items():
        if partition_for(str(key), partitions) == partition:
            yield value


def _dues(states: TableT[str, bytes], partition: int, partitions: int) -> Iterator[tuple[str, datetime]]:
    for raw in partition_values(states, partition, partitions):
        state = ShipmentState.decode(raw)
        if state.due is not None:
            yield state.key, state.due
