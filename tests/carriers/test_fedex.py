from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime
from typing import Any

import pytest
from hypothesis import strategies as st

from carriers import fedex
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

SAMPLES = carrier_samples("fedex")
TWO_RESULTS = "track-v1-response-two-trackresults-same-number.json"
MIXED = "track-v1-response-delivered-mixed-offsets.json"
DOC = "track-v1-response-api-doc-example.json"
ERROR = "track-v1-error-response.json"
GROUND = "track-v1-response-ground-picked-up-whatarmy-readme.json"
EVENT_SAMPLES = [TWO_RESULTS, MIXED, DOC, GROUND]

# The public sources' code table (plus the codes of FedEx's own status code list that those sources
# do not repeat), written out independently of mappings/fedex.json.
_IT = "in_transit"
EXPECTED_EVENT_TYPES: dict[str, str] = {
    "OC": "pre_transit", "AP": "pre_transit", "EP": "pre_transit", "DS": "pre_transit",
    "PU": _IT, "PX": _IT,
    **{c: _IT for c in ("AR", "AF", "DP", "IT", "IX", "OF", "FD", "LO", "AA", "AC", "AX", "EA", "EO", "PF",
                        "PL", "PM", "SF", "TR", "CC", "CP", "AO", "AE", "CH", "OW", "OX")},
    "OD": "out_for_delivery", "ED": "out_for_delivery", "AD": "out_for_delivery",
    "DL": "delivered", "DE": "exception", "HL": "available_for_pickup", "HP": "available_for_pickup",
    "DY": _IT, "DD": _IT, "PD": _IT, "RL": _IT,
    "SE": "exception", "CD": "exception", "RS": "returned_to_sender", "CA": "cancelled",
    **{c: "unknown" for c in ("DR", "RR", "RM", "RC", "RP", "LP", "RG", "RD", "SP")},
}
INFORMATIONAL = {"DR", "RR", "RM", "RC", "RP", "LP", "RG", "RD", "SP"}
DELAY_TYPES = {"DY", "DD", "PD", "RL"}
# derivedStatusCode is FedEx's code table rolled up: a derived code means what the event type of the
# same code means, plus IN (initiated; seen in FedEx's example responses). Every one must fill in.
EXPECTED_DERIVED: dict[str, str] = {**EXPECTED_EVENT_TYPES, "IN": "pre_transit"}
DERIVED_SUBSTATUS: dict[str, str | None] = {
    "IN": "label_created", "OC": "label_created", "PU": "picked_up", "PX": "picked_up", "OD": None,
    "ED": "driver_en_route", "HL": "at_pickup_point", "HP": "at_pickup_point", "DY": "delayed", "RL": "delayed",
    "CD": "customs_hold", "RS": "returning", "DE": None, "SE": None, "CA": None, "DL": None, "IT": None,
}
EXPECTED_EXCEPTIONS: dict[tuple[str, str], tuple[str, str | None]] = {
    ("DE", "08"): ("failed_attempt", "recipient_absent"),
    ("DE", "03"): ("exception", "address_issue"),
    ("DE", "07"): ("exception", "refused"),
    ("DE", "A47"): (_IT, "delivery_changed"),
}


_load = json_loader(SAMPLES)


def parse(payload: bytes | Any) -> list[TrackingEvent]:
    return fedex.parse(as_payload(payload), {}, RECEIVED)


def _response(*scans: dict[str, Any], number: str = "123456789012") -> dict[str, Any]:
    return {"output": {"completeTrackResults": [{"trackingNumber": number, "trackResults": [
        {"trackingNumberInfo": {"trackingNumber": number, "trackingNumberUniqueId": f"1~{number}~FX"},
         "scanEvents": list(scans)}
    ]}]}}


def _scan(event_type: str = "AR", date: str = "2024-04-26T07:50:00-07:00", **extra: Any) -> dict[str, Any]:
    scan: dict[str, Any] = {
        "date": date, "eventType": event_type, "eventDescription": f"text {event_type}",
        "scanLocation": {"city": "CLOVIS", "stateOrProvinceCode": "CA", "postalCode": "93612", "countryCode": "US"},
        "locationId": "FATA",
    }
    scan.update(extra)
    return scan


