"""The packed raw-record envelope: what goes in comes out byte for byte, and a damaged record is
refused with EnvelopeError rather than read wrong."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.raw import MAGIC, EnvelopeError, RawItem, is_packed, items, pack, packed_size, unpack

HEADERS = st.dictionaries(st.text(max_size=12), st.text(max_size=30), max_size=4)
ITEMS = st.lists(st.builds(RawItem, payload=st.binary(max_size=300), headers=HEADERS), max_size=8)


@settings(max_examples=300, deadline=None)
@given(ITEMS)
def test_round_trip_keeps_every_payload_and_header(batch: list[RawItem]) -> None:
    value = pack(batch)
    assert is_packed(value) and len(value) == packed_size(batch)
    back = unpack(value)
    assert [(i.payload, dict(i.headers)) for i in back] == [(i.payload, dict(i.headers)) for i in batch]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.builds(RawItem, payload=st.binary(min_size=1, max_size=60), headers=HEADERS),
                min_size=1, max_size=3), st.data())
def test_every_truncation_is_refused(batch: list[RawItem], data: st.DataObject) -> None:
    value = pack(batch)
    cut = data.draw(st.integers(len(MAGIC), len(value) - 1))
    with pytest.raises(EnvelopeError):
        unpack(value[:cut])


def test_trailing_bytes_and_bad_headers_are_refused() -> None:
    good = pack([RawItem(b"{}", {"source": "webhook"})])
    with pytest.raises(EnvelopeError, match="after its 1 items"):
        unpack(good + b"x")
    head = orjson.dumps({"n": 1})
    bad = MAGIC + (1).to_bytes(4, "big") + len(head).to_bytes(4, "big") + head + (0).to_bytes(4, "big")
    with pytest.raises(EnvelopeError, match="object of strings"):
        unpack(bad)
    with pytest.raises(EnvelopeError, match="not a packed record"):
        unpack(b'{"a": 1}')


def test_a_payload_that_looks_like_an_envelope_travels_inside_one() -> None:
    inner = pack([RawItem(b"x", {})])
    (item,) = unpack(pack([RawItem(inner, {"source": "api"})]))
    assert item.payload == inner


def test_single_records_are_one_item_with_the_record_headers() -> None:
    (item,) = items(b'{"a": 1}', {"source": "poll"})
    assert item.payload == b'{"a": 1}' and item.headers == {"source": "poll"}
    assert not is_packed(b"<xml/>") and not is_packed(b"")
    assert [i.payload for i in items(pack([RawItem(b"1", {}), RawItem(b"2", {})]), {"ignored": "x"})] == [b"1", b"2"]


def test_groups_fit_the_byte_bound_keep_order_and_leave_a_big_item_alone() -> None:
    from schemas.raw import groups

    batch = [RawItem(bytes([65 + i]) * 100, {"n": str(i)}) for i in range(7)]
    batch.insert(3, RawItem(b"z" * 5000, {}))
    runs = groups(batch, max_bytes=400)
    assert [i for run in runs for i in run] == batch  # nothing lost, nothing reordered
    assert all(packed_size(run) <= 400 for run in runs if len(run) > 1)
    assert [len(run) for run in runs] == [3, 1, 3, 1]  # 3 x ~125 bytes fit 400; the 5,000-byte one alone
    assert [len(run) for run in groups(batch, max_bytes=10_000, max_items=2)] == [2, 2, 2, 2]
