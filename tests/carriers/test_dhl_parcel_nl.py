from __future__ import annotations

import copy
import csv
import json
from datetime import datetime
from typing import Any

import pytest

from carriers import dhl_parcel_nl
from carriers.base import CarrierErrorResponse, PayloadError, SignatureError, load_mapping_file
from schemas.events import (
    TZ_ASSUMED,
    TZ_COUNTRY,
    TZ_GIVEN,
    TZ_SHIPMENT_COUNTRY,
    Location,
    TrackingEvent,
    derive_event_id,
)
from schemas.taxonomy import ALL_SUBSTATUSES
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

SAMPLES = carrier_samples("dhl_parcel_nl")
UNIFIED = "unified-tracking-api-shipments-response-doc-example.json"
NOT_FOUND = "unified-tracking-api-not-found-response.json"
CSV_NAME = "dhl-unified-status-codes-parcel-nl.csv"

with (SAMPLES / CSV_NAME).open(newline="", encoding="utf-8") as _fh:
    CSV_ROWS = list(csv.DictReader(_fh, delimiter=";"))

_RTS = "returned_to_sender"

# Expected statuses, written from DHL's status descriptions (and trackstream's judgment)
# independently of mappings/dhl_parcel_nl.json. Explicit rows first (the pitfalls), then name rules,
# then the remaining codes listed per status.
TRICKY: dict[str, str] = {
    "DELIVERED_AT_PARCELSHOP": "in_transit",  # "INTERNAL EVENT - Parcel not ready for collection"
    "DELIVERED_AT_PARCELSTATION": "available_for_pickup",
    "DELIVERED_AT_ACCESSPOINT": "available_for_pickup",
    "DELIVERED_AT_SHIPPER": _RTS,
    "DELIVERED_AT_DEPOT": "in_transit",
    "COLLECTED_AT_NEIGHBOUR": "in_transit",  # picked up at the neighbours by the courier
    "COLLECTED_AT_PARCELSHOP": "delivered",
    "COLLECTED_AT_PARCELSTATION": "delivered",
    "COLLECTED_AT_ACCESSPOINT": "delivered",
    "SHIPMENT_COLLECTED": "delivered",
    "INTERVENTION_RECEIVER_REQUEST_DELIVERY_CANCELLED": _RTS,
    "INTERVENTION_REQUEST_CANCEL_INTERVENTION": _RTS,
    "INTERVENTION_REQUEST_CANCEL_INTERVENTION_SUSPECTED_FRAUD": _RTS,
    "INTERVENTION_SHIPPER_REQUEST_DELIVERY_CANCELLED": _RTS,
    "INTERVENTION_SYSTEM_FAILED_DELIVERY_AT_PARCELSHOP": "in_transit",
    "CONFIRMATION_OF_CLOSING_THE_SCAN-APPLICATION_AFTER_THE_SCAN_FOR_RETURN": "in_transit",
    "COLLECTION_ORDER_OUT_FOR_DELIVERY": "pre_transit",  # a pickup order, not a delivery
    "COLLECTION_PLANNED_IN_ROUTE": "pre_transit",
    "NOTHING_PICKED_UP_ORDER_CANCELLED": "cancelled",
    "RETURN_ORDER_CANCELLED": "cancelled",
    "REFUSED_NOT_COLLECTED": _RTS,
    "REFUSED_RETURN": _RTS,
    "REFUSED_RETURN_TO_DD": "exception",  # back to the depot, not to the shipper
    "HELD_IN_STORAGE_DAMAGED": "exception",
    "HELD_IN_STORAGE_INCOMPLETE": "exception",
    "HELD_IN_STORAGE_REFUSED": "exception",
    "ADDRESS_UNKNOWN": _RTS,  # "unknown or incorrect, return to sender"
    "POSTAL_CODE_INCORRECT": _RTS,  # "the shipment will return to the sender"
    "PO_BOX": _RTS,
    "BAD_ADDRESS_NOT_COLLECTED": "exception",
    "SIGNATURE_RECORDED": "delivered",
    "PARTIAL_DELIVERY": "delivered",
    "DELIVERED_DAMAGED": "delivered",
    "CLEARANCE_DELAY": "exception",
    "SHIPMENT_STOPPED": "exception",
    "PARCEL_WILL_BE_DELIVERED_SOON": "out_for_delivery",
    "PARCEL_INTO_FALLBACK": "out_for_delivery",
}
NOTICE = ["COD_AMOUNT_CHANGED", "DIFFERENT_STATUSES", "IMAGE_AVAILABLE", "LEG_REFERENCE_ADDED",
          "MONEY_TRANSFERED_TO_SENDER", "PARCEL_NO_DATA", "PICTURE_TAKEN_OF_PARCEL", "TRACE_TERMINATED"]
