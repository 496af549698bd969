"""Reading feeds: CSV rows and JSON lines validated with their line numbers, batch documents checked
for well-formedness, and the messages they become (chunks per partition, headers)."""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from carriers import native
from schemas.events import TrackingEvent
from trackstream.feeds.formats import Format, resolve_target
from trackstream.feeds.read import (
    FeedMessage,
    FeedStats,
    FileProblem,
    Item,
    Limits,
    MessageBuilder,
    Payload,
    Problem,
    Record,
    read_records,
)
from trackstream.topics import partition_for

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
LIMITS = Limits(max_payload_bytes=400, max_document_bytes=4000, chunk_items=3, chunk_bytes=100_000)
HEADER = "tracking_number,status,substatus,code,description,occurred_at,location_city,location_postcode," \
         "location_country,event_id\n"


def read(data: bytes, fmt: Format, carrier: str, *, limits: Limits = LIMITS,
         xml_hint: bool = False) -> tuple[list[Record], FeedStats]:
    stats = FeedStats()
    records = list(read_records(io.BytesIO(data), fmt, resolve_target(carrier, fmt), limits, stats, "feed",
                                received_at=NOW, xml_hint=xml_hint))
    return records, stats


def problems(stats: FeedStats) -> list[tuple[int | None, str]]:
    return [(p.line, p.field) for _, p in stats.problems]


# --- CSV -----------------------------------------------------------------------------------------


def test_csv_rows_become_native_items_of_the_imported_carrier() -> None:
    data = (HEADER + 'ab 12,delivered,delivered_neighbour,DLV,"Delivered, at no. 3",2026-11-21T10:00:00+01:00,'
            "Utrecht,3542 AB,nl,ev-1\n"
            "AB12,in_transit,,,,2026-11-20T18:00:00Z,,,,\n").encode()
    records, stats = read(data, Format.CSV, "myfleet")
    assert stats.invalid == 0 and (stats.records, stats.events, stats.payloads) == (2, 2, 0)
    first, second = records
    assert isinstance(first, Item) and isinstance(second, Item)
    assert first.line == 2 and second.line == 3
    assert first.key == second.key == "myfleet:AB12"
    assert first.item == {
        "tracking_number": "ab 12", "status": "delivered", "substatus": "delivered_neighbour", "code": "DLV",
        "description": "Delivered, at no. 3", "occurred_at": "2026-11-21T10:00:00+01:00", "event_id": "ev-1",
        "location": {"city": "Utrecht", "postcode": "3542 AB", "country": "nl"}, "carrier": "myfleet",
    }
    assert second.item == {"tracking_number": "AB12", "status": "in_transit",
                           "occurred_at": "2026-11-20T18:00:00Z", "carrier": "myfleet"}


def test_csv_errors_name_their_line_and_column() -> None:
    data = (b"tracking_number,status,occurred_at,location_country\n"
            b"A1,delivered,2026-11-20T10:00:00Z,NL\n"
            b"A2,teleported,2026-11-20T10:00:00Z,NL\n"
            b'"A3",in_transit,"2026-11-20 10:00",NL\n'
            b"\n"
            b"A4,in_transit\n"
            b'A5,in_transit,2026-11-20T10:00:00Z,"Nether\nlands"\n'
            b",in_transit,2026-11-20T10:00:00Z,NL\n"
            b"A6,in_transit,2026-11-20T10:00:00Z,NL\n")
    records, stats = read(data, Format.CSV, "myfleet")
    assert [r.line for r in records if isinstance(r, Item)] == [2, 10]
    assert problems(stats) == [(3, "status"), (4, "occurred_at"), (6, ""), (7, "location_country"),
                               (9, "tracking_number")]
    texts = [p.text() for _, p in stats.problems]
    assert texts[0].startswith("line 3: status: unknown status 'teleported'")
    assert "without offset" in texts[1]
    assert texts[2] == "line 6: expected 4 fields, got 2"
    assert stats.invalid == 5 and stats.records == 2


