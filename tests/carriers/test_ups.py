from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import strategies as st

from carriers import ups
from carriers.base import CarrierErrorResponse, PayloadError, SignatureError, load_mapping_file
from carriers.zones import Place
from schemas.events import TZ_ASSUMED, TZ_COUNTRY, TZ_GIVEN, TZ_LOCATION, Location, TrackingEvent, derive_event_id
from schemas.taxonomy import ALL_STATUSES
from tests.carriers.properties import (
    RECEIVED,
    arbitrary_bytes_test,
    arbitrary_json_test,
    as_payload,
    assert_prefixes_raise,
    carrier_samples,
    check_event,
    cuts,
    json_loader,
    mutated_samples_test,
    utc,
)

SAMPLES = carrier_samples("ups")
CIE = "track-alert-webhook-delivered-cie.json"
HOOK_DELIVERED = "track-alert-webhook-delivered-doc-example.json"
HOOK_OFD = "track-alert-webhook-out-for-delivery-doc-example.json"
DETAILS = "track-v1-details-response-api-doc-example.json"
NOT_FOUND = "track-v1-details-warning-not-found.json"
INVALID = "track-v1-details-error-invalid-number.json"
EVENT_SAMPLES = [CIE, HOOK_DELIVERED, HOOK_OFD, DETAILS]

# UPS's Status/Description Codes list (160 codes; 1, 2, 4, 8, 9, 15, 31 and 150-152 do not exist).
ALL_STATUS_CODES = [0, 3, 5, 6, 7, *range(10, 15), *range(16, 31), *range(32, 150), *range(153, 170)]


def _expected_by_code() -> dict[int, str]:
    """The public sources' table, then trackstream's judgment for the codes the public sources do not list,
    written out independently of mappings/ups.json."""
    groups: dict[str, list[int]] = {
        # the public sources
        "pre_transit": [3, 157, 166, 79, 80],
        "cancelled": [7, 43],
        "in_transit": [5, 10, 25, 39, 44, 45, 47, 87, 158, 159, 160, 164, 165, 38, 12, 14, 92, 134,
                       18, 19, 20, 27, 28, 54, 55, 63, *range(95, 118)],
        "out_for_delivery": [6, 21, 37, 72, 89, 91, 146, 162, 78],
        "failed_attempt": [22, 23, 24, 60, 61, 62, 66, 145],
        "available_for_pickup": [17, 40, 144, 161],
        "delivered": [11, 26, 143],
        "returned_to_sender": [33, 34, 35, 36, 67, 118, 119],
        "exception": [13, 29, 30, 46, 48, 49, 50, 51, 52, 53, 58, 59, 64, 68, 69, 76, 85, 124, 125, 126, 132,
                      141, 147, 149],
        "unknown": [153, 154, 155, 0, 148, 163],
    }
    judgment: dict[str, list[int]] = {
        "pre_transit": [65, 77, 131, 133, 135],  # pickup attempts, scheduled pickup, return label left
        "in_transit": [16, 32, 41, 42, 56, 57, 70, 71, 73, 74, 75, 82, 84, 94, 120, 121, 122, 123, 136, 137,
                       138, 156, 167, 168, 169],
        "failed_attempt": [139],  # security access required
        "returned_to_sender": [81],
        "exception": [83, 86, 90, 93, 129, 130, 140],
        "unknown": [88, 127, 128, 142],  # test code, investigation closed/cancelled, claim voided
    }
    out: dict[int, str] = {}
    for table in (groups, judgment):
        for status, codes in table.items():
            for code in codes:
                assert code not in out, code
                out[code] = status
    return out


