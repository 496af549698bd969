from __future__ import annotations

import csv
from datetime import datetime
from typing import Any

import pytest

from carriers import postnl
from carriers.base import CarrierErrorResponse, PayloadError, load_mapping_file
from schemas.events import TZ_ASSUMED, TZ_GIVEN, TZ_SHIPMENT_COUNTRY, Location, TrackingEvent, derive_event_id
from tests.carriers.properties import (
    RECEIVED,
    arbitrary_bytes_test,
    arbitrary_json_test,
    as_payload,
    assert_prefixes_raise,
    carrier_samples,
    cuts,
    json_loader,
    mutated_samples_test,
    utc,
)

SAMPLES = carrier_samples("postnl")
OUT_FOR_DELIVERY = "shippingstatus-v2-status-response-out-for-delivery.json"
COMPLETE = "shippingstatus-v2-complete-status-response.json"
UPDATED = "shippingstatus-v2-updatedshipments-response.json"


def _read_csv(name: str) -> list[dict[str, str]]:
    with (SAMPLES / name).open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


EVENT_ROWS = _read_csv("tt-event-codes.csv")
STATUS_ROWS = _read_csv("tt-status-codes.csv")

# Expected statuses, written from the carrier's public sources independently of mappings/postnl.json.
BY_STATUS: dict[str, str] = {
    "1": "pre_transit", "13": "pre_transit", "14": "exception", "2": "in_transit", "3": "in_transit",
    "4": "exception", "15": "exception", "16": "exception", "17": "exception", "18": "exception",
    "19": "exception", "5": "in_transit", "6": "in_transit", "21": "in_transit", "7": "out_for_delivery",
    "8": "failed_attempt", "9": "in_transit", "20": "in_transit", "11": "delivered",
    "12": "available_for_pickup", "22": "delivered", "23": "in_transit", "27": "returned_to_sender",
    "28": "returned_to_sender", "31": "in_transit", "99": "unknown",
}
_RETURNED = "returned_to_sender"
NOTE_EXCEPTIONS: dict[str, str] = {
    "A22": "exception", "D41": "cancelled", "H31": "cancelled", "K90": "unknown",
    **{c: "in_transit" for c in ("A08", "A09", "A11", "A12", "A13", "A27", "A28", "A29", "A30", "A31", "A32",
                                 "A34", "A35", "A99")},
    "D08": "failed_attempt", "K92": "exception", "H10": _RETURNED,
    "J08": "failed_attempt", "J29": "failed_attempt", "K14": "failed_attempt", "K70": "failed_attempt",
    "J94": "failed_attempt", "H35": _RETURNED,
    "Y16": _RETURNED, "Y18": _RETURNED, "Y19": _RETURNED, "Y20": _RETURNED, "Y21": _RETURNED,
    "Y40": _RETURNED, "K43": _RETURNED, "Y71": "exception",
    "Y29": "exception", "X66": "exception", "I07": _RETURNED, "J63": _RETURNED, "J23": "available_for_pickup",
    "H15": _RETURNED, "H17": _RETURNED, "H18": _RETURNED, "Y47": _RETURNED, "Y45": "exception",
    "H30": "cancelled",
}
# trackstream's documented judgment where the status option contradicts the event text.
JUDGMENT: dict[str, str] = {
    "R06": "cancelled", "K30": "exception", "K91": "exception", "K15": "exception",
    "X19": "in_transit", "J45": "in_transit", "J47": "in_transit", "X04": "in_transit", "X03": "in_transit",
    "J39": "in_transit", "J95": "in_transit", "H32": "in_transit", "T02": "in_transit",
    "J41": "failed_attempt", "J42": "failed_attempt", "J48": "failed_attempt",
    "Y26": "available_for_pickup", "X24": _RETURNED,
    # status option 99 ("not applicable"), judged one by one from the text
    "A41": "in_transit", "A46": _RETURNED, "A73": "in_transit", "A94": "in_transit", "B06": "in_transit",
    "C02": "in_transit", "J56": "pre_transit", "J80": "in_transit", "K25": "in_transit",
    "K71": "failed_attempt", "P20": "failed_attempt", "P21": "failed_attempt", "P22": "failed_attempt",
    "P23": "failed_attempt", "P24": "failed_attempt", "Q14": "in_transit", "Q16": "in_transit",
    "Q17": "in_transit", "Q18": "in_transit", "Q19": "in_transit", "X16": "in_transit", "X52": "in_transit",
    "Y46": "in_transit", "Y48": "exception", "Y64": "in_transit", "Y65": "in_transit", "Y66": "in_transit",
}


def expected_event_status(code: str, option: str) -> str:
    if code in NOTE_EXCEPTIONS:
        return NOTE_EXCEPTIONS[code]
    if code in JUDGMENT:
        return JUDGMENT[code]
    if option == "8" and code.startswith("H"):  # H01-H52 in "not delivered": returns
        return _RETURNED
    return BY_STATUS[option]


