"""Broker messages per event, hop by hop: records written to each topic during a run.

``snapshot`` reads every topic's end offsets (summed over its partitions), internal topics such as
``__consumer_offsets`` included; two snapshots give the records written in between (compaction and
retention never lower an end offset, and idempotent producers write no control records, so the
difference is exact). ``hops`` puts them in pipeline order and ``format_hops`` divides each by the
events stored in the run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition

from trackstream import topics as names

CONSUMER_OFFSETS = "__consumer_offsets"
#: Topics after the raw ones, in the order the pipeline writes them.
PIPELINE_ORDER = (names.TRACKING_EVENTS, names.SHIPMENT_CHANGES, names.SHIPMENT_UPDATES, names.DEADLETTER,
                  names.SHIPMENTS_REGISTERED, names.ALERTS)


@dataclass(frozen=True)
class Hop:
    topic: str
    records: int
    kind: str  # "raw", "pipeline", "changelog", "offsets", "other"


async def snapshot(bootstrap: str, keep: Callable[[str], bool] = lambda name: True) -> dict[str, int]:
    """Every topic's end offset summed over its partitions (``keep`` filters the names)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    try:
        await consumer.start()
        described = await admin.describe_topics()
        tps = [TopicPartition(t["topic"], p["partition"]) for t in described if keep(t["topic"])
               for p in t["partitions"]]
        ends = await asyncio.wait_for(consumer.end_offsets(tps), timeout=30)
    finally:
        await consumer.stop()
        await admin.close()
    out: dict[str, int] = {}
    for tp, end in ends.items():
        out[tp.topic] = out.get(tp.topic, 0) + end
    return out


def written(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    """Records written per topic between two snapshots (a topic created in between started at 0)."""
    return {topic: end - before.get(topic, 0) for topic, end in after.items()}


def kind_of(topic: str, app_id: str) -> str:
    if topic.startswith("carrier.") and topic.endswith(".raw"):
        return "raw"
    if topic in PIPELINE_ORDER:
        return "pipeline"
    if topic.startswith(f"{app_id}-") and topic.endswith("-changelog"):
        return "changelog"
    if topic == CONSUMER_OFFSETS:
        return "offsets"
    return "other"


def hops(counts: Mapping[str, int], app_id: str, always: Iterable[str] = ()) -> list[Hop]:
    """The topics written (and those named in ``always``, even at 0), in pipeline order: raw topics,
    ``tracking.events`` … ``tracking.deadletter``, changelogs, ``__consumer_offsets``, the rest."""
    wanted = {t for t, n in counts.items() if n} | set(always)
    rank = {"raw": 0, "pipeline": 1, "changelog": 2, "offsets": 3, "other": 4}

    def key(topic: str) -> tuple[int, int, str]:
        kind = kind_of(topic, app_id)
        order = PIPELINE_ORDER.index(topic) if kind == "pipeline" else 0
        return rank[kind], order, topic

    return [Hop(t, counts.get(t, 0), kind_of(t, app_id)) for t in sorted(wanted, key=key)]


def format_hops(rows: list[Hop], events: int) -> list[str]:
    """One line per hop (records written ÷ events stored) and the total."""
    total = sum(h.records for h in rows)
    width = max([len(h.topic) for h in rows] + [len("total")])
    lines = [f"broker messages per event (records written during the run ÷ {events:,} events stored):"]
    if events <= 0:
        return [*lines, "  n/a: no event stored"]
    for h in rows:
        lines.append(f"  {h.topic:<{width}}  {h.records / events:8.4f}  ({h.records:,} records)")
    lines.append(f"  {'total':<{width}}  {total / events:8.4f}  ({total:,} records)")
    return lines
