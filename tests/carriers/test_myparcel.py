from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carriers import myparcel
from carriers.base import CarrierErrorResponse, ParseError, PayloadError, SignatureError, load_mapping_file
from schemas.events import TZ_CARRIER_ZONE, TZ_GIVEN, Location, TrackingEvent
from tests.carriers.properties import (
    RECEIVED,
    arbitrary_bytes_test,
    assert_prefixes_raise,
    carrier_samples,
    cuts,
    json_loader,
    mutated_samples_test,
)

SAMPLES = carrier_samples("myparcel")
WEBHOOK = "webhook-shipment_status_change-notification-doc-example.json"
TRACKTRACES = "tracktraces-response-doc-example.json"
SAMPLE_NAMES = [WEBHOOK, TRACKTRACES]
POSTNL_LINK = "https://postnl.nl/tracktrace/?B=3SABC123&P=1234AB&D=NL&T=C"
_R = "returned_to_sender"
STATUS_HOOK = "shipment_status_change"

# MyParcel shipment_status → expected (status, substatus), written from the carrier's public sources
# independently of mappings/myparcel.json.
STATUS: dict[int, tuple[str, str | None]] = {
    1: ("pre_transit", "label_created"), 2: ("pre_transit", "announced"), 3: ("in_transit", "accepted"),
    4: ("in_transit", "sorting"), 5: ("out_for_delivery", "driver_en_route"), 6: ("in_transit", "customs"),
    7: ("delivered", "delivered_recipient"),
    8: ("available_for_pickup", "at_pickup_point"),  # "delivered - ready for pickup" is NOT delivered
    9: ("delivered", "collected_by_recipient"),
    10: (_R, "returning"), 11: (_R, None),  # "delivered - return shipment ..." are returns, not deliveries
    12: ("pre_transit", "label_created"), 13: ("cancelled", None), 14: ("pre_transit", "label_created"),
    15: ("pre_transit", "label_created"), 16: ("cancelled", None), 17: ("cancelled", None),
    18: ("pre_transit", "label_created"), 19: ("delivered", None),
    99: ("unknown", None),
}
STATUS.update({30 + i: STATUS[1 + i] for i in range(9)})  # 30-38: inactive twins of 1-9
INACTIVE = {*range(30, 39), 99}


def parse(payload: bytes, headers: dict[str, str] | None = None, received: datetime = RECEIVED) -> list[TrackingEvent]:
    return myparcel.parse(payload, headers or {}, received)


_load = json_loader(SAMPLES)


def _hook(status: Any, barcode: str | None = "3SMYPA749883621", shipment_id: Any = 25482412) -> dict[str, Any]:
    item: dict[str, Any] = {"shipment_id": shipment_id, "account_id": 7003, "shop_id": 1897, "status": status}
    if barcode is not None:
        item["barcode"] = barcode
    return item


def _webhook(*hooks: dict[str, Any]) -> bytes:
    return json.dumps({"data": {"hooks": list(hooks)}}).encode()


def _tracktrace(history: list[dict[str, Any]], link: str = POSTNL_LINK, **top: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"shipment_id": 1, "link_tracktrace": link, "history": history}
    entry.update(top)
    return entry


def _tt(*entries: dict[str, Any]) -> bytes:
    return json.dumps({"data": {"tracktraces": list(entries)}}).encode()


def _item(
    code: str | None, status: int | str | None, time: str = "2024-01-15 10:00:00", **extra: Any
) -> dict[str, Any]:
    item: dict[str, Any] = {"description": "tekst", "time": time}
    if code is not None:
        item["code"] = code
    if status is not None:
        item["status"] = status
    item.update(extra)
    return item


# --- samples ------------------------------------------------------------------------------------