# --- samples ------------------------------------------------------------------------------------


def test_two_results_for_one_number() -> None:
    events = parse((SAMPLES / TWO_RESULTS).read_bytes())
    assert len(events) == 18
    assert {e.tracking_number for e in events} == {"776094337676"}
    assert {e.key for e in events} == {"fedex:776094337676"}
    first, second = events[:10], events[10:]
    assert {e.attributes["unique_id"] for e in first} == {"2460425000~776094337676~FX"}
    assert {e.attributes["unique_id"] for e in second} == {"2460426000~776094337676~FX"}
    assert {e.attributes["package_results"] for e in events} == {2}
    assert [e.attributes["latest_result"] for e in (first[0], second[0])] == [False, True]
    assert [e.code for e in first] == ["AR", "HP", "DY", "AR", "DP", "AR", "DP", "AO", "PU", "OC"]
    assert [e.status for e in first] == [
        _IT, "available_for_pickup", _IT, _IT, _IT, _IT, _IT, _IT, _IT, "pre_transit",
    ]
    assert [e.code for e in second] == ["DL", "OD", "AO", "PU", "AF", "DE", "DE", "OD"]
    assert [e.status for e in second] == [
        "delivered", "out_for_delivery", _IT, _IT, _IT, _IT, "failed_attempt", "out_for_delivery",
    ]
    hp = first[1]  # derivedStatusCode IT must not hide "ready for recipient pickup"
    assert (hp.substatus, hp.attributes["derived_code"]) == ("at_pickup_point", "IT")
    assert hp.occurred_at == utc(2024, 4, 25, 20, 26)
    assert hp.location == Location(city="FRESNO", postcode="93703", country="US", code="BWY81")
    dy = first[2]
    assert (dy.substatus, dy.attributes["delayed"], dy.attributes["exception_code"]) == ("delayed", True, "A52")
    oc = first[9]
    assert (oc.occurred_at, oc.local_time, oc.tz_source) == (
        utc(2024, 4, 24, 20, 30, 57), "2024-04-24T15:30:57-05:00", TZ_GIVEN)
    assert oc.location is None
    failed = second[6]
    assert (failed.substatus, failed.attributes["exception_code"]) == ("recipient_absent", "08")
    assert failed.attributes["exception_description"] == "Customer not available or business closed"
    assert (second[5].status, second[5].substatus) == (_IT, "delivery_changed")
    delivered = second[0]
    assert delivered.occurred_at == utc(2024, 4, 26, 16, 26)
    assert delivered.location == Location(code="FATA")
    assert delivered.attributes["received_by"] == "D.HERRERA"
    assert delivered.attributes["service"] == "FedEx Priority Overnight"
    assert first[0].attributes["latest_derived_code"] == "RL"
    assert all(e.source == "poll" and e.mapped and e.carrier == "fedex" for e in events)
    assert len({e.event_id for e in events}) == 18


def test_delivered_mixed_offsets() -> None:
    events = parse((SAMPLES / MIXED).read_bytes())
    assert len(events) == 17
    assert {e.tracking_number for e in events} == {"738488882438"}
    assert events[0].code == "DL" and events[0].status == "delivered"
    assert events[0].occurred_at == utc(2024, 8, 20, 16, 41, 57)
    assert events[0].location == Location(city="Blue Point", postcode="11715", country="US")
    assert events[1].status == "out_for_delivery"
    assert events[10].occurred_at == utc(2024, 8, 16, 12, 35, 16)  # -05:00 in Cedar Rapids
    assert [e.status for e in events].count(_IT) == 14
    pickup = events[-1]  # "2024-08-15T00:00:00": no offset, Mankato MN
    assert pickup.code == "PU" and pickup.status == _IT and pickup.substatus == "picked_up"
    assert (pickup.local_time, pickup.tz_source) == ("2024-08-15T00:00:00", TZ_LOCATION)
    assert pickup.occurred_at == utc(2024, 8, 15, 5, 0)  # midnight CDT (America/Chicago)
    assert pickup.attributes["date_only"] is True
    assert all("date_only" not in e.attributes for e in events[:-1])
    assert all(e.tz_source == TZ_GIVEN for e in events[:-1])
    attrs = events[0].attributes
    assert (attrs["service"], attrs["carrier_code"], attrs["received_by"]) == ("FedEx Ground", "FDXG", "CREILLY")
    assert attrs["references"] == [{"type": "CUSTOMER_REFERENCE", "value": "G177832"}]
    assert attrs["dates"]["actual_delivery"] == "2024-08-20T12:41:57-04:00"
    assert "package_results" not in attrs


