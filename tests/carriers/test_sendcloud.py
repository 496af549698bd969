from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from carriers import sendcloud
from carriers.base import CarrierErrorResponse, PayloadError, SignatureError
from schemas.events import TZ_GIVEN, TrackingEvent, derive_event_id
from tests.carriers.properties import (
    RECEIVED,
    arbitrary_bytes_test,
    arbitrary_json_test,
    assert_prefixes_raise,
    carrier_samples,
    cuts,
    json_loader,
    mutated_samples_test,
)

SAMPLES = carrier_samples("sendcloud")
SAMPLE_NAMES = [
    "webhook-parcel_status_changed-raw-body.json",
    "tracking-v2-response-doc-example.json",
    "tracking-v3-response-doc-example.json",
]

# The public sources' table, written out independently of mappings/sendcloud.json.
EXPECTED_BY_ID: dict[int, str] = {
    999: "pre_transit", 1000: "pre_transit", 1001: "pre_transit", 1: "pre_transit", 13: "pre_transit",
    1002: "exception", 15: "exception", 22: "in_transit", 3: "in_transit", 62990: "in_transit",
    7: "in_transit", 5: "in_transit", 6: "exception", 62989: "in_transit", 91: "in_transit",
    4: "in_transit", 62993: "in_transit", 62994: "in_transit", 62995: "in_transit",
    92: "out_for_delivery", 8: "failed_attempt", 12: "available_for_pickup", 11: "delivered",
    93: "delivered", 80: "exception", 62991: "exception", 62992: "returned_to_sender",
    62996: "exception", 62997: "exception", 1999: "cancelled", 2001: "cancelled", 2000: "cancelled",
    1998: "cancelled", 94: "exception", 1337: "unknown",
}


def _csv_rows() -> list[dict[str, str]]:
    with (SAMPLES / "parcel-status-ids-v2.csv").open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


CSV_ROWS = _csv_rows()


_load = json_loader(SAMPLES)


def _webhook(status_id: int | None, message: str, **top: Any) -> bytes:
    body: dict[str, Any] = {
        "action": "parcel_status_changed",
        "timestamp": 1_700_000_000_000,
        "parcel": {"id": 7, "tracking_number": "3s abc 123", "status": {"id": status_id, "message": message}},
    }
    body.update(top)
    return json.dumps(body).encode()


def parse(payload: bytes, headers: dict[str, str] | None = None) -> list[TrackingEvent]:
    return sendcloud.parse(payload, headers or {}, RECEIVED)


# --- samples ------------------------------------------------------------------------------------


def test_raw_webhook_sample() -> None:
    [event] = parse((SAMPLES / "webhook-parcel_status_changed-raw-body.json").read_bytes())
    assert event.carrier == "sendcloud"
    assert event.tracking_number == "S0M3TR4CK1NGNUMB3R"
    assert event.key == "sendcloud:S0M3TR4CK1NGNUMB3R"
    assert (event.status, event.substatus, event.mapped) == ("pre_transit", "label_created", True)
    assert (event.code, event.description) == ("0", "Ready to send")  # id 0: matched on the message
    assert event.occurred_at == datetime(2018, 5, 2, 14, 38, 5, 993000, tzinfo=UTC)
    assert (event.local_time, event.tz_source) == ("1525271885993", TZ_GIVEN)
    assert (event.source, event.received_at, event.location) == ("webhook", RECEIVED, None)
    assert event.event_id == derive_event_id("sendcloud", "S0M3TR4CK1NGNUMB3R", event.occurred_at, "0")
    attrs = event.attributes
    assert attrs["order_number"] == "0rd3rnumb3r"
    assert attrs["parcel_id"] == "3"
    assert attrs["recipient_country"] == "NL"
    assert attrs["recipient_postcode"] == "5642CV"
    assert attrs["timestamp_field"] == "timestamp"


def test_docs_example_webhook_placeholder_timestamps_fall_back_to_received_at() -> None:
    payload = (SAMPLES / "webhook-parcel_status_changed-doc-example.json").read_bytes()
    first = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    [event] = sendcloud.parse(payload, {}, first)
    assert (event.tracking_number, event.status, event.code) == ("3SYZXG132912330", "pre_transit", "1")
    assert event.occurred_at == first
    assert event.attributes["timestamp_field"] == "received_at"
    assert event.attributes["order_number"] == "ORD12334"
    # a redelivery an hour later is the same event
    [again] = sendcloud.parse(payload, {}, first + timedelta(hours=1))
    assert again.event_id == event.event_id


