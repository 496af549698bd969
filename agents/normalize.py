"""``normalize``: raw carrier payloads → normalized events on ``tracking.events``; bad input →
``tracking.deadletter`` with its reason.

Stateless, so it reads the raw topics in batches (``take_events``) and groups the resulting events
by the partition of ``tracking.events`` their shipment key hashes to: one Faust message per
partition per batch instead of one per event (split above ``MAX_MESSAGE_BYTES``, so a backlog never
builds a message the broker refuses). It awaits the broker's acknowledgement of everything
it sent before the batch is acked, so an offset is never committed past an unsent event.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any

import faust
from faust.streams import Stream
from faust.types import EventT, StreamT

import carriers
from agents.mapping_overrides import OVERRIDE_LAYER, MappingOverrides, apply_overrides
from carriers.base import CodeMapping, ParseError
from schemas.deadletter import DeadLetter
from schemas.events import TZ_ASSUMED, TrackingEvent, encode_event_messages, parse_utc
from schemas.raw import EnvelopeError, is_packed
from schemas.raw import items as raw_items
from trackstream import crash, metrics
from trackstream.retry import retry_forever
from trackstream.settings import Settings
from trackstream.topics import partition_for
from trackstream.topics_faust import Topics

log = logging.getLogger(__name__)

RECEIVED_AT_HEADER = "received-at"
#: The dead-letter error code of a payload a parser crashed on (a bug, not the payload's fault).
INTERNAL_ERROR = "internal_error"
SOURCE_HEADER = "source"


def carrier_of(topic: str) -> str:
    """``carrier.<name>.raw`` → ``<name>``."""
    parts = topic.split(".")
    if len(parts) != 3 or parts[0] != "carrier" or parts[2] != "raw":
        raise ValueError(f"not a raw carrier topic: {topic}")
    return parts[1]


def decode_headers(headers: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    items = headers.items() if isinstance(headers, dict) else (headers or [])
    for name, value in items:
        out[str(name).lower()] = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return out


@dataclass
class NormalizedBatch:
    """What one batch of raw messages turns into: event groups per partition, and dead letters."""

    by_partition: dict[int, list[TrackingEvent]] = field(default_factory=lambda: defaultdict(list))
    deadletters: list[DeadLetter] = field(default_factory=list)
    raw_count: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def normalize_one(
    carrier: str, payload: bytes, headers: dict[str, str], now: datetime
) -> list[TrackingEvent]:
    """Parse one raw payload with its carrier's adapter (pure)."""
    parser = carriers.get_parser(carrier)
    if parser is None:
        raise ParseError(f"no adapter for carrier {carrier!r}")
    received_text = headers.get(RECEIVED_AT_HEADER)
    try:
        received_at = parse_utc(received_text) if received_text else now
    except ValueError:
        received_at = now
    events = list(parser(payload, headers, received_at))
    if headers.get(SOURCE_HEADER) == "feed":  # an imported file: that is where trackstream got it
        return [replace(event, source="feed") for event in events]
    return events