EXPECTED_BY_CODE = _expected_by_code()
INFORMATIONAL_CODES = {153, 154, 155}
EXPECTED_TYPES = {
    "M": "pre_transit", "MV": "cancelled", "I": "in_transit", "D": "delivered", "X": "exception",
    "DO": "in_transit", "DD": "in_transit", "W": "in_transit", "NA": "unknown", "U": "unknown",
    "P": "in_transit",  # pickup (UPS's status type for pickup scans)
}
EXPECTED_ACTIVITY_CODES = {
    "MP": "pre_transit", "OR": "in_transit", "AR": "in_transit", "DP": "in_transit", "AF": "in_transit",
    "IT": "in_transit", "OT": "out_for_delivery", "FS": "delivered", "F4": "delivered", "KB": "delivered",
    "PU": "in_transit",  # pickup scan
}


_load = json_loader(SAMPLES)


def parse(payload: bytes | Any) -> list[TrackingEvent]:
    return ups.parse(as_payload(payload), {}, RECEIVED)


def _hook(kind: str = "I", code: str = "OT", description_code: str = "021", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "trackingNumber": "1Z204W4R0308071865", "localActivityDate": "20240423", "localActivityTime": "091519",
        "activityLocation": {"city": "Charlotte", "stateProvince": "NC", "postalCode": "", "country": "US"},
        "activityStatus": {"type": kind, "code": code, "description": "text", "descriptionCode": description_code},
        "gmtActivityDate": "20240423", "gmtActivityTime": "131519",
    }
    body.update(extra)
    return body


def _activity(status_code: str = "005", **extra: Any) -> dict[str, Any]:
    activity: dict[str, Any] = {
        "date": "20240423", "time": "091519", "gmtDate": "20240423", "gmtTime": "13:15:19", "gmtOffset": "-04:00",
        "location": {"address": {"city": "Charlotte", "stateProvince": "NC", "countryCode": "US",
                                 "postalCode": "28209"}, "slic": "4220"},
        "status": {"type": "I", "code": "DP", "description": "Departed", "statusCode": status_code},
    }
    activity.update(extra)
    return activity


def _details(*activities: dict[str, Any], number: str = "1Z204W4R0308071865") -> dict[str, Any]:
    return {"trackResponse": {"shipment": [
        {"inquiryNumber": number, "package": [{"trackingNumber": number, "activity": list(activities)}]}
    ]}}


# --- samples ------------------------------------------------------------------------------------


def test_cie_webhook_sample() -> None:
    [event] = parse((SAMPLES / CIE).read_bytes())
    assert (event.carrier, event.tracking_number, event.key) == ("ups", "1ZCIETST0111111114", "ups:1ZCIETST0111111114")
    assert (event.status, event.substatus, event.mapped) == ("delivered", None, True)
    assert (event.code, event.description) == ("011", "Delivered")
    assert event.occurred_at == utc(2025, 11, 18, 23, 15, 53)  # gmtActivityDate/Time
    assert (event.local_time, event.tz_source, event.source) == ("20251118 181553", TZ_GIVEN, "webhook")
    assert event.location == Location(city="Nottingham", postcode="21236", country="US")
    assert event.attributes["activity_type"] == "D" and event.attributes["activity_code"] == "FS"
    assert event.attributes["actual_delivery_date"] == "20251118"
    assert "scheduled_delivery_date" not in event.attributes  # "" in the payload
    assert event.event_id == derive_event_id("ups", "1ZCIETST0111111114", event.occurred_at, "011")
    assert event.received_at == RECEIVED


def test_delivered_webhook_doc_example() -> None:
    [event] = parse((SAMPLES / HOOK_DELIVERED).read_bytes())
    assert (event.tracking_number, event.status, event.code) == ("1Z204W4R0308071865", "delivered", "011")
    assert event.occurred_at == utc(2024, 4, 23, 13, 50, 4)
    assert event.attributes["received_by"] == "John"
    assert event.attributes["scheduled_delivery_date"] == "20191014"


def test_out_for_delivery_webhook_doc_example() -> None:
    [event] = parse((SAMPLES / HOOK_OFD).read_bytes())
    assert (event.status, event.code, event.description) == ("out_for_delivery", "021", "Out for Delivery")
    assert event.occurred_at == utc(2024, 4, 23, 13, 15, 19)
    assert event.location == Location(city="Charlotte", postcode="30004", country="US")
    assert event.attributes["delivery_time_description"] == "end of day"