def test_docs_example_with_real_timestamps_maps_by_id_not_message() -> None:
    body = _load("webhook-parcel_status_changed-doc-example.json")
    body["timestamp"] = 1_643_121_793_000
    body["carrier_status_change_timestamp"] = 1_643_121_700_000
    [event] = parse(json.dumps(body).encode())
    # id 1 is "Announced" although the example's message says "Ready to send": the id wins.
    assert (event.code, event.status, event.substatus) == ("1", "pre_transit", "announced")
    assert event.tracking_number == "3SYZXG132912330"
    assert event.occurred_at == datetime.fromtimestamp(1_643_121_700, UTC)
    assert event.attributes["timestamp_field"] == "carrier_status_change_timestamp"
    assert event.attributes["order_number"] == "ORD12334"
    assert event.attributes["shipping_method"] == "PostNL Standard"


def test_v2_tracking_sample() -> None:
    events = parse((SAMPLES / "tracking-v2-response-doc-example.json").read_bytes())
    assert [e.code for e in events] == ["shipment-on-route", "ready-to-send", "announcing"]
    assert [e.status for e in events] == ["in_transit", "pre_transit", "pre_transit"]
    assert {e.tracking_number for e in events} == {"3SYZXG132912330"}  # from carrier_tracking_url
    assert events[0].occurred_at == datetime(2022, 1, 25, 14, 43, 13, 615997, tzinfo=UTC)
    assert events[2].occurred_at == datetime(2022, 1, 25, 14, 42, 3, 298949, tzinfo=UTC)
    assert events[0].local_time == "2022-01-25 14:43:13.615997+00:00"
    assert events[1].description == "Ready to send"
    assert all(e.source == "poll" and e.tz_source == TZ_GIVEN and e.mapped for e in events)
    assert events[0].attributes["carrier_code"] == "postnl"
    assert events[0].attributes["parcel_status_history_id"] == "8"
    assert len({e.event_id for e in events}) == 3


def test_v2_tracking_number_header_wins() -> None:
    payload = (SAMPLES / "tracking-v2-response-doc-example.json").read_bytes()
    events = parse(payload, {"x-trackstream-tracking-number": "abc 1"})
    assert {e.tracking_number for e in events} == {"ABC1"}


def test_v2_without_any_tracking_number_is_rejected() -> None:
    body = _load("tracking-v2-response-doc-example.json")
    del body["carrier_tracking_url"], body["sendcloud_tracking_url"]
    with pytest.raises(PayloadError, match="tracking number"):
        parse(json.dumps(body).encode())


def test_v2_event_id_comes_from_history_id() -> None:
    body = _load("tracking-v2-response-doc-example.json")
    first = parse(json.dumps(body).encode())
    body["statuses"][0]["carrier_update_timestamp"] = "2022-01-25 14:50:00+00:00"
    body["statuses"][0]["carrier_message"] = "rewritten"
    second = parse(json.dumps(body).encode())
    assert first[0].event_id == second[0].event_id


def test_v3_tracking_sample() -> None:
    [event] = parse((SAMPLES / "tracking-v3-response-doc-example.json").read_bytes())
    assert event.tracking_number == "123456789"
    assert (event.code, event.status, event.substatus) == ("accepted", "in_transit", "accepted")
    assert event.description == "Parcel has been accepted by the carrier."
    assert event.occurred_at == datetime(2024, 1, 2, tzinfo=UTC)
    assert (event.local_time, event.source) == ("2024-01-02T00:00:00Z", "poll")
    assert event.attributes["carrier_code"] == "postnl"
    assert event.attributes["event_type"] == "carrier"
    assert event.attributes["expected_delivery_date"] == "2024-01-03"


def test_every_sample_is_deterministic() -> None:
    for name in SAMPLE_NAMES:
        payload = (SAMPLES / name).read_bytes()
        assert [e.event_id for e in parse(payload)] == [e.event_id for e in parse(payload)]


# --- code tables --------------------------------------------------------------------------------


def test_note_table_and_csv_cover_the_same_ids() -> None:
    assert {int(row["id"]) for row in CSV_ROWS} == set(EXPECTED_BY_ID)