REMAINING: dict[str, list[str]] = {
    "in_transit": [
        "ADDRESS_CORRECTED_BY_DEPOT_MANAGER", "AGREED_DELIVERY", "ANNOUNCED_AT_PARCELSHOP", "ARRIVED_FACILITY",
        "BACKLOG_NOT_DELIVERED", "BONDED_LOCATION", "BREAK_BULK_SHIPMENT_PROCESSED_BY_CUSTOMS",
        "CALAMITY_SYSTEM_INTERVENTION_DELIVERY_AT_PARCELSHOP", "CLEARANCE_RELEASE", "COLLECTED", "CONFIRM_UPLIFT",
        "DELIVERY_DATE_CHANGED_BY_DEPOT_MANAGER", "DELIVERY_DATE_CHANGED_BY_DEPOT_MANAGER_REASON_CLOSED", "DEPOT_SCAN",
        "DUTY_INVOICE", "ENTRY_SUBMITTED", "FORCE_MAJEURE", "FORWARD_DESTINATION", "FORWARD_DESTINATION_TOO_LATE",
        "FORWARD_THIRD_PARTY", "FORWARD_TO_DIFFERENT_PARCELSHOP", "FORWARDED_TO_DIFFERENT_ADDRESS", "FOUND_AT_DEPOT",
        "FOUND_DURING_INVENTORY", "HANDOVER", "HELD_OUT_DEPOT", "IN_CLEARANCE_PROCESS", "IN_ROUTE_THIRD_PARTY",
        "INFORMATION_ON_DELIVERY_TRANSMITTED", "INVENTORY", "LABEL_UNUSABLE", "MANIFESTED", "MIS_ROUTED",
        "MISSED_DELIVERY_CYCLE", "MISSORT", "NOT_ARRIVED", "NOTIFICATION_OF_DELIVERY_TIME_HAS_BEEN_SENT",
        "NOTIFICATION_OF_TIME_FRAME_HAS_BEEN_SENT", "ON_HOLD", "ON_HOLD_ANNOUNCED", "PARCEL_ARRIVED_AT_LOCAL_DEPOT",
        "PARCEL_INFORMATION_REMOVED_FROM_PARCELSHOP_APPLICATION", "PARCEL_NOT_SORTED_AT_HUB_NO_INFO",
        "PARCEL_READY_FOR_RETURN_TO_HUB", "PARCEL_RECEIVED", "PARCEL_RESORTED_AT_HUB", "PARCEL_RETURNED_FROM_ROUTE",
        "PARCEL_SCANNED_FOR_RETURN_TO_HUB", "PASSED_GATEWAY", "PICKED_UP", "RECEIVER_CLOSED_ANNOUNCED",
        "RECEIVER_ON_HOLIDAY_ANNOUNCED", "RECORD_OF_TRANSIT", "RELABELED", "RESPONSE_RECEIVED", "REWEIGH",
        "ROUTE_IN_SCAN", "SCAN_OK_GATEWAY", "SCHEDULED_FOR_MOVEMENT", "SERVICE_CHANGED", "SHIPMENT_INSPECTION",
        "SHIPMENT_INSPECTION_ON_HOLD", "SHIPMENT_INSPECTION_RELEASED", "SPECIAL_HANDLING", "TRANSPORT_DELAY",
        "UNLOAD_VEHICLE", "VAT_AND_DUTY_PAYMENT_RECEIVED_BY_RECEIVER", "WILL_BE_TRANSFERRED_TO_THIRD_PARTY",
    ],
    "exception": [
        "ADDRESS_NOT_FOUND", "ARRIVED_DAMAGED", "AWAITING_PAYMENT_RECEIVER_NOTIFIED", "CLOSED_SHIPMENT",
        "CS_ACTION_REQUIRED", "DANGEROUS_GOODS_OCCURRENCE", "DATA_MISSING", "DELIVERY_DATA_INCORRECT",
        "DENIED_PARTIES", "DESTROYED", "HELD_FOR_PAYMENT", "INSUFFICIENT_DOCUMENTATION",
        "INVALID_SHIPMENT_SPECIFICATION", "MISCODE", "MISSING_AFTER_ROUTE", "ON_HOLD_BAD_ADDRESS", "PACKAGING_ISSUE",
        "PARCEL_NOT_COLLECTED_AT_PARCELSHOP", "PIECE_MISSING", "RECEIVER_MOVED_OR_UNKNOWN",
        "RECEIVER_MOVED_OR_UNKNOWN_NOT_COLLECTED", "REPACKED_DELIVERY_DAMAGED", "SHIPMENT_INSPECTION_REJECTED",
        "SHIPMENT_INTERCEPT", "TRACE_INITIATED", "UNCONTROLLABLE_CLEARANCE_DELAY",
    ],
    _RTS: [
        "EXPECTED_RETURN_DELIVERED_AT_SHIPPER_CALCULATED", "ON_ROUTE_TO_SHIPPER", "PARCEL_ALREADY_RETURNED",
        "PARCEL_SCANNED_AT_RETURN_HUB", "RETURN_DELIVERED_AT_SHIPPER_CALCULATED", "RETURNED_NOT_COLLECTED",
        "RETURNED_TO_SHIPPER",
    ],
    "pre_transit": [
        "AGREED_COLLECTION", "BACKLOG_NOT_COLLECTED", "COLLECT_AGAIN_SAME_ADDRESS", "DATA_RECEIVED_WITH_PREFIX_LABEL",
        "LEG_CREATED", "NEW_COLLECTION_ATTEMPT", "NOTHING_COLLECTED", "PARCEL_NOT_BROUGHT_IN",
        "PARCEL_OUT_OF_TIME_FOR_DROP_OFF", "PARCEL_WILL_BE_BROUGHT_IN_BY_RECEIVER", "PICKUP_DATA_RECEIVED",
        "PRENOTIFICATION_RECEIVED", "RECEIVER_CLOSED_COLLECTION_RESCHEDULED",
        "RECEIVER_CLOSED_ON_HOLIDAY_COLLECTION_RESCHEDULED", "WILL_BE_COLLECTED",
    ],
    "available_for_pickup": [
        "AWAITING_RECEIVER_COLLECTION", "CLOSED_AWAITING_COLLECTION", "DELIVERY_CODE_MISSING_PICK_UP",
        "NOTIFICATION_FOR_PARCELSHOP_COLLECTION_HAS_BEEN_SENT", "NOTIFICATION_FOR_PARCELSHOP_COLLECTION_HAS_FAILED",
        "ON_HOLD_FOR_COLLECTION", "PARCEL_FOUND_AT_PARCELSHOP", "PARCEL_HELD_FOR_COLLECTION_AT_LOCAL_DEPOT",
        "PARCELSHOP_DELIVERY_DEVIATION",
    ],
    "failed_attempt": [
        "CLOSED", "CLOSED_ON_ARRIVAL", "DELIVERY_CODE_MISSING_NEW_ATTEMPT", "ID_CHECK_UNSUCCESSFUL",
        "INCORRECT/UNKNOWN_PIN", "NEW_DELIVERY_ATTEMPT", "NOTIFICATION_NOT_HOME_TO_PARCELSHOP",
        "PARCELSTATION_NOT_AVAILABLE_REDELIVER_TO_PARCELSHOP", "RECEIVER_CLOSED_ON_HOLIDAY",
        "RECEIVER_CLOSED_PASSED_TO_DEPOT", "RECEIVER_CLOSED_PASSED_TO_PARCELSHOP", "SAFEPLACE_DELIVERY_FAILED",
    ],
    "unknown": NOTICE,
    "delivered": [
        "DELIVERED", "DELIVERED_AT_NEIGHBOURS", "DELIVERED_AT_PREFERED_NEIGHBOURS", "DELIVERED_AT_SAFEPLACE",
        "DELIVERED_IN_MAILBOX", "DELIVERED_NO_CODE_VALIDATION", "DELIVERED_NOT_IN_TIME",
    ],
    "out_for_delivery": ["DELIVERY_PLANNED_IN_ROUTE", "LOAD_VEHICLE", "OUT_FOR_DELIVERY",
                         "PARCEL_HANDED_OVER_TO_COURIER", "PARCEL_SCANNED_INTO_HAND-TERMINAL"],
}
_BY_CODE = {code: status for status, codes in REMAINING.items() for code in codes}


