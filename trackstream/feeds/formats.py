"""Feed formats and targets: what a file holds and which raw topic its messages go to.

Three formats:

``batch``
    One document (JSON or XML) exactly as a carrier sends or returns it (a webhook body, a polling
    response): one raw message, as if it had arrived by webhook or poll. For ``native`` and for a
    carrier without an adapter, the document is a native event list (``[...]`` or
    ``{"events": [...]}``) instead.
``jsonl``
    JSON lines: every non-blank line is one carrier payload (one raw message per line); for
    ``native`` and for a carrier without an adapter, every line is one native event item.
``csv``
    Rows in trackstream's native event fields (``CSV_COLUMNS``, header row required) for the carrier
    named by the import; they become native items sent to ``carrier.native.raw`` in chunks, so a
    carrier without an adapter (an own fleet, a local courier) can be imported too.

Where a feed goes (``resolve_target``):

- ``native``: native items, each naming its own carrier, to ``carrier.native.raw``;
- a carrier with a raw topic and an adapter (built in, or defined by a file in
  ``TRACKSTREAM_CARRIERS_DIR``): batch and JSON-lines payloads go to ``carrier.<carrier>.raw``
  untouched; CSV rows become native items of that carrier;
- an adapter without a raw topic (none today; kept so a new adapter is never mistaken for an own
  carrier): only CSV;
- any other name matching ``[a-z0-9_-]{1,32}`` is an own carrier: every format is read as native
  items of that carrier (items may leave ``carrier`` out; when given it must be this name).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

import carriers
from carriers.native import CARRIER_PATTERN
from trackstream import topics as names

NATIVE = "native"


class Format(enum.StrEnum):
    BATCH = "batch"
    JSONL = "jsonl"
    CSV = "csv"


#: File extensions (lower case) and the format they mean.
EXTENSIONS: dict[str, Format] = {
    ".json": Format.BATCH, ".xml": Format.BATCH,
    ".jsonl": Format.JSONL, ".ndjson": Format.JSONL,
    ".csv": Format.CSV,
}

#: HTTP media types (``Content-Type`` without parameters) and the format they mean.
MEDIA_TYPES: dict[str, Format] = {
    "application/json": Format.BATCH, "application/xml": Format.BATCH, "text/xml": Format.BATCH,
    "application/x-ndjson": Format.JSONL, "application/jsonl": Format.JSONL,
    "application/x-jsonlines": Format.JSONL,
    "text/csv": Format.CSV,
}

#: The CSV header of a native feed. ``tracking_number``, ``status`` and ``occurred_at`` are required;
#: ``carrier`` is optional (required when importing as ``native``).
CSV_COLUMNS: tuple[str, ...] = (
    "tracking_number", "status", "substatus", "code", "description", "occurred_at",
    "location_city", "location_postcode", "location_country", "event_id",
)
CSV_OPTIONAL_COLUMNS: tuple[str, ...] = ("carrier",)
CSV_REQUIRED_COLUMNS: tuple[str, ...] = ("tracking_number", "status", "occurred_at")


class FeedUsageError(Exception):
    """The import cannot start: unknown carrier, unknown format, missing file (exit 2 / HTTP 4xx)."""


class UnknownCarrier(FeedUsageError):
    """The carrier name is not usable for this format (exit 2 / HTTP 404)."""


def format_of_path(path: PurePath) -> Format | None:
    """The format a file's extension means, or None."""
    return EXTENSIONS.get(path.suffix.lower())


def format_of_media_type(media_type: str) -> Format | None:
    return MEDIA_TYPES.get(media_type.split(";", 1)[0].strip().lower())


def payload_carriers(configured: Iterable[str] = ()) -> list[str]:
    """Carriers whose own payloads can be imported: a raw topic and an adapter, built in or defined
    by a file (``configured``: ``Settings.configured_carriers``)."""
    defined = set(configured)
    return sorted(c for c in names.raw_carriers(defined) if c != NATIVE
                  and (c in carriers.KNOWN_CARRIERS or c in defined))


def known_carriers_text(configured: Iterable[str] = ()) -> str:
    return (f"carriers with their own payload format: {', '.join(payload_carriers(configured))}; "
            f"'{NATIVE}' for native items naming their carrier; any other name [a-z0-9_-] for an "
            "own carrier in the native format")


@dataclass(frozen=True)
class Target:
    """Where a feed's messages go and how its lines are read."""

    carrier: str  # the carrier named by the import (lower case)
    topic: str
    #: True: lines/rows are native items (validated, chunked); False: each one is a carrier payload.
    native: bool
    #: The carrier every native item must belong to (filled in when an item leaves it out); None for
    #: ``native``, whose items name their own carrier.
    item_carrier: str | None

    def item_for(self, item: dict[str, Any]) -> dict[str, Any]:
        """The item with its carrier filled in (a copy only when something changes)."""
        if self.item_carrier is not None and item.get("carrier") in (None, ""):
            return {**item, "carrier": self.item_carrier}
        return item

    def carrier_problem(self, item: dict[str, Any]) -> str | None:
        if self.item_carrier is None:
            return None
        given = item.get("carrier")
        if isinstance(given, str) and given.strip().lower() != self.item_carrier:
            return f"carrier {given!r} differs from the imported carrier {self.item_carrier!r}"
        return None


def check_carrier_name(carrier: str, configured: Iterable[str] = ()) -> str:
    """The name in lower case; ``UnknownCarrier`` when it cannot be a carrier name at all."""
    name = carrier.strip().lower()
    if not CARRIER_PATTERN.fullmatch(name):
        raise UnknownCarrier(f"not a carrier name: {carrier!r} (must match [a-z0-9_-]{{1,32}}); "
                             + known_carriers_text(configured))
    return name


def resolve_target(carrier: str, fmt: Format, configured: Iterable[str] = ()) -> Target:
    """The target of a feed of ``fmt`` for ``carrier``; ``UnknownCarrier`` when there is none.
    ``configured``: the carriers defined by a file (``Settings.configured_carriers``)."""
    name = check_carrier_name(carrier, configured)
    native_topic = names.raw_topic(NATIVE)
    if name == NATIVE:
        return Target(name, native_topic, native=True, item_carrier=None)
    if fmt is Format.CSV:
        return Target(name, native_topic, native=True, item_carrier=name)
    if name in payload_carriers(configured):
        return Target(name, names.raw_topic(name), native=False, item_carrier=None)
    if name in carriers.KNOWN_CARRIERS:
        raise UnknownCarrier(f"{name} has no raw topic yet, so its own payloads cannot be imported "
                             "(CSV in native fields can); " + known_carriers_text(configured))
    return Target(name, native_topic, native=True, item_carrier=name)
