"""Pieces the carrier adapter tests share: sample paths, small builders, and the property tests
every adapter must pass ("whatever it is fed, an adapter raises ParseError or returns good events").

The ``*_test`` factories return a ready test function; a test module binds it to a ``test_*`` name
so each carrier keeps its own test (own example count, own database entry, own node id).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carriers.base import ParseError, PayloadError
from schemas.events import TrackingEvent, encode_events

RECEIVED = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

Parse = Callable[[bytes], Sequence[TrackingEvent]]
Mutator = Callable[[st.DataObject, Any], Any]
EventCheck = Callable[[TrackingEvent], None]


# --- samples ------------------------------------------------------------------------------------


#: Public carrier payloads and code tables, one folder per carrier, each with a SOURCES.md.
SAMPLES_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "samples"


def carrier_samples(carrier: str) -> Path:
    """One carrier's sample folder in ``tests/fixtures/samples``; FileNotFoundError when missing."""
    path = SAMPLES_DIR / carrier
    if not path.is_dir():
        raise FileNotFoundError(f"carrier samples not found at {path}")
    return path


def json_loader(samples: Path) -> Callable[[str], Any]:
    """``load(name)``: the JSON value of a sample file (a fresh object on every call)."""

    def load(name: str) -> Any:
        return json.loads((samples / name).read_bytes())

    return load


# --- builders -----------------------------------------------------------------------------------


def as_payload(payload: bytes | Any) -> bytes:
    """Bytes pass through; anything else is sent as its JSON text."""
    return payload if isinstance(payload, bytes) else json.dumps(payload).encode()


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


# --- truncation ---------------------------------------------------------------------------------