_load = json_loader(SAMPLES)


def parse(payload: bytes | Any) -> list[TrackingEvent]:
    return postnl.parse(as_payload(payload), {}, RECEIVED)


# --- samples ------------------------------------------------------------------------------------


def test_out_for_delivery_sample() -> None:
    events = parse((SAMPLES / OUT_FOR_DELIVERY).read_bytes())
    assert [e.code for e in events] == ["J05", "J01", "B01", "A01"]  # payload order: newest first
    assert [e.status for e in events] == ["out_for_delivery", "in_transit", "in_transit", "pre_transit"]
    assert [e.occurred_at for e in events] == [
        utc(2022, 11, 8, 9, 13, 20), utc(2022, 11, 8, 8, 58, 11), utc(2022, 11, 7, 23, 8, 39),
        utc(2022, 11, 7, 18, 19, 31),
    ]
    assert events[0].local_time == "08-11-2022 10:13:20"
    assert {e.tracking_number for e in events} == {"3SDEVC288882229"}
    # no country on the events; sender and receiver addresses both in NL: the shipment's country
    assert all(e.tz_source == TZ_SHIPMENT_COUNTRY and e.source == "poll" and e.mapped for e in events)
    assert events[0].location == Location(code="171966")
    assert events[3].location is None  # 888888: unknown location
    assert events[0].description == "Driver is en route"
    attrs = events[0].attributes
    assert attrs["main_barcode"] == "3SDEVC288882229"
    assert attrs["reference"] == "202213331635095807"
    assert attrs["product_code"] == "002285"
    assert (attrs["recipient_postcode"], attrs["recipient_country"]) == ("3571ZZ", "NL")
    assert (attrs["eta_from"], attrs["eta_to"]) == ("2022-11-08T13:50:00Z", "2022-11-08T15:50:00Z")
    assert attrs["route_name"] == "0444 Spijkenisse 12"
    assert "route_name" not in events[3].attributes  # "string" placeholder dropped
    assert events[0].event_id == derive_event_id("postnl", "3SDEVC288882229", events[0].occurred_at, "J05")


def test_multi_collo_complete_status_sample() -> None:
    events = parse((SAMPLES / COMPLETE).read_bytes())
    assert [(e.tracking_number, e.code) for e in events] == [
        ("3SDEVC5672025", "status:13"), ("3SDEVC5672025", "A01"),
        ("3SDEVC7755088", "status:13"), ("3SDEVC7755088", "A01"),
    ]
    assert {e.attributes["main_barcode"] for e in events} == {"3SDEVC7755088"}
    assert [e.status for e in events] == ["pre_transit"] * 4
    assert events[0].occurred_at == utc(2022, 11, 8, 3, 15)
    assert events[1].occurred_at == utc(2022, 11, 7, 11, 36, 41)
    assert events[3].occurred_at == utc(2022, 11, 7, 11, 35, 44)
    assert events[1].description == "Pakket is nog niet door PostNL ontvangen of verwerkt"
    assert events[1].location is None
    assert "reference" not in events[1].attributes  # sandbox placeholder "string"
    assert events[1].attributes["shipment_counter"] == "2"


def test_updatedshipments_sample() -> None:
    events = parse((SAMPLES / UPDATED).read_bytes())
    assert [(e.tracking_number, e.code, e.status) for e in events] == [
        ("3SDEVC2260332157", "status:5", "in_transit"), ("3SDEVC775533088", "status:13", "pre_transit"),
        ("3SDEVC563372025", "status:13", "pre_transit"), ("3SDEVC336510881", "status:1", "pre_transit"),
    ]
    assert events[0].occurred_at == utc(2022, 11, 8, 1, 17, 49)
    assert (events[0].local_time, events[0].tz_source) == ("2022-11-08T02:17:49", TZ_ASSUMED)  # no address
    assert events[0].description == "Zending gesorteerd"
    assert events[0].attributes["customer_number"] == "11223344"


def test_same_status_via_both_endpoints_has_one_id() -> None:
    complete = [e for e in parse((SAMPLES / COMPLETE).read_bytes()) if e.code == "status:13"]
    updated = {
        "Barcode": "3SDEVC7755088",
        "Status": {"Timestamp": "2022-11-08T04:15:00", "StatusCode": "13", "StatusDescription": "x"},
    }
    [event] = parse([updated])
    assert event.event_id in {e.event_id for e in complete}


def test_empty_updatedshipments_window() -> None:
    assert parse(b"[]") == []