def test_api_doc_example() -> None:
    [event] = parse((SAMPLES / DOC).read_bytes())  # the NOTFOUND result of the batch is skipped
    assert (event.tracking_number, event.code, event.status, event.substatus) == (
        "128667043726", "PU", _IT, "picked_up")
    assert event.occurred_at == utc(2018, 2, 2, 19, 1)
    assert event.description == "Picked Up"
    assert event.location == Location(city="SEATTLE", postcode="98101", country="US", code="SEA")
    attrs = event.attributes
    assert attrs["inquiry_number"] == "123456789012"
    assert attrs["error_code"] == "TRACKING.TRACKINGNUMBER.EMPTY"
    assert attrs["exception_code"] == "A25"  # exception codes only refine their own table rows
    assert attrs["delayed"] is True  # delayDetail.status DELAYED
    assert attrs["references"] == [{"type": "SHIPPER_REFERENCE", "value": "ASJFGVAS"}]
    assert attrs["signed_by"] == "Reciever"


def test_ground_home_delivery_picked_up() -> None:
    """WhatArmy/FedexRest's recorded sandbox answer: one FedEx Ground pickup scan in Florence, SC,
    dated with its own offset (-05:00, EST in January), so the instant is given, not looked up."""
    [event] = parse((SAMPLES / GROUND).read_bytes())
    assert (event.tracking_number, event.code, event.status, event.substatus) == (
        "020207021381215", "PU", _IT, "picked_up")
    assert (event.occurred_at, event.local_time, event.tz_source) == (
        utc(2014, 1, 6, 15, 18), "2014-01-06T10:18:00-05:00", TZ_GIVEN)
    assert event.location == Location(city="FLORENCE", postcode="29506", country="US", code="0295")
    assert event.description == "Picked up"
    assert event.attributes["unique_id"] == "12013~020207021381215~FDEG"
    assert event.mapped and event.source == "poll"


def test_only_not_found_results_raise_not_found() -> None:
    body = _load(DOC)
    del body["output"]["completeTrackResults"][0]
    with pytest.raises(CarrierErrorResponse) as caught:
        parse(body)
    assert caught.value.not_found is True
    assert caught.value.tracking_number == "39936862321"
    assert "TRACKING.TRACKINGNUMBER.NOTFOUND" in str(caught.value)


def test_error_response_sample() -> None:
    with pytest.raises(CarrierErrorResponse) as caught:
        parse((SAMPLES / ERROR).read_bytes())
    assert caught.value.not_found is False
    assert "TRACKING.TRACKINGNUMBER.EMPTY" in str(caught.value)


@pytest.mark.parametrize(
    ("body", "not_found"),
    [
        ({"errors": [{"code": "TRACKING.TRACKINGNUMBER.NOTFOUND", "message": "x"}]}, True),
        ({"errors": [{"code": "NOT.AUTHORIZED.ERROR", "message": "token"}]}, False),
        ({"output": {"completeTrackResults": []}}, True),
        ({"output": {"completeTrackResults": [{"trackingNumber": "1", "trackResults": [
            {"trackingNumberInfo": {"trackingNumber": "1"}, "error": {"code": "SYSTEM.UNAVAILABLE.EXCEPTION"}}]}]}},
         False),
    ],
)
def test_carrier_errors(body: dict[str, Any], not_found: bool) -> None:
    with pytest.raises(CarrierErrorResponse) as caught:
        parse(body)
    assert caught.value.not_found is not_found