def test_csv_with_semicolons_a_bom_and_crlf() -> None:
    data = ("\ufefftracking_number;status;occurred_at;description\r\n"
            "A1;delivered;2026-11-20T10:00:00Z;Bezorgd, bij de buren\r\n").encode()
    records, stats = read(data, Format.CSV, "myfleet")
    assert stats.invalid == 0
    assert isinstance(records[0], Item) and records[0].item["description"] == "Bezorgd, bij de buren"


def test_csv_carrier_column() -> None:
    data = (b"carrier,tracking_number,status,occurred_at\n"
            b"myfleet,A1,delivered,2026-11-20T10:00:00Z\n"
            b",A2,delivered,2026-11-20T10:00:00Z\n"
            b"otherfleet,A3,delivered,2026-11-20T10:00:00Z\n")
    records, stats = read(data, Format.CSV, "myfleet")
    assert [r.key for r in records if isinstance(r, Item)] == ["myfleet:A1", "myfleet:A2"]
    assert problems(stats) == [(4, "carrier")]
    records, stats = read(data, Format.CSV, "native")  # native rows name their own carrier
    assert [r.key for r in records if isinstance(r, Item)] == ["myfleet:A1", "otherfleet:A3"]
    assert problems(stats) == [(3, "carrier")]


@pytest.mark.parametrize(("header", "carrier", "message"), [
    ("tracking_number,status,Occured_At\n", "myfleet", "unknown column(s) 'Occured_At'"),
    ("tracking_number,status\n", "myfleet", "missing column(s) occurred_at"),
    ("tracking_number,status,status,occurred_at\n", "myfleet", "status appear more than once"),
    ("tracking_number,status,occurred_at\n", "native", "needs a carrier column"),
])
def test_a_bad_csv_header_refuses_the_file(header: str, carrier: str, message: str) -> None:
    with pytest.raises(FileProblem) as info:
        read((header + "A1,delivered,2026-11-20T10:00:00Z\n").encode(), Format.CSV, carrier)
    assert info.value.problem.line == 1
    assert message in str(info.value)


def test_an_empty_csv_is_refused() -> None:
    with pytest.raises(FileProblem, match="expected a header row"):
        read(b"", Format.CSV, "myfleet")
    records, stats = read(b"tracking_number,status,occurred_at\n", Format.CSV, "myfleet")
    assert records == [] and stats.invalid == 0


def test_csv_that_is_not_utf8_is_refused_with_its_line() -> None:
    data = b"tracking_number,status,occurred_at\nA1,delivered,2026-11-20T10:00:00Z\nA2,delivered,\xff\xfe\n"
    with pytest.raises(FileProblem) as info:
        read(data, Format.CSV, "myfleet")
    assert "not UTF-8" in str(info.value)


# --- JSON lines ----------------------------------------------------------------------------------


def test_jsonl_lines_are_carrier_payloads() -> None:
    data = b'{"a": 1}\n\n  [1, 2]  \r\n{"a": \n"text"\n' + b'{"x": "' + b"y" * 500 + b'"}\n' + b'{"b": 2}'
    records, stats = read(data, Format.JSONL, "sendcloud")
    assert records == [Payload(1, b'{"a": 1}', "application/json"), Payload(3, b"[1, 2]", "application/json"),
                       Payload(7, b'{"b": 2}', "application/json")]
    assert problems(stats) == [(4, ""), (5, ""), (6, "")]
    texts = [p.message for _, p in stats.problems]
    assert texts[0].startswith("not well-formed JSON")
    assert texts[1] == "must be a JSON object or array (one sendcloud payload), got str"
    assert texts[2] == "longer than 400 bytes (TRACKSTREAM_MAX_BODY_BYTES)"


