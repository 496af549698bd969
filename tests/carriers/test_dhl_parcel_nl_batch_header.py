"""DHL Parcel NL native answers to a batched poll: the poller names every number it asked for in
``X-Trackstream-Tracking-Number`` (comma-joined); each parcel keeps the registered number among
them, also when that number is one of its ``barcodes[]`` aliases."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from carriers import dhl_parcel_nl

RECEIVED = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def _parcel(barcode: str, aliases: list[str]) -> dict[str, object]:
    return {"barcode": barcode, "barcodes": [barcode, *aliases], "events": [
        {"category": "UNDERWAY", "status": "PARCEL_SORTED_AT_HUB", "timestamp": "2026-11-20T17:00:00.000Z"}]}


def test_each_parcel_keeps_the_number_it_was_asked_for_in_a_batch() -> None:
    body = orjson.dumps([_parcel("3SBATCH0001", ["JVGL0001"]), _parcel("3SBATCH0002", ["JVGL0002"])])
    events = dhl_parcel_nl.parse(body, {"X-Trackstream-Tracking-Number": "3SBATCH0001,JVGL0002"}, RECEIVED)
    assert sorted(e.tracking_number for e in events) == ["3SBATCH0001", "JVGL0002"]
    alias_event = next(e for e in events if e.tracking_number == "JVGL0002")
    assert alias_event.attributes["barcodes"] == ["3SBATCH0002"]


def test_a_single_requested_number_still_selects_the_alias() -> None:
    body = orjson.dumps([_parcel("3SBATCH0003", ["JVGL0003"])])
    [event] = dhl_parcel_nl.parse(body, {"X-Trackstream-Tracking-Number": "jvgl0003"}, RECEIVED)
    assert event.tracking_number == "JVGL0003"