def test_result_without_scans_or_error_gives_no_events() -> None:
    body = _response()
    assert parse(body) == []


def test_single_objects_instead_of_arrays() -> None:
    body = _response(_scan("PU"))
    complete = body["output"]["completeTrackResults"][0]
    complete["trackResults"] = complete["trackResults"][0]
    complete["trackResults"]["scanEvents"] = complete["trackResults"]["scanEvents"][0]
    [event] = parse(body)
    assert event.code == "PU"


# --- code tables --------------------------------------------------------------------------------


def test_tables_cover_exactly_the_expected_codes() -> None:
    data = load_mapping_file("fedex.json")
    assert set(data["event_types"]) == set(EXPECTED_EVENT_TYPES)
    assert set(data["derived_codes"]) == set(EXPECTED_DERIVED)
    assert set(data["exception_codes"]) == {f"{a}:{b}" for a, b in EXPECTED_EXCEPTIONS}


@pytest.mark.parametrize("code", sorted(EXPECTED_EVENT_TYPES))
def test_every_event_type(code: str) -> None:
    mapping, layer, informational = fedex.map_scan(code, "IT")
    assert (mapping.status, layer, informational) == (EXPECTED_EVENT_TYPES[code], "event_type", code in INFORMATIONAL)
    [event] = parse(_response(_scan(code, derivedStatusCode="IT")))
    assert (event.code, event.status, event.mapped) == (code, EXPECTED_EVENT_TYPES[code], True)
    assert event.attributes.get("status_change", True) is (code not in INFORMATIONAL)
    assert event.attributes.get("delayed", False) is (code in DELAY_TYPES)


@pytest.mark.parametrize("code", sorted(EXPECTED_DERIVED))
def test_every_derived_code_fills_in_for_unknown_event_types(code: str) -> None:
    mapping, layer, _ = fedex.map_scan("ZZ", code)
    assert (mapping.status, layer) == (EXPECTED_DERIVED[code], "derived_code")
    [event] = parse(_response(_scan("ZZ", derivedStatusCode=code)))
    assert (event.code, event.status, event.mapped) == ("ZZ", EXPECTED_DERIVED[code], True)


@pytest.mark.parametrize(("code", "substatus"), sorted(DERIVED_SUBSTATUS.items()))
def test_derived_code_substatus(code: str, substatus: str | None) -> None:
    mapping, layer, _ = fedex.map_scan("", code)
    assert (mapping.substatus, layer) == (substatus, "derived_code")


def test_scan_without_event_type_uses_the_derived_code() -> None:
    """The issue's case: an OD scan that has only derivedStatusCode was unknown."""
    scan = _scan("OD", derivedStatusCode="OD")
    del scan["eventType"]
    [event] = parse(_response(scan))
    assert (event.code, event.status, event.mapped) == ("OD", "out_for_delivery", True)
    assert event.attributes["mapping_layer"] == "derived_code"


@pytest.mark.parametrize("code", sorted(EXPECTED_DERIVED))
def test_documented_derived_code_without_event_type(code: str) -> None:
    scan = _scan(code, derivedStatusCode=code)
    del scan["eventType"]
    [event] = parse(_response(scan))
    assert (event.status, event.mapped, event.attributes["mapping_layer"]) == (
        EXPECTED_DERIVED[code], True, "derived_code")


def test_documented_lists() -> None:
    listed = load_mapping_file("fedex.documented.json")["tables"]
    assert set(listed["event_types"]) == set(EXPECTED_EVENT_TYPES) - {"AE", "RL"}  # not in FedEx's table
    assert set(listed["derived_codes"]) == set(EXPECTED_DERIVED) - {"AE"}  # AE: public sources, not FedEx's table