def test_jsonl_native_items() -> None:
    lines = [
        {"carrier": "fleet", "tracking_number": "N1", "status": "delivered", "occurred_at": "2026-11-20T10:00:00Z"},
        {"carrier": "fleet", "tracking_number": "N2", "status": "in_transit", "occurred_at": "2026-11-20T10:00:00"},
        ["not", "an", "object"],
        {"tracking_number": "N3", "status": "delivered", "occurred_at": "2026-11-20T10:00:00Z"},
    ]
    data = b"\n".join(orjson.dumps(line) for line in lines)
    records, stats = read(data, Format.JSONL, "native")
    assert [(r.line, r.key) for r in records if isinstance(r, Item)] == [(1, "fleet:N1")]
    assert problems(stats) == [(2, "occurred_at"), (3, ""), (4, "carrier")]
    records, stats = read(data, Format.JSONL, "fleet")  # an own carrier: items may leave out the carrier
    assert [(r.line, r.key) for r in records if isinstance(r, Item)] == [(1, "fleet:N1"), (4, "fleet:N3")]


def test_an_item_the_validator_crashes_on_is_reported_as_trackstreams_bug(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A crash of the native validator (a bug, not an ItemError) refuses that one item with a
    message that says so; the other items are read as usual, and the log has no payload text."""
    secret = "ref-8c7b6a-private"

    def broken(item: Any, index: int, received_at: datetime) -> TrackingEvent:
        if "attributes" in item:
            return {}[item["attributes"]["reference"]]  # a KeyError quoting the payload
        return native.validate_item(item, index, received_at)

    monkeypatch.setattr("trackstream.feeds.read.validate_item", broken)
    lines = [
        {"carrier": "fleet", "tracking_number": "N1", "status": "delivered", "occurred_at": "2026-11-20T10:00:00Z"},
        {"carrier": "fleet", "tracking_number": "N2", "status": "delivered", "occurred_at": "2026-11-20T10:00:00Z",
         "attributes": {"reference": secret}},
    ]
    with caplog.at_level(logging.ERROR, logger="trackstream.feeds.read"):
        records, stats = read(b"\n".join(orjson.dumps(line) for line in lines), Format.JSONL, "native")
    assert [(r.line, r.key) for r in records if isinstance(r, Item)] == [(1, "fleet:N1")]
    [(_, problem)] = stats.problems
    assert (problem.line, problem.field) == (2, "")
    assert problem.message.startswith("internal error in the native parser: KeyError at tests/feeds/test_read.py:")
    assert "a bug in trackstream" in problem.message
    assert secret not in problem.message and secret not in caplog.text
    assert "Traceback (most recent call last)" in caplog.text and "in broken" in caplog.text


# --- batch documents -----------------------------------------------------------------------------


def test_a_batch_document_is_one_payload_as_it_is() -> None:
    body = b'{"action": "parcel_status_changed",\n "parcel": {"id": 1}}\n'
    records, _ = read(body, Format.BATCH, "sendcloud")
    assert records == [Payload(1, body, "application/json")]
    xml = b"<?xml version='1.0'?><Tracking><Shipment/></Tracking>"
    records, _ = read(xml, Format.BATCH, "postnl", xml_hint=True)
    assert records == [Payload(1, xml, "application/xml")]


@pytest.mark.parametrize(("body", "line", "message"), [
    (b'{\n  "a": 1,\n  "b": }\n', 3, "not well-formed JSON"),
    (b"<a>\n<b>\n</a>", 3, "not well-formed XML"),
    (b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>', 1, "DTD"),
    (b"  \n", 1, "empty document"),
    (b"[" + b"1," * 300 + b"1]", None, "larger than 400 bytes (TRACKSTREAM_MAX_BODY_BYTES)"),
])
def test_a_malformed_batch_document_is_refused(body: bytes, line: int | None, message: str) -> None:
    with pytest.raises(FileProblem) as info:
        read(body, Format.BATCH, "ups")
    assert info.value.problem.line == line
    assert message in str(info.value)


def test_a_native_batch_document_is_validated_item_by_item() -> None:
    items = [{"tracking_number": "B1", "status": "delivered", "occurred_at": "2026-11-20T10:00:00Z"},
             {"tracking_number": "B2", "status": "nope", "occurred_at": "2026-11-20T10:00:00Z"}]
    records, stats = read(orjson.dumps({"events": items}), Format.BATCH, "fleet")
    assert [r.key for r in records if isinstance(r, Item)] == ["fleet:B1"]
    assert [(p.item, p.field) for _, p in stats.problems] == [(1, "status")]
    assert stats.problems[0][1].text().startswith("events[1]: status: unknown status 'nope'")
    with pytest.raises(FileProblem, match="native feed document is JSON"):
        read(b"<events/>", Format.BATCH, "fleet")
    with pytest.raises(FileProblem, match="list of events"):
        read(b'{"items": []}', Format.BATCH, "native")


def test_stats_keep_only_the_first_problems_but_count_them_all() -> None:
    stats = FeedStats(keep=2)
    for line in range(5):
        stats.add("f", Problem(line, None, "", "bad"))
    assert stats.invalid == 5 and [p.line for _, p in stats.problems] == [0, 1]


# --- messages ------------------------------------------------------------------------------------


def _build(records: list[Record], carrier: str, fmt: Format, partitions: int = 4) -> list[FeedMessage]:
    builder = MessageBuilder(resolve_target(carrier, fmt), partitions, "feed.csv", LIMITS)
    out = [m for r in records for m in builder.add(r)]
    return out + list(builder.flush())


def test_native_items_are_sent_in_chunks_grouped_by_partition() -> None:
    rows = "".join(f"T{n % 7},in_transit,2026-11-20T10:{n:02d}:00Z\n" for n in range(40))
    records, _ = read(("tracking_number,status,occurred_at\n" + rows).encode(), Format.CSV, "fleet")
    messages = _build(records, "fleet", Format.CSV)
    assert sum(m.events for m in messages) == 40
    seen: list[str] = []
    for message in messages:
        assert message.topic == "carrier.native.raw"
        assert 1 <= message.events <= LIMITS.chunk_items
        items = orjson.loads(message.value)
        assert len(items) == message.events
        assert message.partition is not None
        assert {partition_for(f"fleet:{i['tracking_number']}", 4) for i in items} == {message.partition}
        assert message.key == f"fleet:{items[0]['tracking_number']}".encode()
        headers = dict(message.headers)
        assert headers["source"] == b"feed" and headers["feed-file"] == b"feed.csv"
        datetime.fromisoformat(headers["received-at"].decode())
        # the native adapter of the pipeline takes every chunk
        events = native.parse(message.value, {}, NOW)
        assert [e.carrier for e in events] == ["fleet"] * message.events
        seen.extend(e.local_time for e in events)
    assert sorted(seen) == sorted(f"2026-11-20T10:{n:02d}:00Z" for n in range(40))
    # one shipment's rows keep their file order
    for number in range(7):
        times = [t for m in messages for t in (i["occurred_at"] for i in orjson.loads(m.value)
                                               if i["tracking_number"] == f"T{number}")]
        assert times == sorted(times)


def test_chunks_are_bounded_in_bytes_too() -> None:
    limits = Limits(max_payload_bytes=4000, max_document_bytes=4000, chunk_items=500, chunk_bytes=1000)
    description = "d" * 300
    rows = "".join(f"T1,in_transit,2026-11-20T10:{n:02d}:00Z,{description}\n" for n in range(10))
    stats = FeedStats()
    target = resolve_target("fleet", Format.CSV)
    records = read_records(io.BytesIO(("tracking_number,status,occurred_at,description\n" + rows).encode()),
                           Format.CSV, target, limits, stats, "f", received_at=NOW)
    builder = MessageBuilder(target, 4, "f", limits)
    messages = [m for r in records for m in builder.add(r)] + list(builder.flush())
    assert sum(m.events for m in messages) == 10
    assert all(len(m.value) < 1000 + 500 for m in messages) and len(messages) >= 3


def test_a_carrier_payload_is_one_message_unchanged() -> None:
    records, _ = read(b'{"a": 1}\n{"b": 2}\n', Format.JSONL, "ups")
    messages = _build(records, "ups", Format.JSONL)
    assert [(m.topic, m.value, m.key, m.partition, m.events) for m in messages] == [
        ("carrier.ups.raw", b'{"a": 1}', None, None, 0), ("carrier.ups.raw", b'{"b": 2}', None, None, 0)]
    headers = dict(messages[1].headers)
    assert headers["feed-line"] == b"2" and headers["content-type"] == b"application/json"
    assert headers["source"] == b"feed"