@pytest.mark.parametrize("row", CSV_ROWS, ids=lambda r: r["id"])
def test_every_status_id(row: dict[str, str]) -> None:
    status_id = int(row["id"])
    [event] = parse(_webhook(status_id, "whatever text"))
    assert (event.status, event.mapped, event.code) == (EXPECTED_BY_ID[status_id], True, row["id"])


@pytest.mark.parametrize("row", CSV_ROWS, ids=lambda r: r["id"])
def test_id_zero_falls_back_to_every_message(row: dict[str, str]) -> None:
    [event] = parse(_webhook(0, row["message"].upper()))  # case-insensitive
    assert (event.status, event.mapped, event.code) == (EXPECTED_BY_ID[int(row["id"])], True, "0")


@pytest.mark.parametrize("row", CSV_ROWS, ids=lambda r: r["id"])
def test_v2_slug_of_every_message(row: dict[str, str]) -> None:
    slug = "-".join("".join(c if c.isalnum() else " " for c in row["message"].lower()).split())
    mapping, mapped = sendcloud.map_parent_status(slug)
    assert (mapping.status, mapped) == (EXPECTED_BY_ID[int(row["id"])], True)


@pytest.mark.parametrize(
    ("slug", "status"),
    [("ready-to-send", "pre_transit"), ("announcing", "pre_transit"), ("shipment-on-route", "in_transit"),
     ("delivered", "delivered"), ("at-sorting-center", "in_transit"), ("cancelled", "cancelled")],
)
def test_known_parent_status_slugs(slug: str, status: str) -> None:
    assert sendcloud.map_parent_status(slug)[0].status == status


def test_unknown_id_keeps_code_and_text() -> None:
    [event] = parse(_webhook(424242, "Teleported to Mars"))
    assert (event.status, event.substatus, event.mapped) == ("unknown", "unmapped_code", False)
    assert (event.code, event.description) == ("424242", "Teleported to Mars")


def test_unknown_id_with_known_message() -> None:
    [event] = parse(_webhook(555, "Delivered"))
    assert (event.status, event.mapped, event.code) == ("delivered", True, "555")


def test_unknown_v2_slug_and_v3_code_are_unmapped() -> None:
    assert sendcloud.map_parent_status("flying-saucer")[1] is False
    body = _load("tracking-v3-response-doc-example.json")
    body["events"][0]["status_code"] = "teleported"
    [event] = parse(json.dumps(body).encode())
    assert (event.status, event.mapped, event.code) == ("unknown", False, "teleported")


# --- webhook timestamps and actions ------------------------------------------------------------


@pytest.mark.parametrize(
    ("top", "expected", "field"),
    [
        ({"carrier_status_change_timestamp": 1_600_000_000_123},
         datetime.fromtimestamp(1_600_000_000.123, UTC), "carrier_status_change_timestamp"),
        ({"carrier_status_change_timestamp": None}, datetime.fromtimestamp(1_700_000_000, UTC), "timestamp"),
        ({"carrier_status_change_timestamp": 123}, datetime.fromtimestamp(1_700_000_000, UTC), "timestamp"),
        ({"timestamp": 1_525_271_885}, datetime.fromtimestamp(1_525_271_885, UTC), "timestamp"),  # seconds
    ],
)
def test_webhook_timestamp_rule(top: dict[str, Any], expected: datetime, field: str) -> None:
    [event] = parse(_webhook(11, "Delivered", **top))
    assert event.occurred_at == expected
    assert event.attributes["timestamp_field"] == field


@pytest.mark.parametrize("value", [123, 0, -5, True, "1700000000000", 9_999_999_999_999_999, 1.5e30, None])
def test_implausible_timestamps_fall_back_to_received_at(value: Any) -> None:
    received = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    [event] = sendcloud.parse(_webhook(11, "Delivered", timestamp=value), {}, received)
    assert event.occurred_at == received and event.status == "delivered"
    assert event.attributes["timestamp_field"] == "received_at"


@pytest.mark.parametrize(
    "action", ["integration_connected", "integration_updated", "integration_deleted", "return_created", ""]
)
def test_other_actions_have_nothing_to_track(action: str) -> None:
    assert parse(json.dumps({"action": action, "timestamp": 1, "integration": {"id": 1}}).encode()) == []