@pytest.mark.parametrize(("key", "expected"), sorted(EXPECTED_EXCEPTIONS.items()))
def test_every_exception_code(key: tuple[str, str], expected: tuple[str, str | None]) -> None:
    mapping, layer, _ = fedex.map_scan(key[0], "DE", key[1])
    assert ((mapping.status, mapping.substatus), layer) == (expected, "exception_code")


@pytest.mark.parametrize(
    ("event_type", "derived", "exception", "status", "substatus"),
    [
        ("HP", "IT", "", "available_for_pickup", "at_pickup_point"),  # the public sources' caution
        ("OD", "IT", "", "out_for_delivery", None),  # derived IT in the real samples
        ("DE", "DE", "8", "failed_attempt", "recipient_absent"),  # "8" is "08"
        ("DE", "DE", "A99", "exception", None),  # other delivery exceptions stay exceptions
        ("DE", "DE", "", "exception", None),
        ("PU", "PU", "08", _IT, "picked_up"),  # exception codes refine only their event type
        ("dl", "", "", "delivered", None),  # case-insensitive
        ("", "DL", "", "delivered", None),
        ("FD", "RL", "", _IT, None),
    ],
)
def test_tricky_rows(event_type: str, derived: str, exception: str, status: str, substatus: str | None) -> None:
    mapping, _, _ = fedex.map_scan(event_type, derived, exception)
    assert (mapping.status, mapping.substatus) == (status, substatus)


def test_all_rows_use_valid_statuses() -> None:
    data = load_mapping_file("fedex.json")
    for table in ("event_types", "derived_codes", "exception_codes"):
        assert all(row["status"] in ALL_STATUSES for row in data[table].values())


def test_unmapped_code_is_kept() -> None:
    [event] = parse(_response(_scan("ZZ", derivedStatusCode="QQ", eventDescription="Brand new scan")))
    assert (event.status, event.substatus, event.mapped) == ("unknown", "unmapped_code", False)
    assert (event.code, event.description) == ("ZZ", "Brand new scan")
    assert "mapping_layer" not in event.attributes


def test_scan_without_any_code_is_malformed() -> None:
    with pytest.raises(PayloadError, match="eventType"):
        parse(_response(_scan("", derivedStatusCode="")))