def test_details_doc_example() -> None:
    [event] = parse((SAMPLES / DETAILS).read_bytes())
    # package.trackingNumber is the placeholder "string": the inquiry number is used
    assert event.tracking_number == "1Z023E2X0214323462"
    assert event.source == "poll"
    # type X with status code 003 ("Shipment Ready for UPS"): an exception type is never refined down
    assert (event.code, event.status, event.substatus, event.mapped) == ("003", "exception", None, True)
    assert event.description == "Your package was released by the customs agency."
    assert event.occurred_at == utc(2021, 2, 10, 12, 13, 56)  # 07:13:56 EST in Wayne, NJ (no GMT fields)
    assert (event.local_time, event.tz_source) == ("20210210 071356", TZ_LOCATION)
    assert event.location == Location(city="Wayne", postcode="07470", country="US", code="8566")
    attrs = event.attributes
    assert (attrs["service"], attrs["service_code"], attrs["pieces"]) == ("UPS Ground", "518", "2")
    assert attrs["references"] == [{"type": "SHIPMENT", "number": "ShipRef123"}]
    assert attrs["alternate_tracking_numbers"] == [{"type": "USPS_PIC", "number": "92419900000033499522966220"}]
    assert "delivery_window_start" not in attrs and "weight" not in attrs  # placeholders dropped
    assert "inquiry_number" not in attrs


def test_not_found_warning_sample() -> None:
    with pytest.raises(CarrierErrorResponse) as caught:
        parse((SAMPLES / NOT_FOUND).read_bytes())
    assert caught.value.not_found is True
    assert "TW0001" in str(caught.value)


def test_invalid_number_error_sample() -> None:
    with pytest.raises(CarrierErrorResponse) as caught:
        parse((SAMPLES / INVALID).read_bytes())
    assert caught.value.not_found is False
    assert "TV1002" in str(caught.value)


def test_multi_package_multi_shipment_response() -> None:
    body = _details(_activity("021"), _activity("005", date="20240422", gmtDate="20240422"))
    body["trackResponse"]["shipment"][0]["package"].append(
        {"trackingNumber": "1Z204W4R0308071872", "activity": [_activity("011")]})
    body["trackResponse"]["shipment"].append({"inquiryNumber": "1ZNOTFOUND", "warnings": [
        {"code": "TW0001", "message": "Tracking Information Not Found"}]})
    events = parse(body)
    assert [(e.tracking_number, e.code, e.status) for e in events] == [
        ("1Z204W4R0308071865", "021", "out_for_delivery"), ("1Z204W4R0308071865", "005", "in_transit"),
        ("1Z204W4R0308071872", "011", "delivered"),
    ]
    assert events[2].attributes["inquiry_number"] == "1Z204W4R0308071865"
    assert events[0].location == Location(city="Charlotte", postcode="28209", country="US", code="4220")


def test_webhook_array_and_package_without_activity() -> None:
    events = parse([_hook(), _hook("D", "FS", "011")])
    assert [e.status for e in events] == ["out_for_delivery", "delivered"]
    empty = {"trackResponse": {"shipment": [{"inquiryNumber": "1Z1", "package": [{"trackingNumber": "1Z1"}]}]}}
    assert parse(empty) == []


@pytest.mark.parametrize(
    ("body", "not_found"),
    [
        ({"trackResponse": {"shipment": []}}, True),
        ({"trackResponse": {"shipment": [{"inquiryNumber": "1Z1", "warnings": [{"code": "TW0002", "message": "x"}]}]}},
         False),
        ({"response": {"errors": [{"code": "250002", "message": "Invalid Authentication Information."}]}}, False),
        ({"response": {"errors": [{"code": "TW0001", "message": "Tracking Information Not Found"}]}}, True),
    ],
)
def test_carrier_errors(body: dict[str, Any], not_found: bool) -> None:
    with pytest.raises(CarrierErrorResponse) as caught:
        parse(body)
    assert caught.value.not_found is not_found


# --- code tables --------------------------------------------------------------------------------


