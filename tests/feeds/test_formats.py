"""Feed formats and targets: which format a file or body is in, and where a carrier's feed goes."""

from __future__ import annotations

from pathlib import PurePath

import pytest

import carriers
from trackstream import topics
from trackstream.feeds.formats import (
    Format,
    UnknownCarrier,
    format_of_media_type,
    format_of_path,
    payload_carriers,
    resolve_target,
)
from trackstream.topics import RAW_CARRIERS


@pytest.mark.parametrize(("name", "expected"), [
    ("tracking.json", Format.BATCH), ("RESPONSE.XML", Format.BATCH), ("hooks.jsonl", Format.JSONL),
    ("hooks.ndjson", Format.JSONL), ("fleet.CSV", Format.CSV), ("archive.2026-11-21.csv", Format.CSV),
    ("notes.txt", None), ("README", None), ("data.json.gz", None),
])
def test_format_from_the_extension(name: str, expected: Format | None) -> None:
    assert format_of_path(PurePath("/feeds") / name) is expected


@pytest.mark.parametrize(("media_type", "expected"), [
    ("text/csv", Format.CSV), ("text/csv; charset=utf-8", Format.CSV), ("Application/X-NDJSON", Format.JSONL),
    ("application/jsonl", Format.JSONL), ("application/json", Format.BATCH), ("application/xml", Format.BATCH),
    ("text/xml", Format.BATCH), ("text/plain", None), ("application/octet-stream", None), ("", None),
])
def test_format_from_the_media_type(media_type: str, expected: Format | None) -> None:
    assert format_of_media_type(media_type) is expected


@pytest.mark.parametrize("fmt", [Format.BATCH, Format.JSONL])
def test_carrier_payloads_go_untouched_to_the_carrier_topic(fmt: Format) -> None:
    target = resolve_target("UPS", fmt)
    assert (target.carrier, target.topic, target.native, target.item_carrier) == ("ups", "carrier.ups.raw",
                                                                                  False, None)


def test_csv_rows_of_a_carrier_become_native_items_of_that_carrier() -> None:
    target = resolve_target("postnl", Format.CSV)
    assert (target.topic, target.native, target.item_carrier) == ("carrier.native.raw", True, "postnl")


@pytest.mark.parametrize("fmt", list(Format))
def test_native_items_name_their_own_carrier(fmt: Format) -> None:
    target = resolve_target("native", fmt)
    assert (target.topic, target.native, target.item_carrier) == ("carrier.native.raw", True, None)
    assert target.carrier_problem({"carrier": "anything"}) is None
    assert target.item_for({"tracking_number": "X"}) == {"tracking_number": "X"}


@pytest.mark.parametrize("fmt", list(Format))
def test_an_own_carrier_is_read_in_the_native_format(fmt: Format) -> None:
    target = resolve_target("my-fleet_2", fmt)
    assert (target.topic, target.native, target.item_carrier) == ("carrier.native.raw", True, "my-fleet_2")
    assert target.item_for({"tracking_number": "X"}) == {"tracking_number": "X", "carrier": "my-fleet_2"}
    assert target.item_for({"carrier": "", "x": 1})["carrier"] == "my-fleet_2"
    assert target.carrier_problem({"carrier": "MY-FLEET_2"}) is None
    problem = target.carrier_problem({"carrier": "other"})
    assert problem is not None and "'other'" in problem and "my-fleet_2" in problem


@pytest.mark.parametrize("fmt", [Format.BATCH, Format.JSONL])
def test_an_adapter_without_a_raw_topic_cannot_take_its_own_payloads(
    fmt: Format, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every adapter has a raw topic today; a new one without is refused, never read as an own carrier."""
    monkeypatch.setattr(topics, "RAW_CARRIERS", tuple(c for c in RAW_CARRIERS if c != "dhl_express"))
    with pytest.raises(UnknownCarrier) as info:
        resolve_target("dhl_express", fmt)
    assert "no raw topic" in str(info.value)
    for carrier in payload_carriers():
        assert carrier in str(info.value)
    assert resolve_target("dhl_express", Format.CSV).item_carrier == "dhl_express"


@pytest.mark.parametrize("carrier", ["dhl_express", "tnt", "fedex", "dpd_nl", "gls_nl", "dhl_parcel_nl"])
def test_every_polled_carrier_takes_its_own_payloads(carrier: str) -> None:
    assert resolve_target(carrier, Format.BATCH).topic == f"carrier.{carrier}.raw"


def test_a_carrier_defined_by_a_file_takes_its_own_payloads() -> None:
    target = resolve_target("pigeon", Format.JSONL, configured=("pigeon",))
    assert (target.topic, target.native) == ("carrier.pigeon.raw", False)
    assert "pigeon" in payload_carriers(("pigeon",))
    # without the definition the same name is an own carrier in the native format
    assert resolve_target("pigeon", Format.JSONL).native is True
    assert resolve_target("pigeon", Format.CSV, configured=("pigeon",)).topic == "carrier.native.raw"


@pytest.mark.parametrize("name", ["", "my fleet", "fleet!", "x" * 33, "flüt"])
def test_a_name_that_cannot_be_a_carrier_is_unknown(name: str) -> None:
    with pytest.raises(UnknownCarrier) as info:
        resolve_target(name, Format.CSV)
    assert "not a carrier name" in str(info.value) and "sendcloud" in str(info.value)


def test_payload_carriers_are_the_raw_topic_carriers_with_an_adapter() -> None:
    assert {"sendcloud", "postnl", "myparcel", "ups"} <= set(payload_carriers())
    assert "native" not in payload_carriers()
    for carrier in payload_carriers():
        assert carrier in RAW_CARRIERS and carriers.get_parser(carrier) is not None