# --- time ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "country", "region", "expected", "source", "date_only"),
    [
        ("2024-04-26T07:50:00-07:00", "US", "CA", utc(2024, 4, 26, 14, 50), TZ_GIVEN, False),
        ("2024-08-20T12:41:57-04:00", "", "", utc(2024, 8, 20, 16, 41, 57), TZ_GIVEN, False),
        ("2024-01-10T09:00:00Z", "", "", utc(2024, 1, 10, 9), TZ_GIVEN, False),
        ("2024-01-10T09:00:00+05:30", "IN", "", utc(2024, 1, 10, 3, 30), TZ_GIVEN, False),
        ("2024-04-24T00:00:00-06:00", "US", "CA", utc(2024, 4, 24, 6), TZ_GIVEN, True),  # midnight: date-only
        # no offset: zone of the scan's state, DST-correct
        ("2024-01-15T10:00:00", "US", "CA", utc(2024, 1, 15, 18), TZ_LOCATION, True),  # PST
        ("2024-07-15T10:00:00", "US", "CA", utc(2024, 7, 15, 17), TZ_LOCATION, True),  # PDT
        ("2024-07-15T10:00:00", "US", "AZ", utc(2024, 7, 15, 17), TZ_LOCATION, True),  # Arizona: no DST
        ("2024-01-15T10:00:00", "US", "MN", utc(2024, 1, 15, 16), TZ_LOCATION, True),
        ("2024-01-15T10:00:00", "US", "", utc(2024, 1, 15, 15), TZ_ASSUMED, True),  # several zones: New York
        # US DST transition days (America/New_York): 2024-03-10 and 2024-11-03
        ("2024-03-10T01:59:00", "US", "NY", utc(2024, 3, 10, 6, 59), TZ_LOCATION, True),
        ("2024-03-10T03:00:00", "US", "NY", utc(2024, 3, 10, 7), TZ_LOCATION, True),
        ("2024-03-10T02:30:00", "US", "NY", utc(2024, 3, 10, 7, 30), TZ_LOCATION, True),  # does not exist
        ("2024-11-03T01:30:00", "US", "NY", utc(2024, 11, 3, 5, 30), TZ_LOCATION, True),  # twice: first (EDT)
        ("2024-11-03T02:30:00", "US", "NY", utc(2024, 11, 3, 7, 30), TZ_LOCATION, True),
        # abroad: CET / CEST (the country's one zone), Canada, Australia (state), Thailand
        ("2024-01-15T10:00:00", "DE", "", utc(2024, 1, 15, 9), TZ_COUNTRY, True),
        ("2024-07-15T10:00:00", "DE", "", utc(2024, 7, 15, 8), TZ_COUNTRY, True),
        ("2024-03-31T03:30:00", "NL", "", utc(2024, 3, 31, 1, 30), TZ_COUNTRY, True),  # CEST starts
        ("2024-10-27T02:30:00", "NL", "", utc(2024, 10, 27, 0, 30), TZ_COUNTRY, True),  # first occurrence
        ("2024-01-15T10:00:00", "CA", "BC", utc(2024, 1, 15, 18), TZ_LOCATION, True),
        ("2024-01-15T10:00:00", "AU", "NSW", utc(2024, 1, 14, 23), TZ_LOCATION, True),  # AEDT +11
        ("2024-01-15T10:00:00", "TH", "", utc(2024, 1, 15, 3), TZ_COUNTRY, True),
        # nothing known: FedEx's home zone (Memphis, America/Chicago), assumed
        ("2024-01-15T10:00:00", "", "", utc(2024, 1, 15, 16), TZ_ASSUMED, True),
        ("2024-07-15T10:00:00", "XX", "", utc(2024, 7, 15, 15), TZ_ASSUMED, True),
    ],
)
def test_timestamp_rules(
    raw: str, country: str, region: str, expected: datetime, source: str, date_only: bool
) -> None:
    assert fedex.parse_timestamp(raw, Place(country=country, region=region)) == (expected, source, date_only)


def test_scan_without_offset_uses_its_location() -> None:
    scan = _scan("AR", "2024-07-15T10:00:00")
    scan["scanLocation"] = {"city": "BERLIN", "countryCode": "DE"}
    [event] = parse(_response(scan))
    assert (event.occurred_at, event.tz_source, event.local_time) == (
        utc(2024, 7, 15, 8), TZ_COUNTRY, "2024-07-15T10:00:00")


@pytest.mark.parametrize("raw", ["", "yesterday", "2024-13-01T00:00:00", "2024-04-26T25:00:00-07:00"])
def test_unreadable_timestamps(raw: str) -> None:
    with pytest.raises(PayloadError):
        fedex.parse_timestamp(raw)
    with pytest.raises(PayloadError):
        parse(_response(_scan("AR", raw)))


# --- identity -----------------------------------------------------------------------------------


def test_ids_are_deterministic_and_ignore_free_text() -> None:
    first = parse((SAMPLES / TWO_RESULTS).read_bytes())
    assert [e.event_id for e in first] == [e.event_id for e in parse((SAMPLES / TWO_RESULTS).read_bytes())]
    body = _load(TWO_RESULTS)
    for result in body["output"]["completeTrackResults"][0]["trackResults"]:
        for scan in result["scanEvents"]:
            scan["eventDescription"] = "reworded"
            scan.setdefault("scanLocation", {})["city"] = "SOMEWHERE ELSE"
            scan["scanLocation"]["streetLines"] = ["1 New Street"]
            scan["exceptionDescription"] = "reworded too"
    assert [e.event_id for e in parse(body)] == [e.event_id for e in first]


def test_id_formula() -> None:
    events = parse((SAMPLES / TWO_RESULTS).read_bytes())
    hp, failed = events[1], events[16]
    assert hp.event_id == derive_event_id("fedex", "776094337676", hp.occurred_at, "HP")
    assert failed.event_id == derive_event_id("fedex", "776094337676", failed.occurred_at, "DE/08")


