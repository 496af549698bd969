"""A parser bug (an exception that is not a ``ParseError``) reaches ``normalize_batch``, the one
place that catches it: the payload becomes an ``internal_error`` dead letter, the crash is counted
in ``trackstream_parser_internal_errors_total{carrier}``, and the log line has the traceback but
neither the exception's message nor anything else from the payload.

The broken parser is PostNL's real adapter with a bug added the way real ones happen: a lookup
keyed by a payload value (``KeyError`` quoting that value) when an optional field is there."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from prometheus_client import REGISTRY

import carriers
from agents.normalize import INTERNAL_ERROR, normalize_batch
from carriers import postnl
from schemas.events import TrackingEvent
from tests.agents.test_normalize_deadletters import _check
from trackstream import metrics
from trackstream.topics import raw_topic

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
SECRET = "tok-7f3a9c1e-never-in-a-log"
METRIC = "trackstream_parser_internal_errors_total"
_PRODUCT_NAMES: dict[str, str] = {}


def broken_postnl(payload: bytes, headers: Mapping[str, str], received_at: datetime) -> list[TrackingEvent]:
    events = postnl.parse(payload, headers, received_at)
    body = orjson.loads(payload)
    shipments = body if isinstance(body, list) else []
    # the bug: not every product description is in the table
    names = [_PRODUCT_NAMES[s["ProductDescription"]] for s in shipments if "ProductDescription" in s]
    return [replace(e, attributes={**e.attributes, "product_names": names}) for e in events]


def shipment(**extra: Any) -> bytes:
    return orjson.dumps([{"Barcode": "3SABCD1234567", **extra,
                          "Status": {"StatusCode": "7", "TimeStamp": "02-01-2024 10:00:00"}}])


def counted(carrier: str) -> float:
    return REGISTRY.get_sample_value(METRIC, {"carrier": carrier}) or 0.0


@pytest.fixture
def broken(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(carriers.PARSERS, "postnl", broken_postnl)


def _run(payload: bytes) -> Any:
    return normalize_batch([(raw_topic("postnl"), 3, 41, payload, {"source": "webhook"})], 4, NOW)


def test_the_metric_is_registered_per_carrier() -> None:
    assert metrics.PARSER_INTERNAL_ERRORS._name == "trackstream_parser_internal_errors"  # _total added on export
    assert metrics.PARSER_INTERNAL_ERRORS._labelnames == ("carrier",)
    before = counted("metric-test")
    metrics.PARSER_INTERNAL_ERRORS.labels("metric-test").inc()
    assert counted("metric-test") == before + 1


@pytest.mark.usefixtures("broken")
def test_a_parser_crash_is_an_internal_error_dead_letter_and_counted() -> None:
    payload = shipment(ProductDescription=SECRET)
    before = counted("postnl")
    result = _run(payload)
    assert not result.by_partition
    [letter] = result.deadletters
    assert (letter.carrier, letter.error, letter.payload) == ("postnl", INTERNAL_ERROR, payload)
    assert (letter.topic, letter.partition, letter.offset) == (raw_topic("postnl"), 3, 41)
    assert letter.reason.startswith("internal error in the postnl parser: KeyError at ")
    assert "tests/agents/test_normalize_internal_errors.py:" in letter.reason  # where it happened
    assert SECRET not in letter.reason  # the dead letter's reason is logged by the agent too
    assert counted("postnl") == before + 1


@pytest.mark.usefixtures("broken")
def test_the_other_payloads_are_unaffected_and_not_counted() -> None:
    before = counted("postnl")
    result = normalize_batch([
        (raw_topic("postnl"), 0, 1, shipment(), {}),  # no ProductDescription: the bug does not show
        (raw_topic("postnl"), 0, 2, b"{not json", {}),  # the payload's fault
    ], 4, NOW)
    assert [e.tracking_number for group in result.by_partition.values() for e in group] == ["3SABCD1234567"]
    assert [letter.error for letter in result.deadletters] == ["malformed_payload"]
    assert counted("postnl") == before


@pytest.mark.usefixtures("broken")
def test_the_log_has_the_traceback_but_not_the_payload(caplog: pytest.LogCaptureFixture) -> None:
    payload = shipment(ProductDescription=SECRET, Reference=f"ref-{SECRET}")
    with caplog.at_level(logging.DEBUG, logger="agents.normalize"):
        _run(payload)
    [record] = [r for r in caplog.records if r.name == "agents.normalize"]
    assert record.levelno == logging.ERROR
    assert record.exc_info is None  # no traceback with the message attached by the logging module
    text = caplog.text
    assert SECRET not in text
    assert f"{raw_topic('postnl')}:3:41" in text  # which message
    assert "Traceback (most recent call last)" in text
    assert 'File "tests/agents/test_normalize_internal_errors.py"' in text and "in broken_postnl" in text
    assert "KeyError (message withheld" in text


@pytest.mark.usefixtures("broken")
def test_the_dead_letter_property_check_fails_on_the_broken_parser() -> None:
    """``tests/agents/test_normalize_deadletters.py``'s check ("never internal_error") can fail."""
    _check("postnl", shipment())  # the bug does not show
    with pytest.raises(AssertionError):
        _check("postnl", shipment(ProductDescription="Standard"))
