"""Whatever arrives on a carrier's raw topic, ``normalize_batch`` (the agent's decisions) never
raises: a payload is either events or exactly one dead letter with its carrier, an error code and a
reason. Arbitrary and truncated payloads, for every carrier with a raw topic."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.normalize import normalize_batch
from tests.carriers.properties import SAMPLES_DIR
from trackstream.topics import RAW_CARRIERS, raw_topic

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
CARRIERS = [c for c in RAW_CARRIERS if c != "native"]


def samples(carrier: str) -> list[bytes]:
    folder = SAMPLES_DIR / carrier
    return [p.read_bytes() for p in sorted(folder.iterdir()) if p.suffix in (".json", ".xml", ".txt")]


def _check(carrier: str, payload: bytes) -> None:
    result = normalize_batch([(raw_topic(carrier), 0, 7, payload, {})], 4, NOW)
    events = [e for group in result.by_partition.values() for e in group]
    letters = result.deadletters
    assert not (events and letters), "events and a dead letter for one payload"
    assert len(letters) <= 1
    for letter in letters:
        assert letter.carrier == carrier and letter.reason and letter.payload == payload
        assert letter.error in ("malformed_payload", "carrier_error", "malformed_envelope")  # never "internal_error"
        assert (letter.topic, letter.partition, letter.offset) == (raw_topic(carrier), 0, 7)
    assert all(e.carrier == carrier for e in events)


@pytest.mark.parametrize("carrier", CARRIERS)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_truncated_samples_are_events_or_one_dead_letter(carrier: str, data: st.DataObject) -> None:
    payloads = samples(carrier)
    if carrier == "dpd_nl":  # the push query is the one DPD payload that reaches a raw topic unsigned
        payloads = [p for p in payloads if b"pnr" in p or b"Envelope" in p]
    payload = data.draw(st.sampled_from(payloads))
    cut = data.draw(st.integers(min_value=0, max_value=len(payload)))
    _check(carrier, payload[:cut])


@pytest.mark.parametrize("carrier", CARRIERS)
@settings(max_examples=40, deadline=None)
@given(payload=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_arbitrary_bytes_are_events_or_one_dead_letter(carrier: str, payload: bytes) -> None:
    _check(carrier, payload)


def test_an_empty_payload_is_a_dead_letter_for_every_carrier() -> None:
    for carrier in CARRIERS:
        result = normalize_batch([(raw_topic(carrier), 1, 2, b"", {})], 4, NOW)
        assert [letter.carrier for letter in result.deadletters] == [carrier]
