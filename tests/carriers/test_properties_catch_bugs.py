"""The property tests catch parser bugs: every factory in ``tests/carriers/properties.py`` (and the
truncation helper) fails on a deliberately broken parser and passes on the real one.

The broken parsers wrap real adapters and fail the way real bugs do: one lacks its shape checks
(where the adapter names the problem with a ``PayloadError``, it raises the ``KeyError`` an
unchecked ``body[key]`` would), the other trusts a sample's shape (it reads every field the sample
has without checking it is there, so a payload that leaves out an optional field is a
``KeyError``, or for XML an ``IndexError``, while the sample itself parses).
Before the adapters lost their catch-all tails such exceptions became ``PayloadError`` and these
property tests could not fail.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import pytest
from hypothesis import strategies as st

from carriers import postnl, tnt
from carriers.base import PayloadError
from schemas.events import TrackingEvent
from tests.carriers.conftest import JSON_VALUES, _mutate
from tests.carriers.properties import (
    RECEIVED,
    arbitrary_bytes_test,
    arbitrary_document_test,
    arbitrary_json_test,
    assert_prefixes_raise,
    carrier_samples,
    cuts,
    json_loader,
    mutated_samples_test,
    mutated_xml_test,
    xml_documents,
)

Parse = Callable[[bytes], Sequence[TrackingEvent]]

POSTNL = carrier_samples("postnl")
COMPLETE = "shippingstatus-v2-complete-status-response.json"
TNT_RESPONSE = carrier_samples("tnt") / "expressconnect-track-response-v3.1.xml"
TNT_TAGS = ["TrackResponse", "Consignment", "ConsignmentNumber", "SummaryCode", "StatusData", "StatusCode",
            "LocalEventDate", "LocalEventTime", "Depot", "PieceQuantity", "Error", "Code", "Message"]
TNT_LEAVES = st.sampled_from(["", "DEL", "20240102", "1000", "123456782"]) | st.text(max_size=8)
SHAPE_BUGS = (KeyError, IndexError)


def parse_postnl(payload: bytes) -> list[TrackingEvent]:
    return postnl.parse(payload, {}, RECEIVED)


def parse_tnt(payload: bytes) -> list[TrackingEvent]:
    return tnt.parse(payload, {}, RECEIVED)


# --- broken parsers -------------------------------------------------------------------------------


def unchecked(parse: Parse) -> Parse:
    """``parse`` without its checks: what it refuses by name, this one crashes on."""

    def broken(payload: bytes) -> Sequence[TrackingEvent]:
        try:
            return parse(payload)
        except PayloadError as exc:
            raise KeyError(str(exc)[:40]) from None

    return broken


def _read_like(value: Any, like: Any) -> None:
    if isinstance(like, dict) and isinstance(value, dict):
        for key, inner in like.items():
            _read_like(value[key], inner)  # the bug: a field the sample has is taken to be always there
    elif isinstance(like, list) and isinstance(value, list):
        for item, inner in zip(value, like, strict=False):
            _read_like(item, inner)


def trusts_json_sample(parse: Parse, sample: Any) -> Parse:
    """``parse`` that first reads every field of ``sample`` from the payload with ``[key]``: a
    payload without one of them (an optional field left out) is a ``KeyError``."""

    def broken(payload: bytes) -> Sequence[TrackingEvent]:
        _read_like(orjson.loads(payload), sample)
        return parse(payload)

    return broken


def _read_xml_like(node: ET.Element, like: ET.Element) -> None:
    for index, inner in enumerate(like):
        _read_xml_like(node[index], inner)  # the bug: the sample's layout is taken to be fixed


def trusts_xml_sample(parse: Parse, sample: ET.Element) -> Parse:
    """``parse`` that first reads every element of ``sample`` from the payload by position
    (``consignment[3]``): a payload that leaves out an element is an ``IndexError``."""

    def broken(payload: bytes) -> Sequence[TrackingEvent]:
        try:
            root = ET.fromstring(payload)
        except ET.ParseError:  # not XML: the real parser says so
            return parse(payload)
        _read_xml_like(root, sample)
        return parse(payload)

    return broken


def assert_catches(test: Callable[..., None], bugs: tuple[type[Exception], ...], **fixtures: Any) -> None:
    """``test`` fails with the bug's exception (Hypothesis re-raises it, or a group of the distinct
    ones it found), not with anything else and not by passing."""
    try:
        test(**fixtures)
    except ExceptionGroup as group:
        found = _leaves(group)
        assert found and all(isinstance(e, bugs) for e in found), found
    except bugs:
        return
    else:
        pytest.fail("the property test passed a parser that crashes")


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for item in group.exceptions:
        out.extend(_leaves(item) if isinstance(item, BaseExceptionGroup) else [item])
    return out


# --- each factory, broken parser and real one -----------------------------------------------------


def _postnl_sample() -> Any:
    return json_loader(POSTNL)(COMPLETE)


FACTORIES: list[tuple[str, Callable[[Parse], Callable[..., None]], dict[str, Any], Callable[[Parse], Parse]]] = [
    ("arbitrary bytes", lambda p: arbitrary_bytes_test(p, max_examples=100), {}, unchecked),
    ("arbitrary JSON", lambda p: arbitrary_json_test(p, max_examples=100), {"json_values": JSON_VALUES}, unchecked),
    ("arbitrary JSON in an envelope",
     lambda p: arbitrary_json_test(p, max_examples=100, wrap=lambda data, value: {"CompleteStatus": value}),
     {"json_values": JSON_VALUES}, unchecked),
    ("mutated JSON samples", lambda p: mutated_samples_test(p, json_loader(POSTNL), [COMPLETE], max_examples=100),
     {"mutate": _mutate}, lambda p: trusts_json_sample(p, _postnl_sample())),
]

XML_FACTORIES: list[tuple[str, Callable[[Parse], Callable[..., None]], Callable[[Parse], Parse]]] = [
    ("arbitrary XML", lambda p: arbitrary_document_test(p, xml_documents(TNT_TAGS, TNT_LEAVES), max_examples=100),
     unchecked),
    ("mutated XML sample", lambda p: mutated_xml_test(p, TNT_RESPONSE, max_examples=100, text_size=12),
     lambda p: trusts_xml_sample(p, ET.fromstring(TNT_RESPONSE.read_bytes()))),
]


@pytest.mark.parametrize(("name", "factory", "fixtures", "break_"), FACTORIES, ids=[f[0] for f in FACTORIES])
def test_json_property_tests_fail_on_a_broken_parser_and_pass_on_the_real_one(
    name: str, factory: Callable[[Parse], Callable[..., None]], fixtures: dict[str, Any],
    break_: Callable[[Parse], Parse],
) -> None:
    assert_catches(factory(break_(parse_postnl)), SHAPE_BUGS, **fixtures)
    factory(parse_postnl)(**fixtures)


@pytest.mark.parametrize(("name", "factory", "break_"), XML_FACTORIES, ids=[f[0] for f in XML_FACTORIES])
def test_xml_property_tests_fail_on_a_broken_parser_and_pass_on_the_real_one(
    name: str, factory: Callable[[Parse], Callable[..., None]], break_: Callable[[Parse], Parse],
) -> None:
    assert_catches(factory(break_(parse_tnt)), SHAPE_BUGS)
    factory(parse_tnt)()


def test_the_truncation_check_fails_on_a_broken_parser_and_passes_on_the_real_one() -> None:
    payload = (POSTNL / COMPLETE).read_bytes()
    with pytest.raises(KeyError):
        assert_prefixes_raise(unchecked(parse_postnl), payload, cuts(payload, 20))
    assert_prefixes_raise(parse_postnl, payload, cuts(payload, 20))


def test_the_broken_parsers_still_read_the_samples() -> None:
    """They are bugs on unusual input, not parsers that never work."""
    sample = _postnl_sample()
    payload = json.dumps(sample).encode()
    assert trusts_json_sample(parse_postnl, sample)(payload) == parse_postnl(payload)
    assert unchecked(parse_postnl)(payload) == parse_postnl(payload)
    xml = TNT_RESPONSE.read_bytes()
    assert trusts_xml_sample(parse_tnt, ET.fromstring(xml))(xml) == parse_tnt(xml)