def test_webhook_sample() -> None:
    [event] = parse((SAMPLES / WEBHOOK).read_bytes())
    assert (event.carrier, event.tracking_number, event.key) == (
        "myparcel", "3SMYPA749883621", "myparcel:3SMYPA749883621")
    assert (event.status, event.substatus, event.mapped) == ("pre_transit", "announced", True)
    assert (event.code, event.description) == ("status:2", "pending - registered")
    assert (event.occurred_at, event.local_time, event.tz_source) == (RECEIVED, "", TZ_GIVEN)
    assert (event.source, event.received_at, event.location) == ("webhook", RECEIVED, None)
    attrs = event.attributes
    assert attrs["shipment_id"] == "25482412"
    assert attrs["reference"] == "Bol.com nr: 4161412988"
    assert attrs["order_id"] == "db610547-7434-4f6d-9e13-178b686a94d6"
    assert attrs["occurred_at_source"] == "received_at"
    assert attrs["tracking_number_source"] == "barcode"
    assert attrs["myparcel_status"] == 2


def test_webhook_event_id_ignores_the_receipt_time() -> None:
    payload = (SAMPLES / WEBHOOK).read_bytes()
    [first] = parse(payload)
    [later] = parse(payload, received=datetime(2024, 5, 2, 8, 30, tzinfo=UTC))
    assert first.event_id == later.event_id
    assert later.occurred_at == datetime(2024, 5, 2, 8, 30, tzinfo=UTC)
    expected = hashlib.sha256(b"myparcel|3SMYPA749883621|shipment_status|25482412|2").hexdigest()[:32]
    assert first.event_id == expected
    # shipment_id as a string (the docs show both) gives the same id; another status another id
    [as_text] = parse(_webhook(_hook(2, shipment_id="25482412")))
    [other] = parse(_webhook(_hook(3)))
    assert as_text.event_id == first.event_id != other.event_id


def test_webhook_naive_received_at_is_read_as_utc() -> None:
    [event] = parse(_webhook(_hook(7)), received=datetime(2024, 5, 1, 12, 0))
    assert event.occurred_at == RECEIVED


def test_tracktraces_sample() -> None:
    events = parse((SAMPLES / TRACKTRACES).read_bytes())
    assert [e.code for e in events] == ["A01", "B01", "J01", "J05", "I01"]
    assert [e.status for e in events] == ["pre_transit", "in_transit", "in_transit", "out_for_delivery", "delivered"]
    assert {e.tracking_number for e in events} == {"3SMYPA126329191"}  # from the PostNL link
    assert [e.occurred_at for e in events] == [  # Amsterdam winter time (CET, +01:00)
        datetime(2019, 2, 14, 23, 0, tzinfo=UTC), datetime(2019, 2, 15, 16, 9, 55, tzinfo=UTC),
        datetime(2019, 2, 16, 7, 13, 29, tzinfo=UTC), datetime(2019, 2, 16, 7, 35, 51, tzinfo=UTC),
        datetime(2019, 2, 16, 14, 9, 53, tzinfo=UTC),
    ]
    assert events[-1].local_time == "2019-02-16 15:09:53"
    assert all(e.tz_source == TZ_CARRIER_ZONE and e.source == "poll" and e.mapped for e in events)
    assert events[-1].description == "Zending bezorgd"
    assert events[0].location == Location(
        city="S-Hertogenbosch", postcode="5222AL", country="NL", lat=51.70326781, lon=5.27349901,
        text="Depot Den Bosch")
    assert events[1].location is None
    assert len({e.event_id for e in events}) == 5
    last = events[-1].attributes
    assert last["final"] is True and last["main"] == "delivered" and last["myparcel_status"] == 7
    assert last["underlying_carrier"] == "postnl"
    assert last["mapping_layer"] == "postnl_event_code"
    assert last["shipment_id"] == "43393092"
    assert last["tracking_number_source"] == "link"
    assert last["estimated_delivery_start"] == "2019-02-19T16:15:00Z"
    assert last["estimated_delivery_end"] == "2019-02-19T18:45:00Z"
    assert last["estimated_delivery_start_local"] == "2019-02-19 17:15:00.000000"
    assert last["recipient_postcode"] == "2231JE"


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_samples_are_deterministic(name: str) -> None:
    payload = (SAMPLES / name).read_bytes()
    assert [e.event_id for e in parse(payload)] == [e.event_id for e in parse(payload)]


