from __future__ import annotations

import copy
import csv
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carriers import dhl_express
from carriers.base import CarrierErrorResponse, ParseError, PayloadError, load_mapping_file
from schemas.events import TZ_ASSUMED, TZ_GIVEN, TZ_LOCATION, TZ_LOCATION_CODE, Location, TrackingEvent, derive_event_id
from tests.carriers.properties import (
    RECEIVED,
    arbitrary_bytes_test,
    arbitrary_document_test,
    arbitrary_json_test,
    as_payload,
    assert_prefixes_raise,
    carrier_samples,
    check_instant,
    cuts,
    json_loader,
    utc,
)

SAMPLES = carrier_samples("dhl_express")
ROOT = SAMPLES.parent
MYDHL = "mydhl-api-tracking-response-doc-example.json"
DELIVERED_2009 = "xmlpi-tracking-response-delivered-2009.xml"
PICKED_UP = "xmlpi-tracking-response-picked-up.xml"
NOT_FOUND = "xmlpi-tracking-response-not-found.xml"
HKG_LEH = "xmlpi-tracking-response-refused-then-delivered-hkg-leh-2010.xml"
LAX_NYC = "mydhl-api-tracking-response-lax-nyc-karrio-test.json"
ERROR_404 = "mydhl-api-tracking-error-404-karrio-test.json"
UNIFIED = ROOT / "dhl_parcel_nl" / "unified-tracking-api-shipments-response-doc-example.json"

with (SAMPLES / "dhl-unified-status-codes-express.csv").open(newline="", encoding="utf-8") as _fh:
    CSV_ROWS = list(csv.DictReader(_fh, delimiter=";"))

# Expected statuses from DHL's event descriptions (the unified status list), written independently of
# mappings/dhl_express.json (karrio's overlapping lists deliberately not followed).
EXPECTED: dict[str, str] = {
    "101": "delivered", "102": "in_transit", "103": "exception", "104": "pre_transit",
    "PU": "in_transit", "SA": "in_transit",
    "AF": "in_transit", "PL": "in_transit", "DF": "in_transit", "AR": "in_transit", "TR": "in_transit",
    "PO": "in_transit", "RR": "in_transit", "SM": "in_transit",
    "WC": "out_for_delivery", "OK": "delivered", "PD": "delivered", "DD": "delivered",
    "NH": "failed_attempt", "CA": "failed_attempt", "ND": "failed_attempt",
    "BA": "exception", "CM": "exception", "RD": "exception", "MD": "exception", "MS": "exception", "MC": "exception",
    "AD": "in_transit", "CC": "available_for_pickup", "OH": "exception", "HP": "exception",
    "BN": "in_transit", "BR": "in_transit", "CR": "in_transit", "IC": "in_transit",
    "CD": "exception", "UD": "exception", "SS": "exception", "RT": "returned_to_sender", "DS": "exception",
    "TP": "in_transit", "FD": "in_transit", "SC": "in_transit", "CS": "exception", "PY": "in_transit",
}
SUBSTATUS: dict[str, str | None] = {
    "PU": "picked_up", "WC": "driver_en_route", "OK": "delivered_recipient", "DD": "damaged", "NH": "recipient_absent",
    "BA": "address_issue", "RD": "refused", "CC": "at_pickup_point", "HP": "payment_issue", "CD": "customs_hold",
    "UD": "customs_hold", "DS": "destroyed", "RT": "returning", "MD": "delayed", "RR": "customs",
}


def parse(payload: bytes | Any) -> list[TrackingEvent]:
    return dhl_express.parse(as_payload(payload), {}, RECEIVED)


_load = json_loader(SAMPLES)


def _mydhl_event(date: str, time: str, area: str, description: str, code: str = "AF", **extra: Any) -> Any:
    body = _load(MYDHL)
    shipment = body["shipments"][0]
    shipment["events"] = [{"date": date, "time": time, "typeCode": code, "description": "x",
                           "serviceArea": [{"code": area, "description": description}], **extra}]
    return body


# --- samples ------------------------------------------------------------------------------------