def test_status_table_has_every_ups_code() -> None:
    table = load_mapping_file("ups.json")["status_codes"]
    assert len(ALL_STATUS_CODES) == 160
    assert set(table) == {f"{code:03d}" for code in ALL_STATUS_CODES}
    assert set(EXPECTED_BY_CODE) == set(ALL_STATUS_CODES)
    assert all(row["status"] in ALL_STATUSES for row in table.values())


@pytest.mark.parametrize("code", ALL_STATUS_CODES)
def test_every_status_code(code: int) -> None:
    mapping, layer, informational = ups.map_activity("", "", f"{code:03d}")
    expected = (EXPECTED_BY_CODE[code], "status_code", code in INFORMATIONAL_CODES)
    assert (mapping.status, layer, informational) == expected
    assert ups.map_activity("", "", str(code))[0] == mapping  # "3" is "003"
    [event] = parse(_hook("I", "", f"{code:03d}"))
    assert (event.code, event.status, event.mapped) == (f"{code:03d}", EXPECTED_BY_CODE[code], True)


@pytest.mark.parametrize(("kind", "status"), sorted(EXPECTED_TYPES.items()))
def test_every_activity_type(kind: str, status: str) -> None:
    mapping, layer, informational = ups.map_activity(kind)
    assert (mapping.status, layer, informational) == (status, "activity_type", kind == "U")
    [event] = parse(_hook(kind, "", ""))
    assert (event.code, event.status, event.mapped) == (kind, status, True)


@pytest.mark.parametrize(("code", "status"), sorted(EXPECTED_ACTIVITY_CODES.items()))
def test_every_activity_code(code: str, status: str) -> None:
    mapping, layer, _ = ups.map_activity("", code, "")
    assert (mapping.status, layer) == (status, "activity_code")


@pytest.mark.parametrize(
    ("kind", "code", "status_code", "status", "substatus"),
    [
        ("D", "", "161", "available_for_pickup", "at_pickup_point"),  # delivered to Access Point: not delivered
        ("D", "", "144", "available_for_pickup", "at_pickup_point"),  # delivered to post office for pickup
        ("D", "FS", "011", "delivered", None),
        ("D", "", "005", "delivered", None),  # delivered type never refined down
        ("X", "SR", "003", "exception", None),
        ("X", "", "032", "exception", "delayed"),  # weather delay as exception type keeps "delayed"
        ("X", "", "022", "failed_attempt", "retry_next_day"),
        ("X", "", "034", "returned_to_sender", None),
        ("I", "", "017", "available_for_pickup", "at_pickup_point"),
        ("I", "OT", "021", "out_for_delivery", None),
        ("I", "", "046", "exception", "delayed"),
        ("M", "MP", "003", "pre_transit", "label_created"),
        ("MV", "", "007", "cancelled", None),
        ("U", "", "154", "unknown", None),
        ("U", "", "011", "unknown", None),  # type U: an update, whatever the code
        ("I", "OT", "999", "out_for_delivery", None),  # unknown status code: activity code
        ("I", "ZZ", "999", "in_transit", None),  # then the activity type
        ("x", "", "64", "exception", "refused"),  # case and zero padding
    ],
)
def test_tricky_combinations(kind: str, code: str, status_code: str, status: str, substatus: str | None) -> None:
    mapping, _, _ = ups.map_activity(kind, code, status_code)
    assert (mapping.status, mapping.substatus) == (status, substatus)


def test_pickup_scan() -> None:
    """The issue's case: a pickup scan (type P, code PU) without a status code was unknown."""
    for kind, code in (("P", "PU"), ("P", ""), ("", "PU"), ("I", "PU")):
        mapping, layer, _ = ups.map_activity(kind, code, "")
        assert (mapping.status, mapping.substatus) == ("in_transit", "picked_up"), (kind, code)
        assert layer == ("activity_code" if code else "activity_type")
    [event] = parse(_details(_activity("", status={"type": "P", "code": "PU", "description": "Pickup Scan"})))
    assert (event.code, event.status, event.substatus, event.mapped) == ("PU", "in_transit", "picked_up", True)