def test_changed_location_text_keeps_ids() -> None:
    body = _load(TRACKTRACES)
    first = parse(json.dumps(body).encode())
    entry = body["data"]["tracktraces"][0]
    for item in [entry, *entry["history"]]:
        item["location"] = {"name": "Elders", "cc": "NL", "city": "Renamed"}
        item["description"] = "herschreven"
    assert [e.event_id for e in first] == [e.event_id for e in parse(json.dumps(body).encode())]


# --- code tables --------------------------------------------------------------------------------


def test_table_has_exactly_the_expected_rows() -> None:
    assert {int(k) for k in load_mapping_file("myparcel.json")["shipment_status"]} == set(STATUS)


@pytest.mark.parametrize("status", sorted(STATUS))
def test_every_status_by_webhook(status: int) -> None:
    [event] = parse(_webhook(_hook(status)))
    assert (event.status, event.substatus, event.mapped, event.code) == (*STATUS[status], True, f"status:{status}")
    assert event.description  # MyParcel's own name of the status
    assert event.attributes.get("inactive", False) is (status in INACTIVE)


@pytest.mark.parametrize("status", sorted(STATUS))
def test_every_status_by_tracktraces(status: int) -> None:
    [event] = parse(_tt(_tracktrace([_item("ZZ9", status)], link="https://example.org/t?x=1", barcode="B1")))
    assert (event.status, event.substatus, event.mapped) == (*STATUS[status], True)
    assert (event.code, event.attributes["mapping_layer"]) == ("ZZ9", "myparcel_status")


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("J08", 5, "failed_attempt"),  # MyParcel says distribution; PostNL says not delivered
        ("Y02", 5, "failed_attempt"),
        ("J05", 5, "out_for_delivery"),
        ("I01", 7, "delivered"),
        ("A01", 2, "pre_transit"),
        ("B01", 3, "in_transit"),
    ],
)
def test_postnl_code_comes_first(code: str, status: int, expected: str) -> None:
    [event] = parse(_tt(_tracktrace([_item(code, status)])))
    assert (event.status, event.attributes["mapping_layer"], event.code) == (expected, "postnl_event_code", code)


def test_postnl_detected_by_carrier_id_too() -> None:
    [event] = parse(_tt(_tracktrace([_item("J08", 5)], link="", carrier_id=1, barcode="3SX")))
    assert event.status == "failed_attempt"
    [other] = parse(_tt(_tracktrace([_item("J08", 5)], link="https://dpd.example/t", carrier=4, barcode="3SX")))
    assert (other.status, other.attributes["mapping_layer"]) == ("out_for_delivery", "myparcel_status")


def test_unknown_codes() -> None:
    [event] = parse(_tt(_tracktrace([_item("Q99X", None, description="Naar Mars")])))
    assert (event.status, event.substatus, event.mapped) == ("unknown", "unmapped_code", False)
    assert (event.code, event.description) == ("Q99X", "Naar Mars")
    [both_unknown] = parse(_tt(_tracktrace([_item("Q99X", 77)])))
    assert (both_unknown.status, both_unknown.mapped, both_unknown.attributes["myparcel_status"]) == (
        "unknown", False, 77)
    [hook] = parse(_webhook(_hook(77)))
    assert (hook.status, hook.mapped, hook.code, hook.description) == ("unknown", False, "status:77", "")


def test_item_without_code_uses_the_status_code() -> None:
    [event] = parse(_tt(_tracktrace([_item(None, 4)])))
    assert (event.code, event.status) == ("status:4", "in_transit")