def test_mydhl_doc_example() -> None:
    events = parse((SAMPLES / MYDHL).read_bytes())
    assert len(events) == 13  # shipment events only; the piece events repeat them
    assert {e.tracking_number for e in events} == {"1234567890"}
    # sorted by UTC instant: the AKL customs updates (RR, NZST) precede the SYD departure (AEST)
    assert [e.code for e in events] == ["PU", "AF", "PL", "RR", "RR", "DF", "AF", "CR", "PL", "DF", "AR", "WC", "OK"]
    assert [e.status for e in events[-3:]] == ["in_transit", "out_for_delivery", "delivered"]
    first, last = events[0], events[-1]
    assert (first.occurred_at, first.local_time, first.tz_source) == (
        utc(2023, 8, 9, 3, 56, 21), "2023-08-09 13:56:21", TZ_LOCATION_CODE)  # SYD: Sydney, AEST +10
    assert (last.occurred_at, last.local_time) == (utc(2023, 8, 9, 23, 59, 23), "2023-08-10 11:59:23")  # NZST +12
    assert last.location == Location(city="AUCKLAND", country="NZ", code="AKL", text="AUCKLAND-NZ")
    assert last.description == "Delivered : ALBY H"
    assert last.attributes["signed_by"] == "ALBY H"
    assert last.attributes["piece_ids"] == ["JD012345678901234567"]
    assert last.attributes["estimated_delivery"] == "2023-08-11T11:59:00Z"  # 23:59 in NZ
    assert last.attributes["product_code"] == "P" and last.attributes["destination_country"] == "NZ"
    assert events[4].attributes["remark"] == "Shipment has been given a release status by Customs."
    assert all(e.source == "poll" and e.mapped and e.carrier == "dhl_express" for e in events)
    assert last.event_id == derive_event_id("dhl_express", "1234567890", last.occurred_at, "OK")


def test_mydhl_lax_nyc_winter() -> None:
    """karrio's MyDHL fixture: service areas as IATA codes (LAX airport, NYC the New York city code)
    with "City, ST" descriptions and no country; no GMTOffset, so each time is read where its
    service area is: Los Angeles in January is PST (UTC-8), New York EST (UTC-5)."""
    events = parse((SAMPLES / LAX_NYC).read_bytes())
    assert [(e.code, e.status, e.substatus) for e in events] == [
        ("PU", "in_transit", "picked_up"), ("OK", "delivered", "delivered_recipient")]
    pickup, delivered = events
    assert (pickup.occurred_at, pickup.local_time, pickup.tz_source) == (
        utc(2024, 1, 15, 16, 0), "2024-01-15 08:00:00", TZ_LOCATION_CODE)  # 08:00 PST
    assert (delivered.occurred_at, delivered.local_time, delivered.tz_source) == (
        utc(2024, 1, 15, 22, 0), "2024-01-15 17:00:00", TZ_LOCATION_CODE)  # 17:00 EST
    assert (pickup.location.code if pickup.location else None) == "LAX"
    assert (delivered.location.code if delivered.location else None) == "NYC"
    assert all(e.tracking_number == "9356579890" and e.mapped and e.source == "poll" for e in events)


def test_mydhl_problem_document_with_numeric_status_is_not_found() -> None:
    """The same fixture's error answer gives ``status`` as a JSON number (404), not text."""
    with pytest.raises(CarrierErrorResponse) as caught:
        parse((SAMPLES / ERROR_404).read_bytes())
    assert caught.value.not_found is True


def test_xmlpi_delivered_2009() -> None:
    events = parse((SAMPLES / DELIVERED_2009).read_bytes())
    by_number: dict[str, list[TrackingEvent]] = {}
    for event in events:
        by_number.setdefault(event.tracking_number, []).append(event)
    assert {n: len(v) for n, v in by_number.items()} == {"3180831640": 16, "7740842550": 1, "1815115363": 2}
    bcn = by_number["3180831640"]
    assert bcn[0].code == "PU" and bcn[0].occurred_at == utc(2009, 8, 28, 11, 26)  # Barcelona, CEST
    assert bcn[0].location == Location(city="Barcelona", country="ES", code="BCN", text="Barcelona - Spain")
    ok = bcn[-1]
    assert (ok.code, ok.status, ok.occurred_at) == ("OK", "delivered", utc(2009, 8, 31, 8, 9))  # Milan, CEST
    assert ok.attributes["signed_by"] == "CAMPAGNA"
    assert "signed_by" not in bcn[0].attributes  # PU "Signatory" is an account number
    lej = next(e for e in bcn if e.location and e.location.code == "LEJ")
    assert lej.description == "Arrived at DHL facility in Leipzig - Germany"  # line break collapsed
    assert lej.occurred_at == utc(2009, 8, 28, 22, 32, 16)
    po, rw = bcn[1], bcn[2]
    assert (po.code, po.status, po.mapped) == ("PO", "in_transit", True)
    assert (rw.code, rw.status, rw.substatus, rw.mapped) == ("RW", "unknown", "unmapped_code", False)
    assert by_number["7740842550"][0].occurred_at == utc(2009, 8, 26, 2)  # Singapore +8
    assert by_number["1815115363"][0].occurred_at == utc(2009, 8, 13, 15, 58)  # Hong Kong +8
    assert bcn[0].attributes["pieces"] == "1" and bcn[0].attributes["weight"] == "0.74 K"
    assert all(e.tz_source == TZ_LOCATION_CODE for e in events)  # BCN, LEJ, BGY, MIL (Milan's airports), SIN, HKG