def test_real_webhook_before_announcement_has_nothing_to_track() -> None:
    """A captured webhook (TaoGuerreiro/megastore): Sendcloud reports status 1001 "Being announced"
    for a Chronopost parcel whose ``tracking_number`` is still ``""``: the carrier has not issued
    one yet. That is a valid delivery with nothing to key a shipment on, not a malformed payload."""
    payload = (SAMPLES / "webhook-parcel_status_changed-being-announced-no-tracking-number.json").read_bytes()
    assert parse(payload) == []


@pytest.mark.parametrize(("status_id", "message"), [(999, "No label"), (1001, "Being announced")])
def test_webhook_without_tracking_number_before_announcement_gives_no_events(status_id: int, message: str) -> None:
    body = json.loads(_webhook(status_id, message))
    body["parcel"]["tracking_number"] = None
    assert parse(json.dumps(body).encode()) == []


def test_webhook_without_tracking_number_is_rejected() -> None:
    body = json.loads(_webhook(11, "Delivered"))
    body["parcel"]["tracking_number"] = ""
    with pytest.raises(PayloadError, match="tracking number"):
        parse(json.dumps(body).encode())


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "not_found"),
    [
        ({"error": {"code": 404, "message": "No Parcel matches the given query."}}, True),
        ({"error": {"code": 401, "message": "Invalid username/password."}}, False),
        ({"detail": "Parcel does not exist"}, True),
        ({"errors": [{"status": "404", "code": "not_found", "detail": "Not found."}]}, True),
    ],
)
def test_carrier_error_answers(body: dict[str, Any], not_found: bool) -> None:
    with pytest.raises(CarrierErrorResponse) as caught:
        parse(json.dumps(body).encode())
    assert caught.value.not_found is not_found


@pytest.mark.parametrize(
    "payload",
    [b"", b"   ", b"not json", b"[]", b"42", b'"x"', b"{}", b'{"statuses": 5}', b'{"events": [1]}',
     b'{"action": "parcel_status_changed"}', b'{"action": "parcel_status_changed", "parcel": []}',
     b'{"action": "parcel_status_changed", "timestamp": 1700000000000, "parcel": {"tracking_number": "x", '
     b'"status": {"id": "eleven"}}}',
     b'{"tracking_numbers": [{"tracking_number": "x"}], '
     b'"events": [{"status_code": "a", "event_at": "nope"}]}'],
)
def test_malformed_payloads(payload: bytes) -> None:
    with pytest.raises(PayloadError):
        parse(payload)


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_truncated_samples(name: str) -> None:
    payload = (SAMPLES / name).read_bytes()
    assert_prefixes_raise(parse, payload, cuts(payload, 40))


test_arbitrary_bytes_only_raise_parse_errors = arbitrary_bytes_test(parse, max_examples=200)


test_arbitrary_json_only_raises_parse_errors = arbitrary_json_test(parse, max_examples=300)


test_mutated_samples_only_raise_parse_errors = mutated_samples_test(parse, _load, SAMPLE_NAMES, max_examples=400)


# --- signature ----------------------------------------------------------------------------------


def test_signature_test_vector() -> None:
    vector = _load("webhook-signature-test-vector.json")
    body = (SAMPLES / vector["body_file"]).read_bytes()
    sendcloud.verify_signature(body, vector["expected_signature"], vector["secret_key"])
    sendcloud.verify_signature(body, vector["expected_signature"].upper(), vector["secret_key"])
    with pytest.raises(SignatureError):
        sendcloud.verify_signature(body + b"\n", vector["expected_signature"], vector["secret_key"])
    with pytest.raises(SignatureError):
        sendcloud.verify_signature(body, vector["expected_signature"], "wrong-secret")


def test_signature_docs_example() -> None:
    signature = "1eed4b3d41f4653ac64fd56f1bf1cbfd349e4482cbc11dff7134bd93e5da4b0a"
    sendcloud.verify_signature(b'{"key": "value"}', signature, "secretkey")
    with pytest.raises(SignatureError):  # re-serialised compact JSON is different bytes
        sendcloud.verify_signature(b'{"key":"value"}', signature, "secretkey")


@pytest.mark.parametrize("header", [None, "", "   ", "abc", "0" * 64])
def test_missing_or_wrong_signature(header: str | None) -> None:
    with pytest.raises(SignatureError):
        sendcloud.verify_signature(b'{"key": "value"}', header, "secretkey")