def normalize_batch(
    messages: Sequence[tuple[str, int, int, bytes, dict[str, str]]], partitions: int, now: datetime,
    overrides: Mapping[tuple[str, str], CodeMapping] | None = None,
) -> NormalizedBatch:
    """(topic, partition, offset, payload, headers) per message → grouped events and dead letters.
    ``overrides``: the operators' code mappings (``agents.mapping_overrides``), applied to every event.

    A ``ParseError`` is the payload's fault: a dead letter with the parser's reason and code. Any
    other exception is a bug in the parser. Parsers do not catch those themselves (a catch-all
    there would hide bugs from the property tests as "malformed payload"); this is the one place
    that does: the payload becomes an ``internal_error`` dead letter (kept for a replay once the
    parser is fixed), ``trackstream_parser_internal_errors_total{carrier}`` counts it, and the log
    gets the traceback without the exception's message, which may quote the payload
    (``trackstream.crash``)."""
    out = NormalizedBatch()
    for topic, partition, offset, value, record_headers in messages:
        carrier = carrier_of(topic)
        try:
            items = raw_items(value, record_headers)
        except EnvelopeError as exc:  # a damaged packed record: kept whole, with the reason
            out.raw_count[carrier] += 1
            out.deadletters.append(DeadLetter(
                carrier=carrier, reason=str(exc), error="malformed_envelope", payload=value, received_at=now,
                topic=topic, partition=partition, offset=offset, headers=record_headers,
            ))
            continue
        packed = is_packed(value)
        for index, item in enumerate(items):
            payload, headers = item.payload, dict(item.headers)
            out.raw_count[carrier] += 1

            letter = partial(DeadLetter, carrier=carrier, payload=payload, received_at=now, topic=topic,
                             partition=partition, offset=offset, headers=headers, item=index if packed else None)

            try:
                events = normalize_one(carrier, payload, headers, now)
            except ParseError as exc:
                out.deadletters.append(letter(reason=str(exc) or type(exc).__name__, error=exc.code))
                continue
            except Exception as exc:  # a parser bug: the one place it becomes a dead letter (see above)
                reason = crash.summary(carrier, exc)
                log.error("%s, on %s:%s:%s\n%s", reason, topic, partition, offset, crash.safe_traceback(exc))
                metrics.PARSER_INTERNAL_ERRORS.labels(carrier).inc()
                out.deadletters.append(letter(reason=reason, error=INTERNAL_ERROR))
                continue
            for event in apply_overrides(events, overrides or {}):
                out.by_partition[partition_for(event.key, partitions)].append(event)
    return out


def count_assumed_zones(result: NormalizedBatch) -> None:
    """``trackstream_timezone_assumed_total{carrier}``: events whose local time nothing in the payload
    placed in a zone (``tz_source=assumed``: read in the carrier's home zone, ``carriers.zones``)."""
    for events in result.by_partition.values():
        for event in events:
            if event.tz_source == TZ_ASSUMED:
                metrics.TIMEZONE_ASSUMED.labels(event.carrier).inc()


def register(app: faust.App, topics: Topics, settings: Settings, overrides: MappingOverrides | None = None) -> None:
    partitions = settings.partitions
    overrides = overrides or MappingOverrides()

    async def normalize(stream: StreamT[bytes]) -> None:
        assert isinstance(stream, Stream)
        async for batch in stream.take_events(settings.normalize_batch, within=settings.normalize_within):
            await _process(batch)

    async def _process(batch: Sequence[EventT[bytes]]) -> None:
        messages = [
            (e.message.topic, e.message.partition, e.message.offset, e.message.value or b"",
             decode_headers(e.message.headers))
            for e in batch
        ]
        result = normalize_batch(messages, partitions, datetime.now(UTC), overrides.table)
        # resending is safe: downstream deduplication absorbs repeats
        await retry_forever(lambda: _send(result), "sending a normalized batch")
        for carrier, count in result.raw_count.items():
            metrics.EVENTS_IN.labels(carrier).inc(count)
        for events in result.by_partition.values():
            for event in events:
                metrics.EVENTS_OUT.labels(event.carrier, event.status).inc()
                if not event.mapped:
                    metrics.UNMAPPED.labels(event.carrier).inc()
                elif event.attributes.get("mapping_layer") == OVERRIDE_LAYER:
                    metrics.MAPPING_OVERRIDES_APPLIED.labels(event.carrier).inc()
        count_assumed_zones(result)
        for letter in result.deadletters:
            log.warning("dead-lettered %s:%s:%s (%s)", letter.topic, letter.partition, letter.offset,
                        letter.reason)
            metrics.DEADLETTERED.labels(letter.carrier, letter.error).inc()

    async def _send(result: NormalizedBatch) -> None:
        pending: list[Awaitable[Any]] = []
        for partition, events in result.by_partition.items():
            for first, value in encode_event_messages(events):
                pending.append(await topics.tracking_events.send(
                    key=first.key.encode(), value=value, partition=partition, force=True,
                ))
        for letter in result.deadletters:
            pending.append(await topics.deadletter.send(
                key=letter.carrier.encode(), value=letter.to_json(), force=True,
            ))
        if pending:
            await asyncio.gather(*pending)

    app.agent(topics.raw, name="normalize")(normalize)