def test_xmlpi_picked_up() -> None:
    [event] = parse((SAMPLES / PICKED_UP).read_bytes())
    assert (event.tracking_number, event.code, event.status, event.substatus) == (
        "9053283201", "PU", "in_transit", "picked_up")
    assert (event.occurred_at, event.tz_source) == (utc(2021, 5, 5, 14, 42), TZ_LOCATION_CODE)  # KIN, UTC-5
    assert event.location == Location(city="KINGSTON", country="JM", code="KIN", text="KINGSTON-JAM")
    attrs = event.attributes
    assert attrs["estimated_delivery"] == "2021-05-08T03:59:00Z"
    assert attrs["estimated_delivery_local"] == "2021-05-07 23:59:00 GMT-04:00"
    assert attrs["reference"] == "28707" and attrs["destination_country"] == "US"


def test_xmlpi_refused_then_delivered_hkg_leh_2010() -> None:
    # USGM/postal tests/fixtures/dhl.py `tracking_response`: 13 events, Hong Kong -> Le Havre, July 2010
    events = parse((SAMPLES / HKG_LEH).read_bytes())
    assert len(events) == 13 and {e.tracking_number for e in events} == {"9422367220"}
    assert [(e.code, e.status, e.substatus) for e in events] == [
        ("PU", "in_transit", "picked_up"), ("UD", "exception", "customs_hold"),
        ("WC", "out_for_delivery", "driver_en_route"), ("RD", "exception", "refused"),
        ("PL", "in_transit", "sorted"), ("DF", "in_transit", "sorted"), ("AF", "in_transit", "sorting"),
        ("PL", "in_transit", "sorted"), ("DF", "in_transit", "sorted"), ("AF", "in_transit", "sorting"),
        ("AR", "in_transit", "sorting"), ("WC", "out_for_delivery", "driver_en_route"),
        ("OK", "delivered", "delivered_recipient")]
    assert all(e.mapped and e.tz_source == TZ_LOCATION_CODE for e in events)  # HKG, CDG, LEH
    pu, ud, rd, ok = events[0], events[1], events[3], events[-1]
    assert (pu.occurred_at, pu.local_time) == (utc(2010, 7, 17, 3, 11), "2010-07-17 11:11:00")  # HKT +8
    assert ud.occurred_at == utc(2010, 7, 19, 0, 12)  # CDG 02:12 CEST +2
    assert rd.occurred_at == utc(2010, 7, 20, 11, 28)  # LEH 13:28 CEST +2
    assert (ok.occurred_at, ok.local_time) == (utc(2010, 7, 22, 10, 25), "2010-07-22 12:25:00")  # CDG CEST
    assert ok.attributes["signed_by"] == "GTW3700"
    assert events[5].description == "Departed from DHL facility in LE HAVRE - FRANCE"  # line break collapsed
    assert events[5].location == Location(city="LE HAVRE", country="FR", code="LEH", text="LE HAVRE - FRANCE")
    assert len({e.event_id for e in events}) == 13


def test_xmlpi_not_found() -> None:
    with pytest.raises(CarrierErrorResponse) as caught:
        parse((SAMPLES / NOT_FOUND).read_bytes())
    assert caught.value.not_found is True and caught.value.tracking_number == "123456789"


def test_xmlpi_mixed_found_and_not_found() -> None:
    found = (SAMPLES / PICKED_UP).read_text()
    missing = (SAMPLES / NOT_FOUND).read_text()
    awb = missing[missing.index("<AWBInfo>"): missing.index("</AWBInfo>") + len("</AWBInfo>")]
    mixed = found.replace("<LanguageCode>", awb + "<LanguageCode>")
    assert [e.tracking_number for e in parse(mixed.encode())] == ["9053283201"]


