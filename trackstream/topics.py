"""Topic names and partitioning: one place, so producers outside Faust (the API, the bench, pollers)
and the Faust agents agree on where a shipment's messages go."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from aiokafka.partitioner import murmur2

from carriers import ADAPTERS

TRACKING_EVENTS = "tracking.events"
SHIPMENTS_REGISTERED = "shipments.registered"
SHIPMENT_UPDATES = "shipment.updates"
SHIPMENT_CHANGES = "shipment.changes"
DEADLETTER = "tracking.deadletter"
ALERTS = "tracking.alerts"
#: one tick per partition every TRACKSTREAM_ALERT_TICK_SECONDS: the track agent visits its due-time index
ALERT_TICKS = "alerts.ticks"

#: Carriers with a raw topic: every adapter, since each has a way in (webhooks, pollers, file
#: feeds; "native" is POST /v1/events).
RAW_CARRIERS: tuple[str, ...] = ADAPTERS


def raw_topic(carrier: str) -> str:
    return f"carrier.{carrier}.raw"


def raw_carriers(configured: Iterable[str] = ()) -> tuple[str, ...]:
    """``RAW_CARRIERS`` plus the carriers defined by a file (``Settings.configured_carriers``):
    each of those gets its raw topic as soon as it is defined."""
    return (*RAW_CARRIERS, *sorted(set(configured) - set(RAW_CARRIERS)))


def all_topics(configured: Iterable[str] = ()) -> list[str]:
    return [
        *(raw_topic(c) for c in raw_carriers(configured)),
        TRACKING_EVENTS, SHIPMENTS_REGISTERED, SHIPMENT_UPDATES, SHIPMENT_CHANGES, DEADLETTER, ALERTS, ALERT_TICKS,
    ]


@lru_cache(maxsize=131072)
def partition_for(key: str, partitions: int) -> int:
    """Kafka's default partitioner (murmur2 of the key bytes, positive, modulo partitions).

    The same function Java clients, aiokafka and Faust use for keyed messages, so a message sent
    here with an explicit partition meets the messages others send with the same key.
    """
    return int(murmur2(key.encode()) & 0x7FFFFFFF) % partitions
