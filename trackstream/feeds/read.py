"""Reading feeds: every line or row validated, then turned into raw-topic messages.

``read_records`` streams a feed (a binary file or ``io.BytesIO``) and yields what is valid
(``Payload``: one carrier payload; ``Item``: one native event item) while recording what is not in
``FeedStats`` with its line number. Memory stays bounded: CSV and JSON lines are read line by
line, a line longer than the payload limit is skipped without being held, and only a batch document
(one payload, or a native event list) is read whole, after its size was checked.

``MessageBuilder`` turns records into Kafka messages: a carrier payload is one message, unchanged
and without a key, as a webhook sends it (spread over the partitions, so every worker shares a big
file; their order does not matter, the tracker orders events by event time). Native items are
grouped by the partition their shipment key hashes to and sent in chunks (at most ``chunk_items``
items / ``chunk_bytes`` bytes), so one shipment's rows of a file stay in file order on one partition
and the normalizer gets large single-partition groups.
"""

from __future__ import annotations

import csv
import io
import logging
import xml.etree.ElementTree as ET
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

import orjson

from carriers.native import ItemError, validate_item
from schemas.events import format_utc
from trackstream import crash
from trackstream.feeds.formats import (
    CSV_COLUMNS,
    CSV_OPTIONAL_COLUMNS,
    CSV_REQUIRED_COLUMNS,
    Format,
    Target,
)
from trackstream.topics import partition_for

log = logging.getLogger(__name__)

SOURCE = "feed"
_CSV_DELIMITERS = (",", ";", "\t")


@dataclass(frozen=True)
class Limits:
    #: Largest carrier payload (a batch document or one JSON line): ``TRACKSTREAM_MAX_BODY_BYTES``.
    max_payload_bytes: int
    #: Largest native JSON document, which is read whole: ``TRACKSTREAM_MAX_FEED_BYTES``.
    max_document_bytes: int
    chunk_items: int = 500
    chunk_bytes: int = 512 * 1024

    def batch_limit(self, target: Target) -> int:
        return self.max_document_bytes if target.native else self.max_payload_bytes