# --- time ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected", "source"),
    [
        ("2024-01-15 10:00:00", datetime(2024, 1, 15, 9, 0, tzinfo=UTC), TZ_CARRIER_ZONE),  # CET
        ("2024-07-15 10:00:00", datetime(2024, 7, 15, 8, 0, tzinfo=UTC), TZ_CARRIER_ZONE),  # CEST
        ("2024-07-15 10:00:00.250000", datetime(2024, 7, 15, 8, 0, 0, 250000, tzinfo=UTC), TZ_CARRIER_ZONE),
        ("2024-03-31 01:59:59", datetime(2024, 3, 31, 0, 59, 59, tzinfo=UTC), TZ_CARRIER_ZONE),
        ("2024-03-31 02:30:00", datetime(2024, 3, 31, 1, 30, tzinfo=UTC), TZ_CARRIER_ZONE),  # spring gap
        ("2024-03-31 03:00:00", datetime(2024, 3, 31, 1, 0, tzinfo=UTC), TZ_CARRIER_ZONE),
        ("2024-10-27 02:30:00", datetime(2024, 10, 27, 0, 30, tzinfo=UTC), TZ_CARRIER_ZONE),  # autumn fold=0
        ("2024-10-27 03:00:00", datetime(2024, 10, 27, 2, 0, tzinfo=UTC), TZ_CARRIER_ZONE),
        ("2024-07-15T10:00:00+01:00", datetime(2024, 7, 15, 9, 0, tzinfo=UTC), TZ_GIVEN),
        ("2024-07-15T10:00:00Z", datetime(2024, 7, 15, 10, 0, tzinfo=UTC), TZ_GIVEN),
    ],
)
def test_timestamp_rules(text: str, expected: datetime, source: str) -> None:
    [event] = parse(_tt(_tracktrace([_item("B01", 3, time=text)])))
    assert (event.occurred_at, event.tz_source, event.local_time) == (expected, source, text)


def test_scan_abroad_is_still_platform_time() -> None:
    item = _item("B01", 3, time="2024-07-15 10:00:00", location={"cc": "GB", "city": "London"})
    [event] = parse(_tt(_tracktrace([item])))
    assert (event.occurred_at, event.tz_source) == (datetime(2024, 7, 15, 8, 0, tzinfo=UTC), TZ_CARRIER_ZONE)
    assert event.location == Location(city="London", country="GB")


def test_unreadable_delivery_moment_keeps_the_events() -> None:
    moment = {"start": {"date": "2019-02-19 17:15:00", "timezone": "Mars/Olympus"}, "end": "soon"}
    [event] = parse(_tt(_tracktrace([_item("B01", 3)], delivery_moment=moment)))
    assert "estimated_delivery_start" not in event.attributes
    assert event.attributes["estimated_delivery_start_local"] == "2019-02-19 17:15:00"


# --- identification and shapes ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("top", "number", "source"),
    [
        ({"barcode": "3s abc 1", "link_tracktrace": POSTNL_LINK}, "3SABC1", "barcode"),
        ({"link_consumer_portal": "https://shop.myparcel.me/track-trace/3SPORTAL1/2182KD/NL"}, "3SPORTAL1", "link"),
        ({"link_tracktrace": POSTNL_LINK}, "3SABC123", "link"),
        ({"link_tracktrace": "https://www.dhlparcel.nl/nl/volg?barcode=JVGL1"}, "JVGL1", "link"),
        ({"link_tracktrace": "https://example.org/track"}, "1", "shipment_id"),
        ({"link_tracktrace": None}, "1", "shipment_id"),
    ],
)
def test_tracking_number_sources(top: dict[str, Any], number: str, source: str) -> None:
    entry = _tracktrace([_item("B01", 3)])
    entry.update(top)
    [event] = parse(_tt(entry))
    assert (event.tracking_number, event.attributes["tracking_number_source"]) == (number, source)


def test_webhook_without_barcode_uses_the_shipment_id() -> None:
    [event] = parse(_webhook(_hook(12, barcode="")))
    assert (event.tracking_number, event.attributes["tracking_number_source"]) == ("25482412", "shipment_id")