def test_documented_lists() -> None:
    listed = load_mapping_file("ups.documented.json")["tables"]
    assert sorted(int(c) for c in listed["status_codes"]) == ALL_STATUS_CODES
    assert set(listed["activity_types"]) == set(EXPECTED_TYPES)
    assert set(listed["activity_codes"]) == set(EXPECTED_ACTIVITY_CODES)


def test_update_events_change_no_status() -> None:
    [event] = parse(_hook("U", "", "154"))
    assert (event.status, event.mapped, event.attributes["status_change"]) == ("unknown", True, False)
    [normal] = parse(_hook())
    assert "status_change" not in normal.attributes


def test_unmapped_code_is_kept() -> None:
    [event] = parse(_hook("ZZ", "QQ", "999"))
    assert (event.status, event.substatus, event.mapped) == ("unknown", "unmapped_code", False)
    assert (event.code, event.description) == ("999", "text")
    [poll] = parse(_details(_activity("", status={"type": "ZZ", "code": "QQ", "description": "new"})))
    assert (poll.code, poll.status, poll.mapped) == ("QQ", "unknown", False)


# --- time ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("date", "clock", "expected"),
    [("20240423", "074700", datetime(2024, 4, 23, 7, 47)), ("20240423", "74700", datetime(2024, 4, 23, 7, 47)),
     ("20240423", "13:15:59", datetime(2024, 4, 23, 13, 15, 59)), ("2024-04-23", "5", datetime(2024, 4, 23, 0, 0, 5))],
)
def test_ups_datetime(date: str, clock: str, expected: datetime) -> None:
    assert ups.ups_datetime(date, clock, "t") == expected


@pytest.mark.parametrize(("date", "clock"), [("2024042", "1"), ("20241301", "120000"), ("20240423", "250000"),
                                              ("20240423", "1234567"), ("x", "1"), ("20240423", "")])
def test_unreadable_date_time(date: str, clock: str) -> None:
    with pytest.raises(PayloadError):
        ups.ups_datetime(date, clock, "t")


@pytest.mark.parametrize(
    ("raw", "minutes"),
    [("-04.00", -240), ("-05:00", -300), ("+05.30", 330), ("-0400", -240), ("+1", 60), ("+00.00", 0)],
)
def test_gmt_offsets(raw: str, minutes: int) -> None:
    assert ups.parse_offset(raw) == timezone(timedelta(minutes=minutes))


@pytest.mark.parametrize("raw", ["04.00", "-4.0", "abc", "-24.00", "+05.75"])
def test_bad_gmt_offsets(raw: str) -> None:
    with pytest.raises(PayloadError):
        ups.parse_offset(raw)


