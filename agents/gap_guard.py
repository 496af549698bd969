"""Never commit past a message no agent processed.

Faust's fetcher compares each message's offset with the last one it handed to the streams; on a
jump it records the missing offsets as a *gap* and counts them as acknowledged, so the next commit
passes over them (``Consumer._add_gap``). That is right for compacted topics, whose offsets have
holes. trackstream's source topics are not compacted and not transactional: their offsets have
no holes, so a jump means the fetcher dropped messages it had fetched (seen on a loaded machine
right after a worker restart: offsets 70-73 of a raw partition were never processed, yet
committed; upstream faust-streaming/faust#606 describes related wrong commits with gaps).

The guard replaces that step. Missing offsets that the broker no longer has (deleted by retention)
are left to Faust as before. Missing offsets that still exist mean dropped messages: the worker
logs them and exits at once with :data:`EXIT_SKIPPED_MESSAGES`, before anything after the jump is
processed or committed, so its successor (``trackstream up`` restarts it; a container runtime's
restart policy does in production) starts from the committed offset and processes them. Nothing
is lost; what was processed after the committed offset is processed again and deduplicated.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

from trackstream import metrics

log = logging.getLogger(__name__)

#: Exit status of a worker that stopped rather than skip messages (EX_TEMPFAIL: restart it).
EXIT_SKIPPED_MESSAGES = 75


def skipped_messages(offset_from: int, offset_to: int, earliest: int | None) -> tuple[int, int] | None:
    """The missing offsets ``offset_from``..``offset_to - 1`` that still exist in the partition
    (``earliest``: its log start offset, None when unknown), or None when none does."""
    first = offset_from if earliest is None else max(offset_from, earliest)
    return (first, offset_to) if first < offset_to else None


def guard(original: Callable[..., Awaitable[None]],
          exit_process: Callable[[int], Any] = os._exit) -> Callable[..., Awaitable[None]]:
    """A replacement for ``Consumer._add_gap`` that calls ``original`` only for offsets the
    broker no longer has, and otherwise stops the process."""

    async def _add_gap(self: Any, tp: Any, offset_from: int, offset_to: int) -> None:
        try:
            earliest = (await self.earliest_offsets(tp)).get(tp)
        except Exception as exc:  # the broker could not say: assume the messages exist
            log.warning("could not read the log start of %s: %s", tp, exc)
            earliest = None
        skipped = skipped_messages(offset_from, offset_to, earliest)
        if skipped is None:
            await original(self, tp, offset_from, offset_to)  # deleted by retention: Faust's way
            return
        metrics.SKIPPED_MESSAGES_STOPS.inc()
        log.critical("the consumer skipped offsets %s..%s of %s that were never processed; the worker stops"
                     " (exit %s) so that it resumes from the committed offset instead of committing past them",
                     skipped[0], skipped[1] - 1, tp, EXIT_SKIPPED_MESSAGES)
        for handler in logging.getLogger().handlers:
            handler.flush()
        exit_process(EXIT_SKIPPED_MESSAGES)

    return _add_gap


def install() -> None:
    """Patch Faust's consumer class, once per process (the worker's)."""
    from faust.transport.consumer import Consumer

    if getattr(Consumer, "_trackstream_gap_guard", False):
        return
    Consumer._add_gap = guard(Consumer._add_gap)  # type: ignore[method-assign,assignment]
    Consumer._trackstream_gap_guard = True  # type: ignore[attr-defined]