def test_xmlpi_error_response() -> None:
    body = b"""<?xml version="1.0" encoding="UTF-8"?>
<res:ErrorResponse xmlns:res="http://www.dhl.com"><Response><ServiceHeader><SiteID>x</SiteID></ServiceHeader>
<Status><ActionStatus>Error</ActionStatus><Condition><ConditionCode>111</ConditionCode>
<ConditionData>Error in parsing request XML</ConditionData></Condition></Status></Response></res:ErrorResponse>"""
    with pytest.raises(CarrierErrorResponse, match="Error in parsing request XML") as caught:
        parse(body)
    assert caught.value.not_found is False


# --- code table: every CSV row ------------------------------------------------------------------


def test_csv_and_table() -> None:
    table = load_mapping_file("dhl_express.json")["event_codes"]
    assert len(CSV_ROWS) == 44 and {r["Service"] for r in CSV_ROWS} == {"express"}
    assert set(table) == {r["Status"] for r in CSV_ROWS} | {"PO"}
    assert set(EXPECTED) == set(table)


@pytest.mark.parametrize("row", CSV_ROWS, ids=lambda r: r["Status"])
def test_every_csv_code(row: dict[str, str]) -> None:
    mapping = dhl_express.map_event_code(row["Status"])
    assert mapping is not None and mapping.status == EXPECTED[row["Status"]], row["Description"]


@pytest.mark.parametrize(("code", "substatus"), sorted(SUBSTATUS.items()))
def test_substatus_spot_checks(code: str, substatus: str | None) -> None:
    mapping = dhl_express.map_event_code(code)
    assert mapping is not None and mapping.substatus == substatus


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_every_code_through_parse(code: str) -> None:
    [event] = parse(_mydhl_event("2024-02-01", "10:00:00", "AMS", "AMSTERDAM-NL", code))
    assert (event.code, event.status, event.mapped) == (code, EXPECTED[code], True)


@pytest.mark.parametrize(("code", "flag"), [("PD", "partial_delivery"), ("DD", "delivered_damaged")])
def test_flags(code: str, flag: str) -> None:
    [event] = parse(_mydhl_event("2024-02-01", "10:00:00", "AMS", "AMSTERDAM-NL", code, signedBy="J JANSEN"))
    assert event.attributes[flag] is True and event.attributes["signed_by"] == "J JANSEN"


def test_unmapped_code_keeps_code_and_text() -> None:
    body = _mydhl_event("2024-02-01", "10:00:00", "AMS", "AMSTERDAM-NL", "ZZ")
    body["shipments"][0]["events"][0]["description"] = "Something new"
    [event] = parse(body)
    assert (event.code, event.description, event.status, event.substatus, event.mapped) == (
        "ZZ", "Something new", "unknown", "unmapped_code", False)


# --- time ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("date", "time", "area", "description", "expected", "source"), [
    ("2024-01-15", "10:00:00", "AMS", "AMSTERDAM-NL", utc(2024, 1, 15, 9), TZ_LOCATION_CODE),  # CET
    ("2024-07-15", "10:00:00", "AMS", "AMSTERDAM-NL", utc(2024, 7, 15, 8), TZ_LOCATION_CODE),  # CEST
    ("2024-03-31", "01:30:00", "LEJ", "LEIPZIG-DE", utc(2024, 3, 31, 0, 30), TZ_LOCATION_CODE),  # spring forward day
    ("2024-03-31", "03:30:00", "LEJ", "LEIPZIG-DE", utc(2024, 3, 31, 1, 30), TZ_LOCATION_CODE),
    ("2024-10-27", "02:30:00", "LEJ", "LEIPZIG-DE", utc(2024, 10, 27, 0, 30), TZ_LOCATION_CODE),  # ambiguous: CEST
    ("2024-10-27", "03:30:00", "LEJ", "LEIPZIG-DE", utc(2024, 10, 27, 2, 30), TZ_LOCATION_CODE),
    ("2024-01-15", "10:00:00", "SYD", "SYDNEY-AU", utc(2024, 1, 14, 23), TZ_LOCATION_CODE),  # AEDT +11
    ("2024-07-15", "10:00:00", "PER", "PERTH-AU", utc(2024, 7, 15, 2), TZ_LOCATION_CODE),  # the airport's zone, +8
    ("2024-07-15", "10:00:00", "LAX", "LOS ANGELES,CA-USA", utc(2024, 7, 15, 17), TZ_LOCATION_CODE),  # PDT
    ("2024-07-15", "10:00:00", "ZZZ", "SOMEWHERE,NY-USA", utc(2024, 7, 15, 14), TZ_LOCATION),  # not an airport: NY
    ("2024-07-15", "10:00:00", "KIN", "KINGSTON-JAM", utc(2024, 7, 15, 15), TZ_LOCATION_CODE),  # no DST
    ("2024-07-15", "10:00:00", "MAD", "Madrid - Spain", utc(2024, 7, 15, 8), TZ_LOCATION_CODE),
    ("2024-07-15", "10:00:00", "", "", utc(2024, 7, 15, 8), TZ_ASSUMED),  # Europe/Berlin
    ("2024-07-15", "10:00:00", "XYZ", "NOWHERE-QQ", utc(2024, 7, 15, 8), TZ_ASSUMED),
])
def test_local_time_rules(date: str, time: str, area: str, description: str, expected: datetime,
                          source: str) -> None:
    [event] = parse(_mydhl_event(date, time, area, description))
    assert (event.occurred_at, event.tz_source, event.local_time) == (expected, source, f"{date} {time}")