@pytest.mark.parametrize(
    ("local", "gmt", "offset", "country", "region", "expected", "source"),
    [
        # GMT fields win (poll gmtDate/gmtTime, webhook gmtActivityDate/Time)
        (("20240423", "091519"), ("20240423", "131519"), "", "US", "NC", utc(2024, 4, 23, 13, 15, 19), TZ_GIVEN),
        (("20240423", "031519"), ("20240423", "74700"), "-05:00", "", "", utc(2024, 4, 23, 7, 47), TZ_GIVEN),
        # local + offset (webhook "-04.00" with a dot)
        (("20240423", "091519"), ("", ""), "-04.00", "US", "NC", utc(2024, 4, 23, 13, 15, 19), TZ_GIVEN),
        (("20240115", "091519"), ("", ""), "+01:00", "DE", "", utc(2024, 1, 15, 8, 15, 19), TZ_GIVEN),
        # local only: zone of the state, winter and summer
        (("20240115", "100000"), ("", ""), "", "US", "CA", utc(2024, 1, 15, 18), TZ_LOCATION),
        (("20240715", "100000"), ("", ""), "", "US", "CA", utc(2024, 7, 15, 17), TZ_LOCATION),
        (("20240715", "100000"), ("", ""), "", "US", "AZ", utc(2024, 7, 15, 17), TZ_LOCATION),
        (("20240715", "100000"), ("", ""), "", "US", "IL", utc(2024, 7, 15, 15), TZ_LOCATION),
        # US DST days (America/New_York, 2024-03-10 and 2024-11-03)
        (("20240310", "015900"), ("", ""), "", "US", "NJ", utc(2024, 3, 10, 6, 59), TZ_LOCATION),
        (("20240310", "023000"), ("", ""), "", "US", "NJ", utc(2024, 3, 10, 7, 30), TZ_LOCATION),  # does not exist
        (("20240310", "030000"), ("", ""), "", "US", "NJ", utc(2024, 3, 10, 7), TZ_LOCATION),
        (("20241103", "013000"), ("", ""), "", "US", "NJ", utc(2024, 11, 3, 5, 30), TZ_LOCATION),  # first: EDT
        (("20241103", "023000"), ("", ""), "", "US", "NJ", utc(2024, 11, 3, 7, 30), TZ_LOCATION),
        # abroad: CET / CEST and the EU transition days, UK, Canada
        (("20240115", "100000"), ("", ""), "", "DE", "", utc(2024, 1, 15, 9), TZ_COUNTRY),
        (("20240715", "100000"), ("", ""), "", "DE", "", utc(2024, 7, 15, 8), TZ_COUNTRY),
        (("20240331", "023000"), ("", ""), "", "NL", "", utc(2024, 3, 31, 1, 30), TZ_COUNTRY),
        (("20241027", "023000"), ("", ""), "", "NL", "", utc(2024, 10, 27, 0, 30), TZ_COUNTRY),
        (("20240715", "100000"), ("", ""), "", "GB", "", utc(2024, 7, 15, 9), TZ_COUNTRY),
        (("20240115", "100000"), ("", ""), "", "CA", "AB", utc(2024, 1, 15, 17), TZ_LOCATION),
        # nothing known: UPS's home zone (Atlanta, America/New_York)
        (("20240115", "100000"), ("", ""), "", "", "", utc(2024, 1, 15, 15), TZ_ASSUMED),
        (("20240715", "100000"), ("", ""), "", "XX", "", utc(2024, 7, 15, 14), TZ_ASSUMED),
    ],
)
def test_time_rules(
    local: tuple[str, str], gmt: tuple[str, str], offset: str, country: str, region: str,
    expected: datetime, source: str,
) -> None:
    instant, tz_source, local_text = ups.resolve_time(local, gmt, offset, Place(country=country, region=region), "t")
    assert (instant, tz_source, local_text) == (expected, source, f"{local[0]} {local[1]}")


def test_webhook_without_gmt_fields() -> None:
    body = _hook(gmtOffset="-04.00")
    del body["gmtActivityDate"], body["gmtActivityTime"]
    [event] = parse(body)
    assert (event.occurred_at, event.tz_source) == (utc(2024, 4, 23, 13, 15, 19), TZ_GIVEN)
    del body["gmtOffset"]
    [event] = parse(body)  # Charlotte, NC in April: EDT
    assert (event.occurred_at, event.tz_source) == (utc(2024, 4, 23, 13, 15, 19), TZ_LOCATION)


def test_gmt_only_webhook_keeps_gmt_text() -> None:
    body = _hook()
    del body["localActivityDate"], body["localActivityTime"]
    [event] = parse(body)
    assert (event.local_time, event.occurred_at) == ("20240423 131519", utc(2024, 4, 23, 13, 15, 19))


# --- identity -----------------------------------------------------------------------------------


def test_ids_are_deterministic_and_ignore_free_text() -> None:
    first = parse((SAMPLES / CIE).read_bytes())
    assert first[0].event_id == parse((SAMPLES / CIE).read_bytes())[0].event_id
    body = _load(CIE)
    body["activityLocation"]["city"] = "Baltimore"
    body["activityLocation"]["postalCode"] = ""
    body["activityStatus"]["description"] = "DELIVERED"
    assert parse(body)[0].event_id == first[0].event_id