def expected_status(code: str) -> str:
    if code in TRICKY:
        return TRICKY[code]
    if code in _BY_CODE:
        return _BY_CODE[code]
    if code.startswith("INTERVENTION"):
        return "in_transit"  # the recipient changed the delivery
    if code.endswith("_RETURN") or "RETURN_TO_SHIPPER" in code or code.startswith("STORAGE_PERIOD_ENDED_"):
        return _RTS  # a return has started
    if code.startswith("POSTPROCESS_"):
        return _RTS
    if code.endswith(("_COLLECTION_CANCELLED", "_PICKUP_CANCELLED")):
        return "cancelled"
    if code.startswith(("BAD_ADDRESS", "PARCEL_MISSING", "REFUSED")):
        return "exception"
    if code.startswith(("REDELIVER", "NOT_HOME")) or code.endswith("_REDELIVER"):
        return "failed_attempt"
    if code.startswith(("ARRIVED_AT_", "SORTED_AT_", "DEPART", "GATEWAY_", "PARCEL_SORTED", "SHIPMENT_ACCEPTANCE",
                        "PROCESSED_AT_", "HELD_IN_STORAGE", "PARCEL_PICKED_UP_AT_", "PARCEL_SCANNED_FOR_COLLECTION_",
                        "PARCEL_COLLECTED", "SHIPMENT_TOO_LARGE_FOR_", "PREPROCESS_", "FACILITY_CHECK_", "BROKER_")):
        return "in_transit"
    if code.startswith(("NOTHING_PICKED_UP", "COLLECTION_", "PALLET_")):
        return "pre_transit"  # pickup orders: the parcel has not started moving
    if code.startswith("REMINDER_FOR_COLLECTION_"):
        return "available_for_pickup"
    raise AssertionError(f"no expectation written for {code}")


