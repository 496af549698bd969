"""Batch requests whose "not found" answer may cover the whole batch.

Some carriers take several numbers per request but do not document what a batch with one unknown
number answers: the numbers they know (then a 404 means none is known), or a 404 for the whole
batch. ``fetch_bisecting`` works either way: a batch answered with 404 is split in halves and each
half asked again, down to single numbers, so one unknown parcel costs about ``2 * log2(batch)``
extra requests instead of hiding every other number of its batch.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from pollers.clients.base import HTTP_STATUS_HEADER, Fetched, Target


async def fetch_bisecting(targets: Sequence[Target],
                          request: Callable[[Sequence[Target]], Awaitable[Fetched]]) -> list[Fetched]:
    """``request`` for all ``targets``; when that answers 404 and asked for several, each half again."""
    fetched = await request(targets)
    if len(targets) <= 1 or fetched.headers.get(HTTP_STATUS_HEADER) != "404":
        return [fetched]
    middle = len(targets) // 2
    return [*await fetch_bisecting(targets[:middle], request), *await fetch_bisecting(targets[middle:], request)]