def test_same_activity_via_webhook_and_poll_has_one_id() -> None:
    [hook] = parse(_hook(descriptionCode="021"))
    [poll] = parse(_details(_activity("21", status={"type": "I", "code": "OT", "statusCode": "21"})))
    assert hook.event_id == poll.event_id
    assert (hook.source, poll.source) == ("webhook", "poll")


# --- webhook authentication ---------------------------------------------------------------------


def test_verify_webhook() -> None:
    body = (SAMPLES / CIE).read_bytes()
    ups.verify_webhook(body, {"credential": "s3cret-value"}, "s3cret-value")
    ups.verify_webhook(body, {"Credential": " s3cret-value "}, "s3cret-value")  # header names are case-insensitive
    ups.verify_webhook(body, {"credential": "Bearer s3cret-value"}, "s3cret-value")


@pytest.mark.parametrize(
    ("headers", "secret"),
    [({}, "s3cret"), ({"credential": ""}, "s3cret"), ({"credential": "wrong"}, "s3cret"),
     ({"credential": "s3cret"}, ""), ({"authorization": "s3cret"}, "s3cret"), ({"credential": "s3cre"}, "s3cret"),
     ({"credential": "Bearer wrong"}, "s3cret")],
)
def test_verify_webhook_rejects(headers: dict[str, str], secret: str) -> None:
    with pytest.raises(SignatureError):
        ups.verify_webhook(b"{}", headers, secret)


# --- malformed input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [b"", b"\n", b"not json", b"<xml/>", b"[]", b"[1]", b"42", b"null", b"{}", b'{"response": {}}',
     b'{"trackResponse": []}', b'{"trackResponse": {"shipment": [3]}}',
     b'{"trackingNumber": "1Z1"}', b'{"trackingNumber": "", "activityStatus": {"type": "D"}}',
     b'{"trackingNumber": "1Z1", "activityStatus": "D", "gmtActivityDate": "20240101"}',
     b'{"trackingNumber": "1Z1", "activityStatus": {"type": "D"}}',  # no date/time
     b'{"trackingNumber": "1Z1", "activityStatus": {}, "gmtActivityDate": "20240101", "gmtActivityTime": "1"}'],
)
def test_malformed_payloads(payload: bytes) -> None:
    with pytest.raises(PayloadError):
        parse(payload)


@pytest.mark.parametrize(
    "body",
    [_hook(gmtActivityDate="2024-13-01"), _hook(gmtOffset="x", gmtActivityDate=""),
     _details(_activity(time="9am", gmtDate="")), _details(_activity(status="I")), _details(5)],  # type: ignore[arg-type]
)
def test_bad_fields_are_payload_errors(body: dict[str, Any]) -> None:
    with pytest.raises(PayloadError):
        parse(body)


@pytest.mark.parametrize("name", [*EVENT_SAMPLES, NOT_FOUND, INVALID])
def test_truncated_samples(name: str) -> None:
    payload = (SAMPLES / name).read_bytes()
    assert_prefixes_raise(parse, payload, cuts(payload, 40, end=len(payload) - 2))


test_arbitrary_bytes_only_raise_parse_errors = arbitrary_bytes_test(parse, max_examples=150)


def _wrap(data: st.DataObject, value: Any) -> Any:
    wrap = data.draw(st.sampled_from(["none", "track", "hook"]))
    if wrap == "track":
        return {"trackResponse": {"shipment": value}}
    if wrap == "hook":
        return {"trackingNumber": "1Z1", "activityStatus": value}
    return value


test_arbitrary_json_only_raises_parse_errors = arbitrary_json_test(parse, max_examples=200, wrap=_wrap)


def _check(event: TrackingEvent) -> None:
    check_event(event)
    assert event.occurred_at.utcoffset() == timedelta(0)
    assert event.tracking_number and event.code


test_mutated_samples_only_raise_parse_errors = mutated_samples_test(
    parse, _load, EVENT_SAMPLES, max_examples=200, check=_check
)