SUBSTATUS_SPOT_CHECKS: dict[str, str | None] = {
    "DELIVERED_AT_NEIGHBOURS": "delivered_neighbour", "DELIVERED_IN_MAILBOX": "delivered_mailbox",
    "COLLECTED_AT_PARCELSHOP": "collected_by_recipient", "NOT_HOME": "recipient_absent",
    "REDELIVER": "retry_next_day", "PARCEL_MISSING": "missing", "BAD_ADDRESS": "address_issue",
    "DELIVERED_DAMAGED": "damaged", "HELD_FOR_PAYMENT": "payment_issue", "DESTROYED": "destroyed",
    "CLEARANCE_DELAY": "customs_hold", "OUT_FOR_DELIVERY": "driver_en_route", "PICKED_UP": "picked_up",
    "PRENOTIFICATION_RECEIVED": "announced", "DELIVERED_AT_PARCELSTATION": "at_pickup_point",
    "REFUSED_BY_RECEIVER": "refused", "INTERVENTION_RECEIVER_REQUESTS_DELIVERY_AT_NEIGHBOURS": "recipient_choice",
}


def parse(payload: bytes | Any, headers: dict[str, str] | None = None) -> list[TrackingEvent]:
    return dhl_parcel_nl.parse(as_payload(payload), headers or {}, RECEIVED)


_load = json_loader(SAMPLES)


# Native track-trace answer, built from the documented field names (no public real sample exists);
# events newest first on purpose.
FACILITY = {"city": "Utrecht", "countryCode": "NL", "postalCode": "3542 AB", "name": "DHL Hub Utrecht"}
NATIVE: list[dict[str, Any]] = [{
    "barcode": "JVGL06123456789000001234",
    "barcodes": ["JVGL06123456789000001234", "3SABCD0001234567"],
    "isReturn": False,
    "deliveredAt": "2024-01-16T13:05:00Z",
    "plannedDeliveryTimeframe": "2024-01-16T10:00:00+01:00/2024-01-16T14:00:00+01:00",
    "events": [
        {"category": "DELIVERED", "status": "IMAGE_AVAILABLE", "timestamp": "2024-01-16T13:06:00Z"},
        {"category": "DELIVERED", "status": "DELIVERED", "timestamp": "2024-01-16T13:05:00Z",
         "localTimestamp": "2024-01-16T14:05:00+01:00"},
        {"category": "IN_DELIVERY", "status": "OUT_FOR_DELIVERY", "timestamp": "2024-01-16T07:02:11.500Z",
         "facility": FACILITY},
        {"category": "UNDERWAY", "status": "PARCEL_SORTED_AT_HUB", "timestamp": "2024-01-15T21:40:00Z",
         "localTimestamp": "2024-01-15T22:40:00+01:00", "facility": FACILITY},
        {"category": "DATA_RECEIVED", "status": "PRENOTIFICATION_RECEIVED", "timestamp": "2024-01-15T08:12:30Z"},
    ],
}]


# --- samples ------------------------------------------------------------------------------------


def test_unified_doc_example() -> None:
    [event] = parse((SAMPLES / UNIFIED).read_bytes())
    assert (event.carrier, event.tracking_number, event.source) == ("dhl_parcel_nl", "7777777770", "poll")
    # the detailed status wins over the coarse statusCode "pre-transit"
    assert (event.code, event.status, event.substatus, event.mapped) == ("DELIVERED", "delivered",
                                                                         "delivered_recipient", True)
    assert event.description == "JESSICA"
    # "2018-03-02T07:53:47" has no zone: local to the event's country (NL, CET in March)
    assert (event.occurred_at, event.tz_source, event.local_time) == (
        utc(2018, 3, 2, 6, 53, 47), TZ_COUNTRY, "2018-03-02T07:53:47")
    assert event.location == Location(city="AMSTERDAM", postcode="1043 AG", country="NL",
                                      text="Oderweg 2, AMSTERDAM")
    attrs = event.attributes
    assert attrs["service"] == "express" and attrs["status_code"] == "pre-transit"
    assert attrs["estimated_delivery"] == "2018-08-03T00:00:00Z"
    assert attrs["reference"] == "YZ3892406173" and attrs["signed_by"] == "John"
    assert attrs["pieces"] == "8" and len(attrs["piece_ids"]) == 11
    assert event.event_id == derive_event_id("dhl_parcel_nl", "7777777770", event.occurred_at, "DELIVERED")