def test_current_status_with_single_objects() -> None:
    body = _load(OUT_FOR_DELIVERY)
    shipment = body["CompleteStatus"]["Shipment"]
    shipment["Event"] = shipment["Event"][0]
    events = parse({"CurrentStatus": {"Shipment": shipment}})
    assert [e.code for e in events] == ["J05"]


def test_shipment_without_events_uses_status_rows() -> None:
    body = _load(OUT_FOR_DELIVERY)
    del body["CompleteStatus"]["Shipment"]["Event"]
    events = parse(body)
    assert [e.code for e in events] == ["status:7", "status:5", "status:2", "status:1"]  # 99 rows skipped
    assert [e.status for e in events] == ["out_for_delivery", "in_transit", "in_transit", "pre_transit"]


def test_sample_ids_are_deterministic_and_ignore_free_text() -> None:
    first = parse((SAMPLES / OUT_FOR_DELIVERY).read_bytes())
    body = _load(OUT_FOR_DELIVERY)
    for event in body["CompleteStatus"]["Shipment"]["Event"]:
        event["LocationCode"] = "999999"
        event["RouteName"] = "renamed route"
        event["Description"] = "Anders verwoord"
    second = parse(body)
    assert [e.event_id for e in first] == [e.event_id for e in second]
    again = parse((SAMPLES / OUT_FOR_DELIVERY).read_bytes())
    assert [e.event_id for e in first] == [e.event_id for e in again]


# --- code tables --------------------------------------------------------------------------------


def test_event_table_has_exactly_the_reference_codes() -> None:
    table = load_mapping_file("postnl.json")["event_codes"]
    assert set(table) == {row["event_code"] for row in EVENT_ROWS}
    assert len(EVENT_ROWS) == 288  # J23 is listed under two status options


def test_expected_exceptions_are_real_codes() -> None:
    codes = {row["event_code"] for row in EVENT_ROWS}
    assert set(NOTE_EXCEPTIONS) <= codes
    assert set(JUDGMENT) <= codes


@pytest.mark.parametrize("row", EVENT_ROWS, ids=lambda r: f"{r['event_code']}-{r['status_option'][:2]}")
def test_every_event_code(row: dict[str, str]) -> None:
    option = str(int(row["status_option"].split(",")[0]))
    mapping = postnl.map_event_code(row["event_code"])
    assert mapping is not None
    assert mapping.status == expected_event_status(row["event_code"], option)


STATUS_CODES = [row["status_code"] for row in STATUS_ROWS] + ["27", "28", "31"]


@pytest.mark.parametrize("code", STATUS_CODES)
def test_every_status_code(code: str) -> None:
    mapping = postnl.map_status_code(code)
    assert mapping is not None and mapping.status == BY_STATUS[code]


def test_status_table_size() -> None:
    assert len(STATUS_ROWS) == 23
    assert set(load_mapping_file("postnl.json")["status_codes"]) == set(BY_STATUS)


def test_unknown_event_code_falls_back_to_status_at_same_instant() -> None:
    body = _load(OUT_FOR_DELIVERY)
    body["CompleteStatus"]["Shipment"]["Event"][1]["Code"] = "Z99"  # at 09:58:11, status 5 then
    events = parse(body)
    assert (events[1].code, events[1].status, events[1].mapped) == ("Z99", "in_transit", True)
    assert events[1].attributes["mapping_layer"] == "status_code"
    assert events[1].attributes["status_code"] == "5"


def test_unknown_event_code_without_status_is_unmapped() -> None:
    body = _load(OUT_FOR_DELIVERY)
    event = body["CompleteStatus"]["Shipment"]["Event"][1]
    event.update({"Code": "Z99", "TimeStamp": "08-11-2022 09:59:00", "Description": "Nieuw"})
    events = parse(body)
    assert (events[1].code, events[1].description) == ("Z99", "Nieuw")
    assert (events[1].status, events[1].substatus, events[1].mapped) == ("unknown", "unmapped_code", False)


def test_unknown_status_code_in_updatedshipments_is_unmapped() -> None:
    [event] = parse([{"Barcode": "3S1", "Status": {"Timestamp": "2022-11-08T02:17:49", "StatusCode": "77"}}])
    assert (event.code, event.status, event.mapped) == ("status:77", "unknown", False)