@pytest.mark.parametrize(("offset", "expected"), [("+09:00", utc(2024, 7, 15, 1)), ("-04:00", utc(2024, 7, 15, 14)),
                                                  ("+0530", utc(2024, 7, 15, 4, 30))])
def test_gmt_offset_is_given(offset: str, expected: datetime) -> None:
    [event] = parse(_mydhl_event("2024-07-15", "10:00:00", "SYD", "SYDNEY-AU", GMTOffset=offset))
    assert (event.occurred_at, event.tz_source, event.local_time) == (expected, TZ_GIVEN,
                                                                      f"2024-07-15 10:00:00 {offset}")


def test_offset_inside_time_is_given() -> None:
    [event] = parse(_mydhl_event("2024-07-15", "10:00:00+02:00", "SYD", "SYDNEY-AU"))
    assert (event.occurred_at, event.tz_source) == (utc(2024, 7, 15, 8), TZ_GIVEN)


# --- other shapes -------------------------------------------------------------------------------


def test_piece_events_when_shipment_has_none() -> None:
    body = _load(MYDHL)
    del body["shipments"][0]["events"]
    events = parse(body)
    assert len(events) == 10 and events[-1].code == "OK"
    assert {e.tracking_number for e in events} == {"1234567890"}
    assert events[0].attributes["piece_tracking_number"] == "JD012345678901234567"
    duplicate = _load(MYDHL)
    del duplicate["shipments"][0]["events"]
    duplicate["shipments"][0]["pieces"].append(copy.deepcopy(duplicate["shipments"][0]["pieces"][0]))
    assert len(parse(duplicate)) == 10  # the same scan on two pieces is one event


def test_several_shipments() -> None:
    body = _load(MYDHL)
    second = copy.deepcopy(body["shipments"][0])
    second["shipmentTrackingNumber"] = "9356579890"
    body["shipments"].append(second)
    events = parse(body)
    assert [e.tracking_number for e in events].count("9356579890") == 13 and len(events) == 26


def test_unified_express_shape() -> None:
    body = json.loads(UNIFIED.read_bytes())
    events_body = body["shipments"][0]["events"]
    events_body[0]["status"] = "WC"
    events_body.append({**events_body[0], "status": "Processed at AMSTERDAM", "statusCode": "transit",
                        "timestamp": "2018-03-01T20:00:00Z"})
    first, second = parse(body)
    assert (first.carrier, first.code, first.status, first.attributes["mapping_layer"]) == (
        "dhl_express", "transit", "in_transit", "unified_status_code")
    assert first.attributes["status_text"] == "Processed at AMSTERDAM"
    assert (second.code, second.status, second.occurred_at) == ("WC", "out_for_delivery", utc(2018, 3, 2, 6, 53, 47))


@pytest.mark.parametrize(("body", "not_found"), [
    ({"instance": "/expressapi/shipments/1234567890/tracking", "detail": "896: The requested shipment cannot be found",
      "title": "Not Found", "message": "Not Found", "status": "404"}, True),
    ({"instance": "/expressapi/tracking", "detail": "Missing mandatory parameters: shipperAccountNumber",
      "title": "Missing parameters", "message": "Bad request", "status": "400"}, False),
    ({"shipments": []}, True),
])
def test_json_error_answers(body: dict[str, Any], not_found: bool) -> None:
    with pytest.raises(CarrierErrorResponse) as caught:
        parse(body)
    assert caught.value.not_found is not_found