def test_unified_not_found_sample() -> None:
    with pytest.raises(CarrierErrorResponse) as caught:
        parse((SAMPLES / NOT_FOUND).read_bytes())
    assert caught.value.not_found is True
    assert caught.value.tracking_number == "8264715546"
    assert "No shipment with given tracking number found" in str(caught.value)


# --- code table: every CSV row ------------------------------------------------------------------


def test_csv_and_table_have_the_same_352_codes() -> None:
    table = load_mapping_file("dhl_parcel_nl.json")["status_codes"]
    assert len(CSV_ROWS) == 352
    assert {row["Service"] for row in CSV_ROWS} == {"parcel-nl"}
    assert set(table) == {row["Status"] for row in CSV_ROWS}


def test_expectation_lists_are_real_codes() -> None:
    codes = {row["Status"] for row in CSV_ROWS}
    assert set(TRICKY) <= codes and set(_BY_CODE) <= codes
    assert set(TRICKY).isdisjoint(_BY_CODE)


@pytest.mark.parametrize("row", CSV_ROWS, ids=lambda r: r["Status"])
def test_every_status_code(row: dict[str, str]) -> None:
    mapping = dhl_parcel_nl.map_status(row["Status"])
    assert mapping is not None
    assert mapping.status == expected_status(row["Status"]), row["Description"]
    assert mapping.substatus is None or mapping.substatus in ALL_SUBSTATUSES


@pytest.mark.parametrize(("code", "substatus"), sorted(SUBSTATUS_SPOT_CHECKS.items()))
def test_substatus_spot_checks(code: str, substatus: str | None) -> None:
    mapping = dhl_parcel_nl.map_status(code)
    assert mapping is not None and mapping.substatus == substatus


def test_notice_codes_are_the_unknown_rows() -> None:
    assert sorted(load_mapping_file("dhl_parcel_nl.json")["notice_codes"]) == sorted(NOTICE)


@pytest.mark.parametrize(("category", "status"), [
    ("DATA_RECEIVED", "pre_transit"), ("LEG", "pre_transit"), ("UNDERWAY", "in_transit"),
    ("CUSTOMS", "in_transit"), ("INTERVENTION", "in_transit"), ("IN_DELIVERY", "out_for_delivery"),
    ("DELIVERED", "delivered"), ("EXCEPTION", "exception"), ("PROBLEM", "exception"), ("UNKNOWN", "unknown"),
])
def test_every_category(category: str, status: str) -> None:
    mapping = dhl_parcel_nl.map_category(category)
    assert mapping is not None and mapping.status == status


@pytest.mark.parametrize(("code", "status"), [
    ("pre-transit", "pre_transit"), ("transit", "in_transit"), ("delivered", "delivered"),
    ("failure", "exception"), ("unknown", "unknown"),
])
def test_every_unified_status_code(code: str, status: str) -> None:
    mapping = dhl_parcel_nl.map_unified(code)
    assert mapping is not None and mapping.status == status


# --- native track-trace -------------------------------------------------------------------------


def test_native_parcel() -> None:
    events = parse(NATIVE)
    assert [e.code for e in events] == ["PRENOTIFICATION_RECEIVED", "PARCEL_SORTED_AT_HUB", "OUT_FOR_DELIVERY",
                                        "DELIVERED", "IMAGE_AVAILABLE"]  # oldest first
    assert [e.status for e in events] == ["pre_transit", "in_transit", "out_for_delivery", "delivered", "delivered"]
    assert events[4].attributes["status_from"] == "DELIVERED"  # notice after delivery stays delivered
    assert {e.tracking_number for e in events} == {"JVGL06123456789000001234"}
    assert [e.occurred_at for e in events] == [
        utc(2024, 1, 15, 8, 12, 30), utc(2024, 1, 15, 21, 40), utc(2024, 1, 16, 7, 2, 11, 500000),
        utc(2024, 1, 16, 13, 5), utc(2024, 1, 16, 13, 6),
    ]
    assert all(e.tz_source == TZ_GIVEN and e.source == "poll" and e.mapped for e in events)
    assert events[1].local_time == "2024-01-15T22:40:00+01:00"  # localTimestamp kept for display
    assert events[0].local_time == "2024-01-15T08:12:30Z"
    assert events[1].location == Location(city="Utrecht", postcode="3542 AB", country="NL", text="DHL Hub Utrecht")
    attrs = events[0].attributes
    assert attrs["barcodes"] == ["3SABCD0001234567"]
    assert attrs["delivered_at"] == "2024-01-16T13:05:00Z"
    assert (attrs["planned_delivery_from"], attrs["planned_delivery_to"]) == ("2024-01-16T09:00:00Z",
                                                                              "2024-01-16T13:00:00Z")
    assert attrs["category"] == "DATA_RECEIVED" and "mapping_layer" not in attrs