# --- time ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("08-11-2022 10:13:20", utc(2022, 11, 8, 9, 13, 20)),  # CET, UTC+1
        ("15-07-2022 10:13:20", utc(2022, 7, 15, 8, 13, 20)),  # CEST, UTC+2
        ("07-11-2022 12:39:49.364", utc(2022, 11, 7, 11, 39, 49, 364000)),  # milliseconds
        ("2022-11-08T02:17:49", utc(2022, 11, 8, 1, 17, 49)),  # ISO without offset, winter
        ("2022-07-08T02:17:49", utc(2022, 7, 8, 0, 17, 49)),  # ISO without offset, summer
        ("2022-07-08T02:17:49.5", utc(2022, 7, 8, 0, 17, 49, 500000)),
        # spring forward, last Sunday of March (2022-03-27, 2023-03-26): 02:00 CET -> 03:00 CEST
        ("27-03-2022 01:59:59", utc(2022, 3, 27, 0, 59, 59)),
        ("27-03-2022 03:00:00", utc(2022, 3, 27, 1, 0, 0)),
        ("27-03-2022 02:30:00", utc(2022, 3, 27, 1, 30, 0)),  # does not exist: read with the CET offset
        ("26-03-2023 12:00:00", utc(2023, 3, 26, 10, 0, 0)),
        ("25-03-2023 12:00:00", utc(2023, 3, 25, 11, 0, 0)),
        # fall back, last Sunday of October (2022-10-30, 2023-10-29): 03:00 CEST -> 02:00 CET
        ("30-10-2022 01:59:59", utc(2022, 10, 29, 23, 59, 59)),
        ("30-10-2022 02:30:00", utc(2022, 10, 30, 0, 30, 0)),  # ambiguous: first (CEST) occurrence
        ("30-10-2022 03:00:00", utc(2022, 10, 30, 2, 0, 0)),
        ("29-10-2023 12:00:00", utc(2023, 10, 29, 11, 0, 0)),
        ("28-10-2023 12:00:00", utc(2023, 10, 28, 10, 0, 0)),
    ],
)
def test_local_time_rules(text: str, expected: datetime) -> None:
    instant, source = postnl.parse_timestamp(text)
    assert (instant, source) == (expected, TZ_ASSUMED)
    assert instant.utcoffset() is not None and instant.utcoffset() == expected.utcoffset()


def test_iso_with_offset_is_given() -> None:
    assert postnl.parse_timestamp("2022-11-08T02:17:49+01:00") == (utc(2022, 11, 8, 1, 17, 49), TZ_GIVEN)


@pytest.mark.parametrize("text", ["", "8-11-22", "31-02-2022 10:00:00", "2022-13-01T00:00:00", "tomorrow"])
def test_unreadable_timestamps(text: str) -> None:
    with pytest.raises(PayloadError):
        postnl.parse_timestamp(text)


def test_unreadable_event_timestamp_rejects_payload() -> None:
    body = _load(OUT_FOR_DELIVERY)
    body["CompleteStatus"]["Shipment"]["Event"][2]["TimeStamp"] = "gisteren"
    with pytest.raises(PayloadError, match=r"Event\[2\]"):
        parse(body)


# --- errors and malformed input -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "not_found"),
    [
        ({"fault": {"faultstring": "Invalid ApiKey", "detail": {"errorcode": "InvalidApiKey"}}}, False),
        ({"Errors": [{"ErrorMsg": "Barcode not found", "ErrorNumber": "13"}]}, True),
        ({"Warnings": [{"Code": "4", "Description": "No shipment found"}]}, True),
        ({"CompleteStatus": {"Shipment": []}}, True),
        ({"CurrentStatus": {}}, True),
    ],
)
def test_carrier_error_answers(body: dict[str, Any], not_found: bool) -> None:
    with pytest.raises(CarrierErrorResponse) as caught:
        parse(body)
    assert caught.value.not_found is not_found


@pytest.mark.parametrize(
    "payload",
    [b"", b"\n", b"<xml/>", b"{}", b"42", b"null", b"[1]", b'[{"Barcode": "x"}]',
     b'[{"Barcode": "", "Status": {"Timestamp": "2022-11-08T02:17:49", "StatusCode": "5"}}]',
     b'{"CompleteStatus": []}', b'{"CompleteStatus": {"Shipment": 5}}',
     b'{"CompleteStatus": {"Shipment": {"Barcode": "3S1", "Event": {"TimeStamp": "08-11-2022 10:13:20"}}}}',
     b'{"CompleteStatus": {"Shipment": {"Barcode": "3S1", "Event": {"Code": "A01"}}}}'],
)
def test_malformed_payloads(payload: bytes) -> None:
    with pytest.raises(PayloadError):
        parse(payload)


@pytest.mark.parametrize("name", [OUT_FOR_DELIVERY, COMPLETE, UPDATED])
def test_truncated_samples(name: str) -> None:
    payload = (SAMPLES / name).read_bytes()
    assert_prefixes_raise(parse, payload, cuts(payload, 40, end=len(payload) - 2))


test_arbitrary_bytes_only_raise_parse_errors = arbitrary_bytes_test(parse, max_examples=200)


test_arbitrary_json_only_raises_parse_errors = arbitrary_json_test(parse, max_examples=300)


test_mutated_samples_only_raise_parse_errors = mutated_samples_test(
    parse, _load, [OUT_FOR_DELIVERY, COMPLETE, UPDATED], max_examples=400
)