@dataclass(frozen=True, slots=True)
class Problem:
    """One invalid line, row or item. ``line`` is 1-based (a CSV row: the line it starts on)."""

    line: int | None
    item: int | None  # index in a native JSON document
    field: str
    message: str

    def where(self) -> str:
        if self.line is not None:
            return f"line {self.line}"
        if self.item is not None:
            return f"events[{self.item}]"
        return "file"

    def detail(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message

    def text(self) -> str:
        return f"{self.where()}: {self.detail()}"


class FileProblem(Exception):
    """The feed as a whole cannot be read (bad CSV header, not UTF-8, malformed document)."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.problem = Problem(line, None, "", message)


@dataclass
class FeedStats:
    """What reading one or more feeds found. Only the first ``keep`` problems are kept in detail."""

    keep: int = 100
    records: int = 0  # valid lines/rows/documents
    payloads: int = 0  # carrier payloads among them
    events: int = 0  # native items among them
    invalid: int = 0
    problems: list[tuple[str, Problem]] = field(default_factory=list)  # (file name, problem)

    def add(self, name: str, problem: Problem) -> None:
        self.invalid += 1
        if len(self.problems) < self.keep:
            self.problems.append((name, problem))


@dataclass(frozen=True, slots=True)
class Payload:
    line: int
    data: bytes
    media_type: str


@dataclass(frozen=True, slots=True)
class Item:
    line: int | None
    item: dict[str, Any]
    key: str  # shipment key
    size: int  # estimated encoded size


Record = Payload | Item


# --- native items --------------------------------------------------------------------------------


def _native_item(value: Any, target: Target, line: int | None, index: int | None, received_at: datetime,
                 size: int, csv_fields: bool = False) -> Item | Problem:
    if not isinstance(value, dict):
        return Problem(line, index, "", f"must be a JSON object (one native event), got {type(value).__name__}")
    mismatch = target.carrier_problem(value)
    if mismatch is not None:
        return Problem(line, index, "carrier", mismatch)
    item = target.item_for(value)
    try:
        event = validate_item(item, index or 0, received_at)
    except ItemError as exc:
        name = exc.field.replace("location.", "location_") if csv_fields else exc.field
        return Problem(line, index, name, exc.problem)
    except Exception as exc:  # a bug in the validator: this item is refused, with that said (see below)
        return _validator_crash(exc, line, index)
    return Item(line, item, event.key, size)


def _validator_crash(exc: Exception, line: int | None, index: int | None) -> Problem:
    """The item the native validator crashed on (a bug in trackstream) is reported as an invalid
    item whose message says so, and the bug is logged without the exception's message
    (``trackstream.crash``). Unlike a webhook, which the carrier does not send again, a feed is
    still in its sender's hands, so refusing the one item (the feed with it, unless invalid items
    are skipped) loses nothing; storing it would send it to the dead letters together with the
    valid items of its chunk."""
    summary = crash.summary("native", exc)
    where = f"line {line}" if line is not None else f"events[{index}]"
    log.error("%s, on %s of a feed: the item is reported as invalid\n%s", summary, where, crash.safe_traceback(exc))
    return Problem(line, index, "", f"{summary} (a bug in trackstream, not in this item; please report it)")


# --- JSON lines ----------------------------------------------------------------------------------


def _lines(stream: IO[bytes], limit: int) -> Iterator[tuple[int, bytes | None]]:
    """(line number, stripped line) for every non-blank line; None for a line over ``limit`` bytes,
    which is skipped in pieces, never held whole."""
    number = 0
    while True:
        raw = stream.readline(limit + 2)
        if not raw:
            return
        number += 1
        if not raw.endswith(b"\n") and len(raw) >= limit + 2:
            while raw and not raw.endswith(b"\n"):
                raw = stream.readline(65536)
            yield number, None
            continue
        line = raw.strip()
        if line:
            yield number, line


def _read_jsonl(stream: IO[bytes], target: Target, limits: Limits,
                received_at: datetime) -> Iterator[Record | Problem]:
    for number, line in _lines(stream, limits.max_payload_bytes):
        if line is None:
            yield Problem(number, None, "", f"longer than {limits.max_payload_bytes} bytes "
                                            "(TRACKSTREAM_MAX_BODY_BYTES)")
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield Problem(number, None, "", f"not well-formed JSON: {exc}")
            continue
        if target.native:
            yield _native_item(value, target, number, None, received_at, len(line))
        elif isinstance(value, dict | list):
            yield Payload(number, line, "application/json")
        else:
            yield Problem(number, None, "", f"must be a JSON object or array (one {target.carrier} payload), "
                                            f"got {type(value).__name__}")


# --- CSV -----------------------------------------------------------------------------------------


def _csv_header(line: str, target: Target) -> tuple[str, list[str]]:
    if not line.strip():
        raise FileProblem(1, "empty: expected a header row (" + ",".join(CSV_COLUMNS) + ")")
    delimiter = max(_CSV_DELIMITERS, key=line.count)
    given = [c.strip() for c in next(csv.reader([line], delimiter=delimiter))]
    columns = [c.lower() for c in given]
    allowed = (*CSV_COLUMNS, *CSV_OPTIONAL_COLUMNS)
    unknown = [c for c in given if c.lower() not in allowed]
    if unknown:
        raise FileProblem(1, f"unknown column(s) {', '.join(map(repr, unknown))}; the columns are "
                             f"{', '.join(CSV_COLUMNS)} (and optionally carrier)")
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        raise FileProblem(1, f"column(s) {', '.join(duplicated)} appear more than once")
    missing = [c for c in CSV_REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise FileProblem(1, f"missing column(s) {', '.join(missing)}")
    if target.item_carrier is None and "carrier" not in columns:
        raise FileProblem(1, "a native CSV feed needs a carrier column (or import it as the carrier: "
                             "trackstream import <carrier> <file>)")
    return delimiter, columns


def _read_csv(stream: IO[bytes], target: Target, received_at: datetime) -> Iterator[Record | Problem]:
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    line_no = 1
    try:
        delimiter, columns = _csv_header(text.readline(), target)
        reader = csv.reader(text, delimiter=delimiter)
        width = len(columns)
        while True:
            line_no = 2 + reader.line_num
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield Problem(line_no, None, "", f"unreadable CSV: {exc}")
                continue
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != width:
                yield Problem(line_no, None, "", f"expected {width} fields, got {len(row)}")
                continue
            item: dict[str, Any] = {}
            location: dict[str, str] = {}
            size = 120
            for column, cell in zip(columns, row, strict=True):
                value = cell.strip()
                if not value:
                    continue
                size += len(value) + len(column) + 6
                if column.startswith("location_"):
                    location[column[9:]] = value
                else:
                    item[column] = value
            if location:
                item["location"] = location
            yield _native_item(item, target, line_no, None, received_at, size, csv_fields=True)
    except UnicodeDecodeError as exc:
        raise FileProblem(line_no, f"not UTF-8 text ({exc.reason})") from exc
    finally:
        if not stream.closed:
            text.detach()  # leave the caller's stream open


# --- batch documents -----------------------------------------------------------------------------


def _xml_problem(data: bytes) -> FileProblem | None:
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        return FileProblem(1, "XML with a DTD or entities is not accepted")
    try:
        ET.fromstring(data)
    except ET.ParseError as exc:
        return FileProblem(exc.position[0], f"not well-formed XML: {exc}")
    return None


def _read_batch(stream: IO[bytes], target: Target, limits: Limits, received_at: datetime,
                xml_hint: bool) -> Iterator[Record | Problem]:
    limit = limits.batch_limit(target)
    data = stream.read(limit + 1)
    if len(data) > limit:
        variable = "TRACKSTREAM_MAX_FEED_BYTES" if target.native else "TRACKSTREAM_MAX_BODY_BYTES"
        raise FileProblem(None, f"larger than {limit} bytes ({variable}); split it into JSON lines"
                          + (" or CSV" if target.native else ""))
    if not data.strip():
        raise FileProblem(1, "empty document")
    is_xml = xml_hint or data.lstrip()[:1] == b"<"
    if is_xml:
        if target.native:
            raise FileProblem(1, "a native feed document is JSON (a list of events or {\"events\": [...]})")
        problem = _xml_problem(data)
        if problem is not None:
            raise problem
        yield Payload(1, data, "application/xml")
        return
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise FileProblem(exc.lineno, f"not well-formed JSON: {exc}") from exc
    if not target.native:
        yield Payload(1, data, "application/json")
        return
    if isinstance(value, dict) and set(value) == {"events"}:
        value = value["events"]
    if not isinstance(value, list):
        raise FileProblem(1, 'a native feed document is a list of events or {"events": [...]}')
    for index, element in enumerate(value):
        size = len(orjson.dumps(element)) if isinstance(element, dict) else 0
        yield _native_item(element, target, None, index, received_at, size)


def read_records(stream: IO[bytes], fmt: Format, target: Target, limits: Limits, stats: FeedStats,
                 name: str, *, received_at: datetime | None = None, xml_hint: bool = False,
                 ) -> Generator[Record, None, None]:
    """The valid records of a feed; invalid ones go to ``stats`` with their line. ``FileProblem``
    when the feed as a whole is unreadable."""
    now = received_at or datetime.now(UTC)
    if fmt is Format.CSV:
        source = _read_csv(stream, target, now)
    elif fmt is Format.JSONL:
        source = _read_jsonl(stream, target, limits, now)
    else:
        source = _read_batch(stream, target, limits, now, xml_hint)
    for record in source:
        if isinstance(record, Problem):
            stats.add(name, record)
            continue
        stats.records += 1
        if isinstance(record, Payload):
            stats.payloads += 1
        else:
            stats.events += 1
        yield record


# --- messages ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedMessage:
    topic: str
    value: bytes
    key: bytes | None
    partition: int | None
    headers: list[tuple[str, bytes]]
    events: int  # native items in it (0 for a carrier payload)


class MessageBuilder:
    """Records → messages for one feed file. ``partitions``: of the target topic."""

    def __init__(self, target: Target, partitions: int, file_name: str, limits: Limits) -> None:
        self.target = target
        self.partitions = partitions
        self.limits = limits
        self._file = file_name.encode("utf-8", "replace")
        self._items: dict[int, list[dict[str, Any]]] = {}
        self._sizes: dict[int, int] = {}
        self._first_key: dict[int, str] = {}

    def _headers(self, extra: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
        return [("received-at", format_utc(datetime.now(UTC)).encode()), ("source", SOURCE.encode()),
                ("feed-file", self._file), *extra]

    def add(self, record: Record) -> Iterator[FeedMessage]:
        if isinstance(record, Payload):
            yield FeedMessage(self.target.topic, record.data, None, None, self._headers(
                [("content-type", record.media_type.encode()), ("feed-line", str(record.line).encode())]), 0)
            return
        partition = partition_for(record.key, self.partitions)
        items = self._items.setdefault(partition, [])
        if not items:
            self._first_key[partition] = record.key
            self._sizes[partition] = 0
        items.append(record.item)
        self._sizes[partition] += record.size
        if len(items) >= self.limits.chunk_items or self._sizes[partition] >= self.limits.chunk_bytes:
            yield self._chunk(partition)

    def _chunk(self, partition: int) -> FeedMessage:
        items = self._items.pop(partition)
        key = self._first_key.pop(partition).encode()
        self._sizes.pop(partition, None)
        return FeedMessage(self.target.topic, orjson.dumps(items), key, partition,
                           self._headers([("content-type", b"application/json")]), len(items))

    def flush(self) -> Iterator[FeedMessage]:
        for partition in sorted(self._items):
            yield self._chunk(partition)