def cuts(payload: bytes, parts: int, end: int | None = None) -> range:
    """Prefix lengths from 1 up to ``end`` (default: the whole payload) in about ``parts`` steps."""
    return range(1, len(payload) if end is None else end, max(1, len(payload) // parts))


def assert_prefixes_raise(parse: Parse, payload: bytes, lengths: Iterable[int]) -> None:
    """Every listed prefix of ``payload`` is refused with PayloadError."""
    for cut in lengths:
        with pytest.raises(PayloadError):
            parse(payload[:cut])


# --- property tests -----------------------------------------------------------------------------


_DIGIT_RUN = re.compile(r"[0-9]+")


def tweak_digits(data: st.DataObject, value: str) -> str:
    """``value`` with every run of digits redrawn at the same length: all zeros, all nines, or any
    digits, some of them ones ``str.isdigit`` accepts and ``int`` refuses ("²") or only Unicode
    knows ("٣"). A sample's dates, times, offsets and numeric codes then reach the edges parsers
    trip over (year 1 or 9999, hour 99, offset +99:99, code "²") that random text almost never
    hits while keeping the sample's shape."""

    def redraw(match: re.Match[str]) -> str:
        size = len(match.group())
        return data.draw(
            st.sampled_from(["0" * size, "9" * size])
            | st.text(alphabet="0123456789²٣", min_size=size, max_size=size),
            label="digits",
        )

    return _DIGIT_RUN.sub(redraw, value)


_ISO_TEXT = re.compile(r"(\d{4}-\d\d-\d\d)(?:([T ])(\d\d:\d\d(?::\d\d(?:\.\d+)?)?))?(Z|[+-]\d\d:?\d\d)?")
#: ``st.datetimes()`` keeps to the middle of the range; parsers break at its ends.
_INSTANTS = st.sampled_from([datetime.min, datetime.max]) | st.datetimes()


def redraw_instant(data: st.DataObject, value: str) -> str | None:
    """An ISO 8601 text (date, optional time, optional offset) with another instant in the same
    shape and offset, often one at an end of ``datetime``'s range, where converting to UTC
    overflows; None when ``value`` is not such a text."""
    match = _ISO_TEXT.fullmatch(value)
    if match is None:
        return None
    new = data.draw(_INSTANTS, label="instant")
    text = f"{new.year:04d}-{new.month:02d}-{new.day:02d}"
    if match.group(2):
        clock = match.group(3)
        text += match.group(2) + new.time().isoformat(timespec="microseconds")[:len(clock)]
    return text + (match.group(4) or "")


def same_shape(data: st.DataObject, value: str) -> str:
    """``value`` changed but kept in shape: another instant (``redraw_instant``) or other digits
    (``tweak_digits``)."""
    instant = redraw_instant(data, value.strip()) if data.draw(st.booleans(), label="as an instant") else None
    return instant if instant is not None else tweak_digits(data, value)


def check_instant(event: TrackingEvent) -> None:
    """An event's instant is aware, and the event encodes as the normalizer sends it (an event
    that cannot be encoded would stop the agent's send, not just this payload)."""
    assert event.occurred_at.tzinfo is not None
    encode_events([event])


def check_event(event: TrackingEvent) -> None:
    """The least every event must satisfy: ``check_instant`` and a tracking number."""
    check_instant(event)
    assert event.tracking_number


def arbitrary_bytes_test(parse: Parse, *, max_examples: int) -> Callable[..., None]:
    """Arbitrary bytes only ever raise ParseError."""

    @settings(max_examples=max_examples, deadline=None)
    @given(payload=st.binary(max_size=200))
    def test(payload: bytes) -> None:
        try:
            parse(payload)
        except ParseError:
            pass

    return test


def arbitrary_json_test(
    parse: Parse, *, max_examples: int, wrap: Callable[[st.DataObject, Any], Any] | None = None
) -> Callable[..., None]:
    """Any JSON value (the ``json_values`` fixture), optionally put into a carrier's envelope by
    ``wrap(data, value)`` (which may draw its choice from ``data``), only ever raises ParseError."""

    @settings(max_examples=max_examples, deadline=None)
    @given(data=st.data())
    def test(data: st.DataObject, json_values: st.SearchStrategy[Any]) -> None:
        value = data.draw(json_values)
        if wrap is not None:
            value = wrap(data, value)
        try:
            parse(json.dumps(value).encode())
        except ParseError:
            pass

    return test


def mutated_samples_test(
    parse: Parse, load: Callable[[str], Any], names: Sequence[str], *, max_examples: int,
    check: EventCheck = check_event,
) -> Callable[..., None]:
    """A sample with one node replaced or deleted (the ``mutate`` fixture) raises ParseError or
    gives events that pass ``check``."""

    @settings(max_examples=max_examples, deadline=None)
    @given(data=st.data(), name=st.sampled_from(names))
    def test(data: st.DataObject, name: str, mutate: Mutator) -> None:
        base = load(name)
        try:
            events = parse(json.dumps(mutate(data, base)).encode())
        except ParseError:
            return
        for event in events:
            check(event)

    return test


@st.composite
def xml_documents(draw: st.DrawFn, tags: Sequence[str], leaves: st.SearchStrategy[str], depth: int = 0) -> str:
    """Well-formed XML made of a carrier's element names (up to 3 levels), leaf text from ``leaves``."""
    tag = draw(st.sampled_from(tags))
    if depth >= 3 or draw(st.booleans()):
        body = draw(leaves)
        return f"<{tag}>{body.replace('&', '&amp;').replace('<', '&lt;')}</{tag}>"
    inner = "".join(draw(st.lists(xml_documents(tags, leaves, depth + 1), max_size=3)))
    return f"<{tag}>{inner}</{tag}>"


def arbitrary_document_test(
    parse: Parse, documents: st.SearchStrategy[str], *, max_examples: int, check: EventCheck = check_event
) -> Callable[..., None]:
    """Any text from ``documents`` raises ParseError or gives events that pass ``check``."""

    @settings(max_examples=max_examples, deadline=None)
    @given(document=documents)
    def test(document: str) -> None:
        try:
            events = parse(document.encode())
        except ParseError:
            return
        for event in events:
            check(event)

    return test


def mutated_xml_test(
    parse: Parse, sample: Path, *, max_examples: int, text_size: int, check: EventCheck = check_event
) -> Callable[..., None]:
    """An XML sample with 1-4 nodes changed (a child removed, its text changed in shape by
    ``same_shape``, or the text replaced) raises ParseError or gives events that pass ``check``."""

    @settings(max_examples=max_examples, deadline=None)
    @given(data=st.data())
    def test(data: st.DataObject) -> None:
        root = ET.fromstring(sample.read_bytes())
        nodes = list(root.iter())
        for _ in range(data.draw(st.integers(1, 4), label="mutations")):
            node = data.draw(st.sampled_from(nodes), label="node")
            if data.draw(st.booleans(), label="remove child") and len(node):
                node.remove(node[data.draw(st.integers(0, len(node) - 1), label="child")])
            elif node.text and _DIGIT_RUN.search(node.text) and data.draw(st.booleans(), label="tweak"):
                node.text = same_shape(data, node.text)
            else:
                node.text = data.draw(st.text(max_size=text_size), label="text")
        try:
            events = parse(ET.tostring(root))
        except ParseError:
            return
        for event in events:
            check(event)

    return test
