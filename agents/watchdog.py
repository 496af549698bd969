"""Partition watchdog: notice a source partition whose fetching stopped, and fetch it again
without losing or skipping a message.

Upstream Faust/aiokafka can leave an assigned partition un-fetched after a rebalance although
messages wait in it (faust-streaming/faust#629). A partition is *stalled* when, for
``stall_seconds``:

- messages wait in it that the fetcher has not handed to the streams;
- the worker holds none of its messages: none handed over and not yet committed (a slow agent or
  a slow sink holds messages: that is back-pressure, not a stall);
- its read offset did not move;
- and the fetcher is not simply waiting behind a slow agent: it handed other partitions messages
  meanwhile, or the worker holds no message of any partition.

The remedy resumes the partition if it is paused and seeks it to its read offset. It never seeks
back to the committed offset and never clears the streams' buffers. An earlier version did both,
and took slow partitions for stalled ones: under load the consumer then marked the re-read range
as a gap and committed offsets past events no agent had processed.

The decision (:class:`StallDetector`) is pure; :func:`observe` reads the consumer's state.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class PartitionView:
    """What the worker knows of one assigned source partition."""

    highwater: int | None  # log end offset (the offset the next written message gets)
    read: int | None  # last offset the fetcher handed to the streams, None before the first
    committed: int | None  # committed offset: the next one to process after a restart
    in_flight: int  # messages handed to the streams and not acknowledged yet
    paused: bool

    # Faust keeps in its read offset either the last offset handed over or, after an assignment
    # or a seek, the next one to read. The properties below hold under both readings.

    @property
    def seek_to(self) -> int:
        """Where to fetch again: the read offset itself. From there the fetcher hands over at most
        one message twice, never skips one, and a batch still in flight from before continues
        without a gap."""
        if self.read is not None:
            return self.read
        return self.committed or 0

    @property
    def held(self) -> bool:
        """The worker holds messages of this partition (handed over, not committed yet)."""
        return self.in_flight > 0 or (self.read is not None and self.committed is not None
                                      and self.read > self.committed)

    @property
    def unfetched(self) -> bool:
        """Messages wait that the fetcher has not handed over (when read == committed, the
        message at the read offset counts as waiting: at worst it is handed over twice)."""
        if self.highwater is None:
            return False
        if self.read is None:
            return self.highwater > (self.committed or 0)
        return self.highwater > self.read + 1 or (self.highwater > self.read and self.read == self.committed)


@dataclass(frozen=True, slots=True)
class Unstick:
    """A stalled partition: resume it (if paused) and fetch from ``seek_to``."""

    tp: Hashable
    seek_to: int
    paused: bool


class StallDetector:
    """Which partitions stalled (pure: the caller passes the time)."""

    def __init__(self, stall_seconds: float) -> None:
        self.stall_seconds = stall_seconds
        self._since: dict[Hashable, tuple[int | None, float]] = {}  # read offset, since when
        self._reads: dict[Hashable, int | None] = {}  # every partition's read offset, last round
        self._fetched_at: dict[Hashable, float] = {}  # per topic: when the fetcher last handed it something

    def reset(self) -> None:
        self._since.clear()
        self._reads.clear()
        self._fetched_at.clear()

    def check(self, views: Mapping[Hashable, PartitionView], now: float) -> list[Unstick]:
        """Partitions stalled for ``stall_seconds`` as of ``now`` (monotonic seconds).

        One fetcher serves every partition of the worker, and it stops feeding a topic while the
        agent reading it has a full buffer, while other agents' topics still flow (the alert ticks
        do, every few seconds). So the evidence is taken per topic: when the fetcher handed none of
        a topic's partitions anything for ``stall_seconds`` while messages of that topic are in
        flight, they all stand still behind a slow agent and none is stalled. A partition is
        stalled when the fetcher handed other partitions of its topic messages meanwhile, or when
        nothing of its topic is in flight."""
        reads = {tp: view.read for tp, view in views.items()}
        groups = {tp: topic_of(tp) for tp in views}
        for group in set(groups.values()):
            moved = any(self._reads.get(tp, read) != read for tp, read in reads.items() if groups[tp] == group)
            if group not in self._fetched_at or moved:
                self._fetched_at[group] = now
        self._reads = reads
        fetching = {g: now - at < self.stall_seconds for g, at in self._fetched_at.items()}
        busy = {g: any(view.held for tp, view in views.items() if groups[tp] == g) for g in set(groups.values())}
        for tp in list(self._since):
            if tp not in views:
                del self._since[tp]
        stalled: list[Unstick] = []
        for tp, view in views.items():
            if not view.unfetched or view.held:
                self._since.pop(tp, None)
                continue
            seen = self._since.get(tp)
            if seen is None or seen[0] != view.read:
                self._since[tp] = (view.read, now)
            elif now - seen[1] >= self.stall_seconds and (fetching[groups[tp]] or not busy[groups[tp]]):
                stalled.append(Unstick(tp, view.seek_to, view.paused))
                del self._since[tp]
        return stalled


def topic_of(tp: Hashable) -> Hashable:
    """The group a partition's evidence is taken in: its topic (``TP.topic``); None for anything
    without one (all one group)."""
    return getattr(tp, "topic", None)


def observe(consumer: Any) -> dict[Hashable, PartitionView]:
    """The assigned source partitions of a Faust consumer (changelogs excluded).

    Reads private fields of Faust's consumer (read and committed offsets, unacknowledged
    messages, paused partitions): no public API exposes them.
    """
    in_flight: dict[Hashable, int] = {}
    for message in list(consumer._unacked_messages):
        in_flight[message.tp] = in_flight.get(message.tp, 0) + 1
    paused = set(consumer._paused_partitions)
    views: dict[Hashable, PartitionView] = {}
    for tp in consumer.assignment():
        if consumer._is_changelog_tp(tp):
            continue
        views[tp] = PartitionView(
            highwater=consumer.highwater(tp), read=consumer._read_offset.get(tp),
            committed=consumer._committed_offset.get(tp), in_flight=in_flight.get(tp, 0),
            paused=tp in paused,
        )
    return views