def test_webhook_with_several_events_and_repeats() -> None:
    events = parse(_webhook(_hook(3), _hook(4), _hook(3), _hook(7, barcode="3SOTHER")))
    assert [(e.tracking_number, e.code) for e in events] == [
        ("3SMYPA749883621", "status:3"), ("3SMYPA749883621", "status:4"), ("3SOTHER", "status:7")]


@pytest.mark.parametrize("hook", ["shipment_label_created", "order_status_change"])
def test_other_hooks_have_nothing_to_track(hook: str) -> None:
    label = {"status": "success", "shipment_ids": [15001826], "pdf": "https://api.myparcel.nl/pdfs/x"}
    assert parse(_webhook(label), {"x-myparcel-hook": hook}) == []
    assert parse(_webhook(_hook(2)), {"X-MyParcel-Hook": hook}) == []


def test_items_without_shipment_id_are_skipped_and_hook_id_kept() -> None:
    label = {"status": "failed", "shipment_ids": [1], "reason": "payment required"}
    headers = {"X-MyParcel-Hook": "shipment_status_change", "X-MyParcel-HookId": "d91e16cb"}
    [event] = parse(_webhook(label, _hook(9)), headers)
    assert (event.status, event.attributes["hook_id"]) == ("delivered", "d91e16cb")
    assert parse(_webhook()) == []


def test_docs_example_without_history_gives_the_current_event() -> None:
    body = _load(TRACKTRACES)
    body["data"]["tracktraces"][0]["history"] = []
    [event] = parse(json.dumps(body).encode())
    assert (event.code, event.status, event.attributes["final"]) == ("I01", "delivered", True)


def test_current_event_repeated_in_history_is_not_doubled() -> None:
    history = [_item("B01", 3, time="2024-01-15 09:00:00"), _item("I01", 7, time="2024-01-15 12:00:00")]
    entry = _tracktrace(history, code="I01", time="2024-01-15 12:00:00", status={"current": 7, "final": True})
    assert [e.code for e in parse(_tt(entry))] == ["B01", "I01"]


def test_several_tracktraces() -> None:
    first = _tracktrace([_item("B01", 3)], barcode="3SA")
    second = _tracktrace([_item("J05", 5)], barcode="3SB", shipment_id=2)
    events = parse(_tt(first, second, first))
    assert [(e.tracking_number, e.code) for e in events] == [("3SA", "B01"), ("3SB", "J05")]


def test_a_polled_tracktrace_without_barcode_or_link_takes_the_barcode_the_poller_asked_under() -> None:
    bare = _tracktrace([_item("B01", 3)], link="", shipment_id=77)
    other = _tracktrace([_item("J05", 5)], link="", shipment_id=78)
    asked = {myparcel.SHIPMENT_BARCODES_HEADER: "77=3SASKED77, 78=3SASKED78,junk,=x"}
    events = parse(_tt(bare, other), headers=asked)
    assert [(e.tracking_number, e.attributes["tracking_number_source"]) for e in events] == [
        ("3SASKED77", "poll_request"), ("3SASKED78", "poll_request")]
    # without the header (e.g. a file feed of the same answer) the shipment id is the number
    assert [e.tracking_number for e in parse(_tt(bare))] == ["77"]
    # a barcode in the answer itself wins over the header
    with_barcode = _tracktrace([_item("B01", 3)], link="", shipment_id=77, barcode="3SOWN")
    assert [e.tracking_number for e in parse(_tt(with_barcode), headers=asked)] == ["3SOWN"]


