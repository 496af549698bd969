"""The Faust side of ``trackstream.topics``: the topics declared on an app, raw bytes throughout."""

from __future__ import annotations

from dataclasses import dataclass

import faust
from faust.types import TopicT

from trackstream import topics as names
from trackstream.settings import Settings


@dataclass(frozen=True)
class Topics:
    raw: TopicT  # every carrier.<carrier>.raw topic
    tracking_events: TopicT
    registered: TopicT
    track_input: TopicT  # tracking.events + shipments.registered + alerts.ticks, co-partitioned
    updates: TopicT
    changes: TopicT
    deadletter: TopicT
    alerts: TopicT
    alert_ticks: TopicT


def _topic(app: faust.App, *topic_names: str, partitions: int) -> TopicT:
    return app.topic(
        *topic_names, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
        partitions=partitions, internal=False,
    )


def declare_topics(app: faust.App, settings: Settings) -> Topics:
    n = settings.partitions
    return Topics(
        raw=_topic(app, *(names.raw_topic(c) for c in names.raw_carriers(settings.configured_carriers)),
                   partitions=n),
        tracking_events=_topic(app, names.TRACKING_EVENTS, partitions=n),
        registered=_topic(app, names.SHIPMENTS_REGISTERED, partitions=n),
        track_input=_topic(app, names.TRACKING_EVENTS, names.SHIPMENTS_REGISTERED, names.ALERT_TICKS, partitions=n),
        updates=_topic(app, names.SHIPMENT_UPDATES, partitions=n),
        changes=_topic(app, names.SHIPMENT_CHANGES, partitions=n),
        deadletter=_topic(app, names.DEADLETTER, partitions=n),
        alerts=_topic(app, names.ALERTS, partitions=n),
        alert_ticks=_topic(app, names.ALERT_TICKS, partitions=n),
    )