def test_requested_alias_becomes_the_tracking_number() -> None:
    events = parse(NATIVE, {"x-trackstream-tracking-number": "3sabcd 0001234567"})
    assert {e.tracking_number for e in events} == {"3SABCD0001234567"}
    assert events[0].attributes["barcodes"] == ["JVGL06123456789000001234"]
    other = parse(NATIVE, {"X-Trackstream-Tracking-Number": "UNRELATED1"})  # not an alias: the barcode
    assert {e.tracking_number for e in other} == {"JVGL06123456789000001234"}


def test_single_object_and_several_parcels() -> None:
    second = copy.deepcopy(NATIVE[0])
    second["barcode"], second["barcodes"] = "JVGL0999", []
    events = parse([NATIVE[0], second])
    assert [e.tracking_number for e in events].count("JVGL0999") == 5
    assert len(parse(NATIVE[0])) == 5


@pytest.mark.parametrize("flag", [{"isReturn": True}, {"type": "RETOUR"}])
def test_delivered_on_a_return_parcel_is_returned_to_sender(flag: dict[str, Any]) -> None:
    body = copy.deepcopy(NATIVE)
    body[0].update(flag)
    events = parse(body)
    delivered = next(e for e in events if e.code == "DELIVERED")
    assert delivered.status == "returned_to_sender" and delivered.attributes["return_delivered"] is True
    assert events[-1].status == "returned_to_sender"  # the notice follows it
    assert events[0].attributes["is_return"] is True


def test_delivered_at_parcelshop_is_not_delivered() -> None:
    body = copy.deepcopy(NATIVE)
    body[0]["events"] = [{"category": "DELIVERED", "status": "DELIVERED_AT_PARCELSHOP",
                          "timestamp": "2024-01-16T09:00:00Z"}]
    [event] = parse(body)
    assert event.status == "in_transit" and event.code == "DELIVERED_AT_PARCELSHOP"


def test_notice_alone_stays_unknown_but_mapped() -> None:
    body = copy.deepcopy(NATIVE)
    body[0]["events"] = [{"status": "IMAGE_AVAILABLE", "timestamp": "2024-01-16T09:00:00Z"}]
    [event] = parse(body)
    assert (event.status, event.mapped, "status_from" in event.attributes) == ("unknown", True, False)


def test_unknown_status_falls_back_to_category_then_unmapped() -> None:
    body = copy.deepcopy(NATIVE)
    body[0]["events"] = [
        {"category": "UNDERWAY", "status": "BRAND_NEW_CODE", "timestamp": "2024-01-16T09:00:00Z"},
        {"category": "NEW_CATEGORY", "status": "OTHER_NEW_CODE", "timestamp": "2024-01-16T10:00:00Z"},
        {"category": "IN_DELIVERY", "timestamp": "2024-01-16T11:00:00Z"},
    ]
    first, second, third = parse(body)
    assert (first.code, first.status, first.mapped) == ("BRAND_NEW_CODE", "in_transit", True)
    assert first.attributes["mapping_layer"] == "category"
    assert (second.code, second.status, second.substatus, second.mapped) == (
        "OTHER_NEW_CODE", "unknown", "unmapped_code", False)
    assert (third.code, third.status) == ("IN_DELIVERY", "out_for_delivery")


def test_view_phases_shape() -> None:
    body = [{"barcode": "JX1", "view": {"phases": [
        {"phase": "DELIVERED", "events": [{"timestamp": "2026-06-24T17:23:13Z", "key": "DELIVERED"}]},
        {"phase": "UNDERWAY", "events": [{"timestamp": "2026-06-24T12:18:34Z", "key": "NEW_UNDERWAY_CODE"}]},
    ]}}]
    first, second = parse(body)
    assert (first.code, first.status, first.attributes["category"]) == ("NEW_UNDERWAY_CODE", "in_transit", "UNDERWAY")
    assert (second.code, second.status) == ("DELIVERED", "delivered")


@pytest.mark.parametrize("payload", [
    b"[]", b"No parcel found for the given key(s)", b'"No parcel found for the given key(s)"',
    b'{"message": "No parcel found for the given key(s)"}', b'{"shipments": []}',
])
def test_native_not_found_answers(payload: bytes) -> None:
    with pytest.raises(CarrierErrorResponse) as caught:
        parse(payload)
    assert caught.value.not_found is True


def test_other_problem_is_not_not_found() -> None:
    with pytest.raises(CarrierErrorResponse) as caught:
        parse({"title": "Unauthorized", "detail": "Invalid API key", "status": 401})
    assert caught.value.not_found is False