# --- malformed input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [b"", b"  ", b"not json", b"<xml/>", b"[]", b"42", b"null", b"{}", b'{"output": []}', b'{"output": {}}',
     b'{"output": {"completeTrackResults": [5]}}',
     b'{"output": {"completeTrackResults": [{"trackResults": ["x"]}]}}',
     b'{"output": {"completeTrackResults": [{"trackResults": [{"scanEvents": [7]}]}]}}',
     b'{"output": {"completeTrackResults": [{"trackResults": [{"scanEvents": [{"eventType": "PU",'
     b' "date": "2024-01-01T10:00:00Z"}]}]}]}}',  # no tracking number anywhere
     b'{"errors": []}', b'{"unexpected": true}'],
)
def test_malformed_payloads(payload: bytes) -> None:
    with pytest.raises(PayloadError):
        parse(payload)


def test_non_bytes_payload() -> None:
    with pytest.raises(PayloadError):
        fedex.parse("{}", {}, RECEIVED)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", [*EVENT_SAMPLES, ERROR])
def test_truncated_samples(name: str) -> None:
    payload = (SAMPLES / name).read_bytes()
    assert_prefixes_raise(parse, payload, cuts(payload, 40, end=len(payload) - 2))


test_arbitrary_bytes_only_raise_parse_errors = arbitrary_bytes_test(parse, max_examples=150)


def _wrap(data: st.DataObject, value: Any) -> Any:
    if data.draw(st.booleans()):
        return {"output": {"completeTrackResults": value}}
    return value


test_arbitrary_json_only_raises_parse_errors = arbitrary_json_test(parse, max_examples=200, wrap=_wrap)


def _check(event: TrackingEvent) -> None:
    check_event(event)
    assert event.occurred_at.tzinfo is not None and event.occurred_at.utcoffset() is not None
    assert event.tracking_number and event.code


test_mutated_samples_only_raise_parse_errors = mutated_samples_test(
    parse, _load, EVENT_SAMPLES, max_examples=200, check=_check
)


# --- Advanced Integrated Visibility (AIV) webhook ------------------------------------------------


def _aiv(*scans: dict[str, Any], number: str = "123456789012", attempt: int = 1) -> dict[str, Any]:
    """An AIV push as FedEx's TestWebhookOutputVO schema describes it: the Track API envelope plus
    ``outputMetaData`` (push time stamp and attempt number) and a transaction id."""
    return {
        "transactionId": "624deea6-b709-470c-8c39-4b5511281492",
        "outputMetaData": [{"timeStamp": "2024-04-26T14:51:00Z", "attempt": attempt}],
        **_response(*scans, number=number),
    }


@pytest.mark.parametrize(
    ("scan", "status", "substatus", "code"),
    [
        (_scan("OC", "2024-04-24T15:30:57-05:00"), "pre_transit", None, "OC"),
        (_scan("PU", "2024-04-24T18:03:00-07:00"), _IT, None, "PU"),
        (_scan("AR"), _IT, None, "AR"),
        (_scan("OD", "2024-04-26T08:01:00-07:00", derivedStatusCode="IT"), "out_for_delivery", None, "OD"),
        (_scan("DE", exceptionCode="08"), "failed_attempt", "recipient_absent", "DE"),
        (_scan("HP", derivedStatusCode="IT"), "available_for_pickup", "at_pickup_point", "HP"),
        (_scan("DL", "2024-04-26T09:26:00-07:00"), "delivered", None, "DL"),
        (_scan("ZZ"), "unknown", "unmapped_code", "ZZ"),
    ],
)
def test_aiv_push_is_read_like_a_track_response(
    scan: dict[str, Any], status: str, substatus: str | None, code: str
) -> None:
    [event] = parse(_aiv(scan))
    [polled] = parse(_response(scan))
    assert (event.status, event.code, event.source) == (status, code, "webhook")
    if substatus is not None:
        assert event.substatus == substatus
    assert event.attributes["transaction_id"] == "624deea6-b709-470c-8c39-4b5511281492"
    # the same scan, pushed or polled, is one event: same id, same status and instant
    assert (event.event_id, event.occurred_at, event.status) == (polled.event_id, polled.occurred_at, polled.status)
    assert polled.source == "poll"