# --- errors and malformed input -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "not_found"),
    [
        ({"data": {"tracktraces": []}}, True),
        ({"errors": [{"status": 404, "code": 3501, "message": "Shipment not found"}], "message": ""}, True),
        ({"errors": [{"status": 401, "code": 3000, "message": "Access denied"}], "message": "Unauthorized"}, False),
        ({"message": "Too many requests"}, False),
    ],
)
def test_carrier_error_answers(body: dict[str, Any], not_found: bool) -> None:
    with pytest.raises(CarrierErrorResponse) as caught:
        parse(json.dumps(body).encode())
    assert caught.value.not_found is not_found


@pytest.mark.parametrize(
    "payload",
    [b"", b" ", b"not json", b"[]", b"7", b"{}", b'{"data": []}', b'{"data": {}}', b'{"data": {"hooks": {}}}',
     b'{"data": {"tracktraces": {}}}', b'{"data": {"hooks": [1]}}', b'{"data": {"tracktraces": [1]}}',
     _webhook(_hook(None)), _webhook(_hook("two")), _webhook(_hook(True)), _webhook(_hook(2, barcode=None,
                                                                                        shipment_id=None)),
     _tt(_tracktrace([_item("B01", 3, time="gisteren")])), _tt(_tracktrace([_item(None, None)])),
     _tt(_tracktrace([_item("B01", "drie")])), _tt(_tracktrace([_item("B01", 3, time="")])),
     _tt({"history": [], "link_tracktrace": "https://example.org"})],
)
def test_malformed_payloads(payload: bytes) -> None:
    with pytest.raises(PayloadError):
        parse(payload)


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_truncated_samples(name: str) -> None:
    payload = (SAMPLES / name).read_bytes().rstrip()
    assert_prefixes_raise(parse, payload, [*cuts(payload, 40), len(payload) - 1])


test_arbitrary_bytes_only_raise_parse_errors = arbitrary_bytes_test(parse, max_examples=150)


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_arbitrary_json_only_raises_parse_errors(data: st.DataObject, json_values: st.SearchStrategy[Any]) -> None:
    value = data.draw(json_values)
    wrapped = data.draw(st.sampled_from([value, {"data": value}, {"data": {"hooks": value}},
                                         {"data": {"tracktraces": value}}]))
    try:
        parse(json.dumps(wrapped).encode(), {"X-MyParcel-Hook": data.draw(st.sampled_from(["", STATUS_HOOK]))})
    except ParseError:
        pass


test_mutated_samples_only_raise_parse_errors = mutated_samples_test(parse, _load, SAMPLE_NAMES, max_examples=200)


# --- webhook authentication ---------------------------------------------------------------------

API_KEY = "a1b2c3d4e5f6-api-key"
ENCODED = base64.b64encode(API_KEY.encode()).decode()


@pytest.mark.parametrize(
    "headers",
    [{"X-MyParcel-Authorization": ENCODED}, {"x-myparcel-authorization": f"  {ENCODED} "},
     {"X-MyParcel-Authorization": f"basic {ENCODED}"}, {"X-MyParcel-Authorization": f"Bearer {ENCODED}"}],
)
def test_verify_webhook_accepts_the_base64_api_key(headers: dict[str, str]) -> None:
    myparcel.verify_webhook((SAMPLES / WEBHOOK).read_bytes(), headers, API_KEY)


@pytest.mark.parametrize(
    ("headers", "secret"),
    [
        ({}, API_KEY),
        ({"X-MyParcel-Authorization": ""}, API_KEY),
        ({"X-MyParcel-Authorization": API_KEY}, API_KEY),  # the raw key is not the base64 of it
        ({"X-MyParcel-Authorization": ENCODED}, "another-key"),
        ({"X-MyParcel-Authorization": ENCODED + "="}, API_KEY),
        ({"X-MyParcel-Authorization": "ëëë"}, API_KEY),
        ({"X-MyParcel-Authorization": ENCODED}, ""),
        ({"Authorization": ENCODED}, API_KEY),
    ],
)
def test_verify_webhook_rejects(headers: dict[str, str], secret: str) -> None:
    with pytest.raises(SignatureError):
        myparcel.verify_webhook(b"{}", headers, secret)