# --- time ---------------------------------------------------------------------------------------


def _unified_event(timestamp: str, country: str | None) -> dict[str, Any]:
    body: dict[str, Any] = _load(UNIFIED)
    event = body["shipments"][0]["events"][0]
    event["timestamp"] = timestamp
    if country is None:
        del event["location"]
    else:
        event["location"]["address"]["countryCode"] = country
    return body


@pytest.mark.parametrize(("timestamp", "country", "expected", "source"), [
    ("2024-01-10T10:00:00", "NL", utc(2024, 1, 10, 9), TZ_COUNTRY),  # CET
    ("2024-07-10T10:00:00", "NL", utc(2024, 7, 10, 8), TZ_COUNTRY),  # CEST
    ("2024-03-31T01:59:59", "NL", utc(2024, 3, 31, 0, 59, 59), TZ_COUNTRY),  # before spring forward
    ("2024-03-31T03:00:00", "NL", utc(2024, 3, 31, 1), TZ_COUNTRY),  # after spring forward
    ("2024-03-31T02:30:00", "NL", utc(2024, 3, 31, 1, 30), TZ_COUNTRY),  # non-existent: CET offset
    ("2024-10-27T02:30:00", "NL", utc(2024, 10, 27, 0, 30), TZ_COUNTRY),  # ambiguous: first (CEST)
    ("2024-10-27T03:00:00", "NL", utc(2024, 10, 27, 2), TZ_COUNTRY),
    ("2024-07-10T10:00:00", "BE", utc(2024, 7, 10, 8), TZ_COUNTRY),
    ("2024-07-10T10:00:00", "GB", utc(2024, 7, 10, 9), TZ_COUNTRY),  # BST
    ("2024-01-10T10:00:00", "GB", utc(2024, 1, 10, 10), TZ_COUNTRY),
    ("2024-07-10T10:00:00", None, utc(2024, 7, 10, 8), TZ_SHIPMENT_COUNTRY),  # no location: NL → NL
    ("2024-07-10T10:00:00", "XX", utc(2024, 7, 10, 8), TZ_ASSUMED),  # unknown country: Amsterdam
    ("2024-07-10T10:00:00Z", "GB", utc(2024, 7, 10, 10), TZ_GIVEN),
    ("2024-07-10T10:00:00+02:00", None, utc(2024, 7, 10, 8), TZ_GIVEN),
    ("2024-07-10T10:00:00.250-04:00", "NL", utc(2024, 7, 10, 14, 0, 0, 250000), TZ_GIVEN),
])
def test_timestamp_rules(timestamp: str, country: str | None, expected: datetime, source: str) -> None:
    [event] = parse(_unified_event(timestamp, country))
    assert (event.occurred_at, event.tz_source, event.local_time) == (expected, source, timestamp)


def test_native_local_timestamp_used_when_timestamp_missing() -> None:
    body = copy.deepcopy(NATIVE)
    body[0]["events"] = [{"status": "DELIVERED", "localTimestamp": "2024-04-03T13:00:00+02:00"}]
    [event] = parse(body)
    assert (event.occurred_at, event.tz_source) == (utc(2024, 4, 3, 11), TZ_GIVEN)


def test_native_naive_timestamp_uses_facility_country() -> None:
    body = copy.deepcopy(NATIVE)
    body[0]["events"] = [
        {"status": "DEPOT_SCAN", "timestamp": "2024-08-01T10:00:00", "facility": {"city": "Luik", "countryCode": "BE"}},
        {"status": "DEPOT_SCAN", "timestamp": "2024-12-01T10:00:00"},
    ]
    first, second = parse(body)
    assert (first.occurred_at, first.tz_source) == (utc(2024, 8, 1, 8), TZ_COUNTRY)
    assert (second.occurred_at, second.tz_source) == (utc(2024, 12, 1, 9), TZ_ASSUMED)


# --- ids ----------------------------------------------------------------------------------------


def test_ids_are_deterministic_and_ignore_location_text() -> None:
    first = parse(NATIVE)
    assert [e.event_id for e in first] == [e.event_id for e in parse(NATIVE)]
    body = copy.deepcopy(NATIVE)
    for event in body[0]["events"]:
        event["facility"] = {"city": "Elders", "countryCode": "NL", "name": "renamed"}
    assert [e.event_id for e in first] == [e.event_id for e in parse(body)]
    unified = _load(UNIFIED)
    unified["shipments"][0]["events"][0]["location"]["address"]["addressLocality"] = "Elders, AMSTERDAM"
    assert parse(unified)[0].event_id == parse((SAMPLES / UNIFIED).read_bytes())[0].event_id
    assert len({e.event_id for e in first}) == len(first)