def test_aiv_redelivery_gives_the_same_events() -> None:
    first = parse(_aiv(_scan("AR"), _scan("DP", "2024-04-26T09:00:00-07:00"), attempt=1))
    again = parse(_aiv(_scan("AR"), _scan("DP", "2024-04-26T09:00:00-07:00"), attempt=2))
    assert [e.event_id for e in first] == [e.event_id for e in again]
    assert len({e.event_id for e in first}) == 2


def test_aiv_push_without_scans_gives_no_events() -> None:
    body = _aiv()
    body["output"]["completeTrackResults"][0]["trackResults"][0]["estimatedDeliveryTimeWindow"] = {
        "window": {"begins": "2024-04-27T09:00:00-07:00", "ends": "2024-04-27T12:00:00-07:00"}}
    assert parse(body) == []


def test_ingress_marked_track_response_is_a_push() -> None:
    events = fedex.parse(as_payload(_response(_scan("AR"))), {"source": "webhook"}, RECEIVED)
    assert [e.source for e in events] == ["webhook"]
    assert "transaction_id" not in events[0].attributes
    polled = fedex.parse(as_payload(_response(_scan("AR"))), {"source": "poll"}, RECEIVED)
    assert [e.source for e in polled] == ["poll"]


def test_aiv_samples_rewrapped_keep_every_event() -> None:
    for name in EVENT_SAMPLES:
        body = _load(name)
        pushed = parse({"outputMetaData": [{"attempt": 1}], **body})
        polled = parse(body)
        assert [e.event_id for e in pushed] == [e.event_id for e in polled], name
        assert {e.source for e in pushed} == {"webhook"}, name


_SECRET = "aiv-security-token"
_BODY = b'{"outputMetaData":[{"attempt":1}],"output":{"completeTrackResults":[]}}'
_MAC = hmac.new(_SECRET.encode(), _BODY, hashlib.sha256).digest()


@pytest.mark.parametrize(
    ("headers", "ok"),
    [
        ({"fdx-signature": base64.b64encode(_MAC).decode()}, True),
        ({"FDX-Signature": base64.b64encode(_MAC).decode()}, True),  # header names are case-insensitive
        ({"fdx-signature": f" {base64.b64encode(_MAC).decode()} "}, True),
        ({"fdx-signature": _MAC.hex()}, True),  # FedEx's prose also says "hex encoding"
        ({"fdx-signature": _MAC.hex().upper()}, True),
        ({}, False),
        ({"fdx-signature": ""}, False),
        ({"fdx-signature": base64.b64encode(_MAC[:-1]).decode()}, False),
        ({"fdx-signature": base64.b64encode(b"x" * 32).decode()}, False),
        ({"fdx-signature": base64.urlsafe_b64encode(_MAC).decode() + "!"}, False),
        ({"fdx-signature": "not base64 ✓"}, False),
        ({"x-fedex-signature": base64.b64encode(_MAC).decode()}, False),
    ],
)
def test_fdx_signature(headers: dict[str, str], ok: bool) -> None:
    if ok:
        fedex.verify_webhook(_BODY, headers, _SECRET)
    else:
        with pytest.raises(SignatureError):
            fedex.verify_webhook(_BODY, headers, _SECRET)


def test_fdx_signature_covers_the_exact_bytes_and_the_key() -> None:
    good = {"fdx-signature": base64.b64encode(_MAC).decode()}
    with pytest.raises(SignatureError, match="does not match"):
        fedex.verify_webhook(_BODY + b" ", good, _SECRET)
    with pytest.raises(SignatureError, match="does not match"):
        fedex.verify_webhook(_BODY, good, _SECRET + "x")
    with pytest.raises(SignatureError, match="configured"):
        fedex.verify_webhook(_BODY, good, "")