def test_ids_are_deterministic_and_ignore_location_text() -> None:
    first = parse((SAMPLES / MYDHL).read_bytes())
    assert [e.event_id for e in first] == [e.event_id for e in parse((SAMPLES / MYDHL).read_bytes())]
    body = _load(MYDHL)
    for event in body["shipments"][0]["events"]:
        area = event["serviceArea"][0]
        area["description"] = "RENAMED " + area["description"]
        event["description"] = "reworded"
    assert [e.event_id for e in first] == [e.event_id for e in parse(body)]
    xml = (SAMPLES / DELIVERED_2009).read_bytes()
    assert [e.event_id for e in parse(xml)] == [e.event_id for e in parse(xml.replace(b"Barcelona -", b"BCN City -"))]


# --- malformed input ----------------------------------------------------------------------------


@pytest.mark.parametrize("payload", [
    b"", b" ", b"{}", b"[]", b"42", b"null", b"\xff", b"<html><body>502</body></html>", b"<a>",
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "x">]><TrackingResponse/>',
    b"<TrackingResponse/>",
    b"<TrackingResponse><AWBInfo><Status><ActionStatus>success</ActionStatus></Status><ShipmentInfo>"
    b"<ShipmentEvent><Date>2024-13-01</Date><Time>10:00:00</Time><ServiceEvent><EventCode>PU</EventCode>"
    b"</ServiceEvent></ShipmentEvent></ShipmentInfo><AWBNumber>1</AWBNumber></AWBInfo></TrackingResponse>",
    b'{"shipments": [{"shipmentTrackingNumber": "1", "events": [{"time": "10:00:00", "typeCode": "PU"}]}]}',
    b'{"shipments": [{"shipmentTrackingNumber": "1", "events": [{"date": "2024-01-01", "time": "10:00:00"}]}]}',
    b'{"shipments": [{"shipmentTrackingNumber": "1", "events": [{"date": "2024-01-01", "time": "25:00:00",'
    b' "typeCode": "PU"}]}]}',
    b'{"shipments": [{"shipmentTrackingNumber": "1", "events": [{"date": "2024-01-01", "time": "10:00:00",'
    b' "typeCode": "PU", "GMTOffset": "soon"}]}]}',
    b'{"shipments": [{"events": []}]}', b'{"shipments": [7]}',
])
def test_malformed_payloads(payload: bytes) -> None:
    with pytest.raises(PayloadError):
        parse(payload)


@pytest.mark.parametrize("name", [MYDHL, DELIVERED_2009, PICKED_UP, NOT_FOUND, HKG_LEH, LAX_NYC])
def test_truncated_samples(name: str) -> None:
    payload = (SAMPLES / name).read_bytes()
    end = payload.rindex(b"Response>") if name.endswith(".xml") else len(payload) - 2  # before a trailing comment
    assert_prefixes_raise(parse, payload, cuts(payload, 60, end=end))


test_arbitrary_bytes_only_raise_parse_errors = arbitrary_bytes_test(parse, max_examples=200)


XMLISH = st.recursive(
    st.text(alphabet="abc<>/=\"' PUOK0123-:T", max_size=20),
    lambda inner: st.tuples(st.sampled_from(["TrackingResponse", "AWBInfo", "Status", "ActionStatus",
                                             "ShipmentInfo", "ShipmentEvent", "Date", "Time", "ServiceEvent",
                                             "EventCode", "AWBNumber", "ServiceArea", "Description", "PieceInfo",
                                             "PieceEvent", "ErrorResponse", "Condition"]),
                            st.lists(inner, max_size=3)).map(lambda t: f"<{t[0]}>{''.join(t[1])}</{t[0]}>"),
    max_leaves=15,
)


test_xmlish_text_only_raises_parse_errors = arbitrary_document_test(
    parse, XMLISH, max_examples=200, check=check_instant
)


test_arbitrary_json_only_raises_parse_errors = arbitrary_json_test(parse, max_examples=200)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_mutated_sample_only_raises_parse_errors(
    data: st.DataObject, mutate: Callable[[st.DataObject, Any], Any]
) -> None:
    try:
        events = parse(json.dumps(mutate(data, _load(MYDHL))).encode())
    except ParseError:
        return
    for event in events:
        assert event.occurred_at.tzinfo is not None and event.tracking_number