def test_free_text_status_is_not_used_as_code() -> None:
    body = _unified_event("2024-07-10T10:00:00Z", "NL")
    body["shipments"][0]["events"][0]["status"] = "Processed at AMSTERDAM - NETHERLANDS"
    body["shipments"][0]["events"][0]["statusCode"] = "transit"
    [event] = parse(body)
    assert (event.code, event.status, event.attributes["mapping_layer"]) == ("transit", "in_transit",
                                                                             "unified_status_code")


def test_shipment_status_used_when_no_events() -> None:
    body = _load(UNIFIED)
    body["shipments"][0]["events"] = []
    [event] = parse(body)
    assert (event.occurred_at, event.tz_source) == (utc(2018, 3, 2, 7, 53, 47), TZ_GIVEN)


# --- malformed input ----------------------------------------------------------------------------


@pytest.mark.parametrize("payload", [
    b"", b"  ", b"<xml/>", b"{}", b"42", b"null", b"[1]", b'[{"events": []}]', b'"hello"', b"\xff\xfe",
    b'[{"barcode": "JX1", "events": [{"timestamp": "2024-01-01T00:00:00Z"}]}]',
    b'[{"barcode": "JX1", "events": [{"status": "DELIVERED"}]}]',
    b'[{"barcode": "JX1", "events": [{"status": "DELIVERED", "timestamp": "yesterday"}]}]',
    b'[{"barcode": "JX1", "events": "DELIVERED"}]',
    b'{"shipments": [{"events": []}]}', b'{"shipments": [5]}',
    b'{"shipments": [{"id": "1", "events": [{"status": "DELIVERED"}]}]}',
])
def test_malformed_payloads(payload: bytes) -> None:
    with pytest.raises(PayloadError):
        parse(payload)


@pytest.mark.parametrize("name", [UNIFIED, NOT_FOUND, "native"])
def test_truncated_samples(name: str) -> None:
    payload = json.dumps(NATIVE).encode() if name == "native" else (SAMPLES / name).read_bytes()
    assert_prefixes_raise(parse, payload, cuts(payload, 60, end=len(payload) - 2))


test_arbitrary_bytes_only_raise_parse_errors = arbitrary_bytes_test(parse, max_examples=200)


test_arbitrary_json_only_raises_parse_errors = arbitrary_json_test(parse, max_examples=200)


def _base(name: str) -> Any:
    return copy.deepcopy(NATIVE) if name == "native" else _load(name)


test_mutated_payloads_only_raise_parse_errors = mutated_samples_test(
    parse, _base, [UNIFIED, "native"], max_examples=200
)


# --- push (Track & Trace Pusher) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "count"),
    [
        (NATIVE, 5),  # an array of parcels, as the track-trace endpoint answers
        (NATIVE[0], 5),  # one parcel object
        ({"shipments": [{"id": "3SABCD0001234567", "service": "parcel-nl", "events": [
            {"timestamp": "2024-01-16T13:05:00Z", "statusCode": "delivered", "status": "DELIVERED"}]}]}, 1),
    ],
)
def test_pushed_payloads_are_webhook_events_with_the_polled_ids(payload: Any, count: int) -> None:
    pushed = parse(payload, {"source": "webhook", "content-type": "application/json"})
    polled = parse(payload)
    assert len(pushed) == count
    assert {e.source for e in pushed} == {"webhook"}
    assert {e.source for e in polled} == {"poll"}
    assert [(e.event_id, e.status, e.occurred_at) for e in pushed] == [
        (e.event_id, e.status, e.occurred_at) for e in polled]


def test_other_sources_stay_poll() -> None:
    for source in ("poll", "feed", "bench", "WEBHOOK "):
        assert {e.source for e in parse(NATIVE, {"source": source})} == {"poll"}, source


@pytest.mark.parametrize(
    ("headers", "ok"),
    [
        ({"X-API-Key": "pusher-key"}, True),
        ({"x-api-key": "pusher-key"}, True),
        ({"X-API-Key": "  pusher-key "}, True),
        ({}, False),
        ({"X-API-Key": ""}, False),
        ({"X-API-Key": "pusher-ke"}, False),
        ({"X-API-Key": "pusher-key2"}, False),
        ({"Authorization": "Bearer pusher-key"}, False),
        ({"itx-apiKey": "pusher-key"}, False),
    ],
)
def test_pusher_api_key(headers: dict[str, str], ok: bool) -> None:
    if ok:
        dhl_parcel_nl.verify_webhook(b"[]", headers, "pusher-key")
    else:
        with pytest.raises(SignatureError):
            dhl_parcel_nl.verify_webhook(b"[]", headers, "pusher-key")


def test_pusher_without_configured_key_refuses() -> None:
    with pytest.raises(SignatureError, match="configured"):
        dhl_parcel_nl.verify_webhook(b"[]", {"X-API-Key": ""}, "")
