"""Operators' code mappings in the normalizer: the pure decision (``apply_overrides``) and its place
in ``normalize_batch``."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from agents.mapping_overrides import OVERRIDE_LAYER, apply_overrides
from agents.normalize import normalize_batch
from carriers.base import CodeMapping
from schemas.events import TZ_GIVEN, TrackingEvent

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)


def ev(carrier: str, code: str, status: str = "unknown", substatus: str | None = "unmapped_code",
       mapped: bool = False, **attributes: str) -> TrackingEvent:
    return TrackingEvent(event_id=f"{carrier}-{code}", carrier=carrier, tracking_number="N1", status=status,
                         substatus=substatus, code=code, description=f"text of {code}", occurred_at=NOW,
                         local_time="x", tz_source=TZ_GIVEN, received_at=NOW, mapped=mapped, attributes=attributes)


def test_an_override_maps_an_unmapped_code_and_keeps_the_carrier_text() -> None:
    [event] = apply_overrides([ev("sendcloud", "4242")], {("sendcloud", "4242"): CodeMapping("in_transit", "sorting")})
    assert (event.status, event.substatus, event.mapped) == ("in_transit", "sorting", True)
    assert (event.code, event.description, event.event_id) == ("4242", "text of 4242", "sendcloud-4242")
    assert event.attributes == {"mapping_layer": OVERRIDE_LAYER,
                                "adapter_mapping": {"status": "unknown", "substatus": "unmapped_code", "mapped": False}}


def test_an_override_corrects_a_mapped_code() -> None:
    original = ev("postnl", "J05", "in_transit", None, True, mapping_layer="status_code", phase="2")
    [event] = apply_overrides([original], {("postnl", "J05"): CodeMapping("out_for_delivery")})
    assert (event.status, event.substatus, event.mapped) == ("out_for_delivery", None, True)
    assert event.attributes["phase"] == "2" and event.attributes["mapping_layer"] == OVERRIDE_LAYER
    assert event.attributes["adapter_mapping"] == {"status": "in_transit", "mapped": True, "layer": "status_code"}


def test_only_the_same_carrier_and_exact_code() -> None:
    overrides = {("sendcloud", "4242"): CodeMapping("delivered")}
    events = [ev("myparcel", "4242"), ev("sendcloud", "42420"), ev("sendcloud", "4242 "), ev("sendcloud", "X")]
    assert apply_overrides(events, overrides) == events
    assert apply_overrides(events, {}) == events


def test_normalize_batch_applies_the_overrides() -> None:
    body = {"action": "parcel_status_changed", "timestamp": 1_700_000_000_000,
            "parcel": {"id": 1, "tracking_number": "SC1", "status": {"id": 4343, "message": "Brand new"}}}
    message: tuple[str, int, int, bytes, dict[str, str]] = (
        "carrier.sendcloud.raw", 0, 7, json.dumps(body).encode(), {})
    plain = normalize_batch([message], 4, NOW)
    [before] = [e for events in plain.by_partition.values() for e in events]
    assert (before.status, before.mapped) == ("unknown", False)
    mapped = normalize_batch([message], 4, NOW, {("sendcloud", "4343"): CodeMapping("exception", "damaged")})
    [after] = [e for events in mapped.by_partition.values() for e in events]
    assert (after.status, after.substatus, after.mapped, after.code) == ("exception", "damaged", True, "4343")
    assert after.event_id == before.event_id  # the same carrier event: redeliveries still deduplicate
    assert list(mapped.by_partition) == list(plain.by_partition)


def test_refresh_interval_setting() -> None:
    import pytest

    from trackstream.settings import Settings, SettingsError

    assert Settings.from_env({}).mapping_refresh_seconds == 5.0
    assert Settings.from_env({"TRACKSTREAM_MAPPING_REFRESH_SECONDS": "0.5"}).mapping_refresh_seconds == 0.5
    for bad in ("0", "-1", "soon"):
        with pytest.raises(SettingsError, match="TRACKSTREAM_MAPPING_REFRESH_SECONDS"):
            Settings.from_env({"TRACKSTREAM_MAPPING_REFRESH_SECONDS": bad})
