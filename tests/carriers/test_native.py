from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carriers import native
from carriers.base import PayloadError
from schemas.events import TZ_GIVEN, Location, TrackingEvent, derive_event_id
from schemas.taxonomy import Status
from tests.carriers.properties import RECEIVED, arbitrary_bytes_test, arbitrary_json_test


def item(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "carrier": "dhl_nl",
        "tracking_number": "jvgl 0612 3456",
        "status": "delivered",
        "substatus": "delivered_neighbour",
        "code": "DLVD",
        "description": "Bezorgd bij de buren",
        "occurred_at": "2024-03-31T14:05:00+02:00",
        "location": {"city": "Utrecht", "postcode": "3511AB", "country": "nl", "lat": 52.09, "lon": 5.12},
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not ...}


def parse(body: Any) -> list[TrackingEvent]:
    return native.parse(json.dumps(body).encode(), {}, RECEIVED)


def test_full_item() -> None:
    [event] = parse([item()])
    assert event.carrier == "dhl_nl"
    assert event.tracking_number == "JVGL06123456"
    assert (event.status, event.substatus, event.code) == ("delivered", "delivered_neighbour", "DLVD")
    assert event.description == "Bezorgd bij de buren"
    assert event.occurred_at == datetime(2024, 3, 31, 12, 5, tzinfo=UTC)
    assert (event.local_time, event.tz_source, event.source) == ("2024-03-31T14:05:00+02:00", TZ_GIVEN, "api")
    assert (event.mapped, event.received_at) == (True, RECEIVED)
    assert event.location == Location(city="Utrecht", postcode="3511AB", country="NL", lat=52.09, lon=5.12)
    assert event.event_id == derive_event_id("dhl_nl", "JVGL06123456", event.occurred_at, "DLVD")


def test_minimal_item_and_events_wrapper() -> None:
    minimal = {"carrier": "acme", "tracking_number": "x1", "status": "in_transit",
               "occurred_at": "2024-01-01T00:00:00Z"}
    [event] = parse({"events": [minimal]})
    assert (event.code, event.substatus, event.description, event.location) == ("in_transit", None, "", None)
    assert event.occurred_at == datetime(2024, 1, 1, tzinfo=UTC)


def test_every_status_is_accepted() -> None:
    events = parse([item(status=s.value, substatus=None, code=None) for s in Status])
    assert [e.status for e in events] == [s.value for s in Status]
    assert [e.code for e in events] == [s.value for s in Status]


def test_given_event_id_is_kept_and_derived_ids_are_deterministic() -> None:
    [given_id] = parse([item(event_id="my-own-id")])
    assert given_id.event_id == "my-own-id"
    first, second = parse([item()]), parse([item(location={"city": "Elders"}, description="other text")])
    assert first[0].event_id == second[0].event_id
    assert parse([item(occurred_at="2024-03-31T12:05:00Z")])[0].event_id == first[0].event_id


def test_attributes_pass_through() -> None:
    [event] = parse([item(attributes={"order_number": "A-1"})])
    assert event.attributes == {"order_number": "A-1"}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"carrier": ...}, "carrier"),
        ({"carrier": "DHL"}, "carrier"),
        ({"carrier": "a" * 33}, "carrier"),
        ({"carrier": "dhl nl"}, "carrier"),
        ({"carrier": 5}, "carrier"),
        ({"tracking_number": ...}, "tracking_number"),
        ({"tracking_number": "   "}, "tracking_number"),
        ({"tracking_number": 123}, "tracking_number"),
        ({"tracking_number": "X" * 65}, "tracking_number"),
        ({"status": ...}, "status"),
        ({"status": "lost_in_space"}, "status"),
        ({"status": "pending"}, "status"),  # shipment-level only
        ({"substatus": "teleported"}, "substatus"),
        ({"code": 7}, "code"),
        ({"description": ["x"]}, "description"),
        ({"occurred_at": ...}, "occurred_at"),
        ({"occurred_at": "2024-03-31T14:05:00"}, "occurred_at"),  # naive
        ({"occurred_at": "31-03-2024 14:05"}, "occurred_at"),
        ({"occurred_at": 1711886700}, "occurred_at"),
        ({"location": "Utrecht"}, "location"),
        ({"location": {"country": "Netherlands"}}, "location.country"),
        ({"location": {"lat": 91}}, "location.lat"),
        ({"location": {"lon": "5.1"}}, "location.lon"),
        ({"location": {"lat": True}}, "location.lat"),
        ({"location": {"street": "x"}}, "location.street"),
        ({"location": {"city": 1}}, "location.city"),
        ({"event_id": ""}, "event_id"),
        ({"event_id": 5}, "event_id"),
        ({"attributes": []}, "attributes"),
        ({"occured_at": "2024-01-01T00:00:00Z"}, "occured_at"),  # typo: unknown field
    ],
)
def test_invalid_fields_are_named(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(native.ItemError) as caught:
        native.validate_item(item(**overrides), 3, RECEIVED)
    assert caught.value.field == field
    assert caught.value.index == 3
    assert str(caught.value).startswith(f"events[3].{field}:")
    assert isinstance(caught.value, PayloadError)


def test_validate_items_reports_every_bad_item() -> None:
    events, errors = native.validate_items(
        [item(), item(status="nope"), "not an object", item(occurred_at="2024-01-01T00:00:00")], RECEIVED
    )
    assert len(events) == 1
    assert [(e["index"], e["field"]) for e in errors] == [(1, "status"), (2, ""), (3, "occurred_at")]


def test_parse_stops_at_first_bad_item() -> None:
    with pytest.raises(PayloadError, match=r"events\[1\]\.status"):
        parse([item(), item(status="nope"), item(carrier="BAD")])


@pytest.mark.parametrize(
    "payload",
    [b"", b"  ", b"nope", b"{}", b'{"events": {}}', b'{"events": [], "extra": 1}', b"5", b'"x"', b"[1]"],
)
def test_malformed_bodies(payload: bytes) -> None:
    with pytest.raises(PayloadError):
        native.parse(payload, {}, RECEIVED)


def test_empty_batch_is_valid() -> None:
    assert parse([]) == []


def _parse_raw(payload: bytes) -> list[TrackingEvent]:
    return native.parse(payload, {}, RECEIVED)


test_arbitrary_bytes_only_raise_parse_errors = arbitrary_bytes_test(_parse_raw, max_examples=200)


test_arbitrary_json_only_raises_parse_errors = arbitrary_json_test(_parse_raw, max_examples=300)


_FIELD_VALUES: st.SearchStrategy[Any] = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
)


@settings(max_examples=400, deadline=None)
@given(data=st.data(), field=st.sampled_from(sorted(native._FIELDS)))
def test_any_single_field_value_gives_an_event_or_an_item_error(
    data: st.DataObject, field: str, json_values: st.SearchStrategy[Any]
) -> None:
    value = data.draw(_FIELD_VALUES | json_values)
    try:
        event = native.validate_item(item(**{field: value}), 0, RECEIVED)
    except native.ItemError as exc:
        assert exc.field.split(".")[0] == field
        return
    assert event.occurred_at.tzinfo is not None
    assert event.tracking_number
