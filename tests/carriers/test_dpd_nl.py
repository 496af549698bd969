from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carriers import dpd_nl
from carriers.base import CarrierErrorResponse, ParseError, PayloadError, load_mapping_file
from schemas.events import TZ_ASSUMED, TZ_COUNTRY, Location, TrackingEvent, derive_event_id
from tests.carriers.properties import (
    RECEIVED,
    arbitrary_bytes_test,
    arbitrary_document_test,
    assert_prefixes_raise,
    carrier_samples,
    check_instant,
    cuts,
    mutated_xml_test,
    utc,
    xml_documents,
)

SAMPLES = carrier_samples("dpd_nl")
RESPONSE = "parcellifecycle-getTrackingData-response.xml"
REQUEST = "parcellifecycle-getTrackingData-request.xml"
FAULT = "parcellifecycle-fault-response.xml"
PUSH = "tracking-push-service-request-query.txt"
ACK = "tracking-push-service-ack-response.xml"
NUMBER = "05308801410058"
HEADERS = {"X-Trackstream-Tracking-Number": NUMBER}

# Written from the carrier's public sources, independently of mappings/dpd_nl.json.
POLL_EXPECTED: dict[str, str] = {
    "PickedUp": "in_transit", "BetweenDepots": "in_transit", "Depot": "in_transit",
    "Courier": "out_for_delivery",
    "DeliveryFailure": "failed_attempt",  # labelled "Parcel out for delivery" by DPD
    "ParcelShop": "available_for_pickup",  # labelled "Parcel out for delivery" by DPD
    "ReturningFromDelivery": "failed_attempt",  # karrio: out_for_delivery (questionable)
    "Delivered": "delivered",
}
PUSH_EXPECTED: dict[str, str] = {
    "start_order": "pre_transit", "pickup_driver": "in_transit", "pickup_depot": "in_transit",
    "delivery_depot": "in_transit", "delivery_carload": "out_for_delivery", "delivery_nab": "failed_attempt",
    "delivery_notification": "exception", "delivery_customer": "delivered",
    "delivery_shop": "available_for_pickup", "pickup_by_consignee": "delivered",
    "no_pickup_by_consignee": "exception", "error_pickup": "exception", "error_return": "returned_to_sender",
}


def parse(payload: bytes, headers: dict[str, str] | None = None) -> list[TrackingEvent]:
    return dpd_nl.parse(payload, HEADERS if headers is None else headers, RECEIVED)


def _status_info(
    code: str, date: str | None, location: str | None = "Mechelen (BE)", reached: str = "true",
    description: str = "Some text",
) -> str:
    parts = [f"<status>{code}</status>", "<label><content>Label text</content></label>",
             f"<description><content><content>{description}</content></content></description>",
             f"<statusHasBeenReached>{reached}</statusHasBeenReached>",
             "<isCurrentStatus>false</isCurrentStatus>"]
    if location is not None:
        parts.append(f"<location><content>{location}</content></location>")
    if date is not None:
        parts.append(f"<date><content>{date}</content></date>")
    return f"<statusInfo>{''.join(parts)}</statusInfo>"


def _response(*infos: str) -> bytes:
    return (
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        '<getTrackingDataResponse xmlns="http://dpd.com/common/service/types/ParcelLifeCycleService/2.0">'
        f"<trackingresult>{''.join(infos)}</trackingresult></getTrackingDataResponse></soap:Body></soap:Envelope>"
    ).encode()


def _push(**fields: str) -> bytes:
    base = {"statusdate": "05012022100200", "pnr": "01906000683796", "status": "start_order", "pushid": "1"}
    base.update(fields)
    return urlencode(base).encode()


# --- samples ------------------------------------------------------------------------------------


def test_tracking_response_sample() -> None:
    events = parse((SAMPLES / RESPONSE).read_bytes())
    # 15 statusInfo entries; the second DeliveryFailure (same second, Aschaffenburg) is the same scan
    assert [e.code for e in events] == [
        "BetweenDepots", "BetweenDepots", "Depot", "Courier", "Courier", "DeliveryFailure", "ParcelShop",
        "ParcelShop", "ParcelShop", "ParcelShop", "Courier", "Courier", "PickedUp", "ReturningFromDelivery",
    ]
    assert [e.status for e in events] == [
        "in_transit", "in_transit", "in_transit", "out_for_delivery", "out_for_delivery", "failed_attempt",
        "available_for_pickup", "available_for_pickup", "available_for_pickup", "available_for_pickup",
        "out_for_delivery", "out_for_delivery", "in_transit", "failed_attempt",
    ]
    assert [e.occurred_at for e in events] == [  # CEST: local - 2 h, 12-hour clock read correctly
        utc(2021, 8, 17, 17, 11, 26), utc(2021, 8, 17, 17, 48), utc(2021, 8, 18, 2, 9, 55),
        utc(2021, 8, 18, 5, 34, 34), utc(2021, 8, 18, 8, 14), utc(2021, 8, 18, 12, 43, 31),
        utc(2021, 8, 18, 14, 9, 35), utc(2021, 8, 18, 14, 15, 56), utc(2021, 8, 18, 14, 16, 57),
        utc(2021, 8, 18, 14, 41), utc(2021, 8, 19, 8, 30), utc(2021, 8, 19, 9, 32, 51),
        utc(2021, 8, 19, 13, 57, 33), utc(2021, 8, 19, 15, 11, 26),
    ]
    assert all(e.tracking_number == NUMBER and e.carrier == "dpd_nl" for e in events)
    assert all(e.source == "poll" and e.mapped and e.tz_source == TZ_COUNTRY for e in events)
    assert all(e.received_at == RECEIVED for e in events)
    first = events[0]
    assert first.local_time == "8/17/2021 7:11:26 PM"
    assert first.location == Location(city="Puurs", country="BE", text="Puurs (BE)")
    assert first.description == "The parcel is at the parcel dispatch centre."
    assert first.attributes == {"service": "DPD PARCELSHOP DELIVERY", "label": "In transit"}
    assert first.event_id == derive_event_id("dpd_nl", NUMBER, first.occurred_at, "BetweenDepots")
    assert events[4].location == Location(city="Aschaffenburg", country="DE", text="Aschaffenburg (DE)")
    assert events[5].attributes["duplicate_locations"] == ["Aschaffenburg (DE)"]
    assert events[5].location is not None and events[5].location.city == "Mechelen"
    assert events[6].attributes["label"] == "Parcel out for delivery"  # label does not match the status
    assert events[-1].attributes["current"] is True
    assert all("current" not in e.attributes for e in events[:-1])
    assert len({e.event_id for e in events}) == len(events)


def test_tracking_number_header_is_normalized_and_case_insensitive() -> None:
    events = parse((SAMPLES / RESPONSE).read_bytes(), {"x-trackstream-tracking-number": " 0530 8801 410058 "})
    assert {e.tracking_number for e in events} == {NUMBER}


def test_response_without_tracking_number_header_is_rejected() -> None:
    with pytest.raises(PayloadError, match="X-Trackstream-Tracking-Number"):
        parse((SAMPLES / RESPONSE).read_bytes(), {})


def test_fault_sample_is_an_authentication_error() -> None:
    with pytest.raises(CarrierErrorResponse, match="DELICOM_ERR_AUTHENTICATION") as caught:
        parse((SAMPLES / FAULT).read_bytes(), {})
    assert caught.value.not_found is False


def test_not_found_fault() -> None:
    payload = (SAMPLES / FAULT).read_bytes().replace(
        b"DELICOM_ERR_AUTHENTICATION", b"DELICOM_ERR_PARCEL_NOT_FOUND"
    ).replace(b"Authentication failure, check delisId and password.", b"Parcel not found")
    with pytest.raises(CarrierErrorResponse) as caught:
        parse(payload)
    assert caught.value.not_found is True


def test_request_sample_is_not_a_response() -> None:
    with pytest.raises(PayloadError, match="request"):
        parse((SAMPLES / REQUEST).read_bytes())


def test_push_sample() -> None:
    [event] = parse((SAMPLES / PUSH).read_bytes(), {})
    assert (event.carrier, event.tracking_number, event.code) == ("dpd_nl", "01906000683796", "start_order")
    assert (event.status, event.substatus, event.mapped) == ("pre_transit", "announced", True)
    assert event.occurred_at == utc(2022, 1, 5, 9, 2)  # 05.01.2022 10:02:00 CET
    assert (event.local_time, event.tz_source, event.source) == ("05012022100200", TZ_ASSUMED, "webhook")
    assert event.location == Location(code="0998")
    assert event.description == "start_order"
    assert event.attributes == {"push_id": "92056930"}  # pod=0 / weight=0 / blanks dropped
    assert event.event_id == derive_event_id("dpd_nl", "01906000683796", event.occurred_at, "start_order")


def test_ack_response_matches_sample() -> None:
    expected = (SAMPLES / ACK).read_bytes().strip()
    assert dpd_nl.ack_response((SAMPLES / PUSH).read_bytes()) == expected


def test_ack_response_escapes_and_tolerates_garbage() -> None:
    assert dpd_nl.ack_response(b"pushid=%3Cx%26y%3E&pnr=1") == (
        b"<push><pushid>&lt;x&amp;y&gt;</pushid><status>OK</status></push>"
    )
    assert dpd_nl.ack_response() == b"<push><pushid></pushid><status>OK</status></push>"
    assert dpd_nl.ack_response(b"\xff\xfe") == b"<push><pushid></pushid><status>OK</status></push>"


def test_push_attributes_and_query_variants() -> None:
    payload = _push(ref="Order 12/3", receiver="Müller", pod="1", weight="2.5", scaninfo="Zustellung",
                    services="PRE", depot="0163")
    for variant in (payload, b"?" + payload, b"https://hooks.example/dpd/x?" + payload, b"  " + payload + b"\n"):
        [event] = parse(variant, {})
        assert event.attributes == {
            "push_id": "1", "reference": "Order 12/3", "receiver": "Müller", "pod": "1", "weight": "2.5",
            "scan_info": "Zustellung", "services": "PRE",
        }
        assert event.description == "Zustellung"
        assert event.location == Location(code="0163")


def test_push_first_value_of_a_repeated_key_wins() -> None:
    [event] = parse(_push() + b"&status=delivery_customer", {})
    assert event.code == "start_order"


# --- code tables --------------------------------------------------------------------------------


def test_tables_cover_exactly_the_note_codes() -> None:
    data = load_mapping_file("dpd_nl.json")
    assert set(data["status"]) == set(POLL_EXPECTED)
    assert set(data["push_status"]) == set(PUSH_EXPECTED)


@pytest.mark.parametrize(("code", "status"), sorted(POLL_EXPECTED.items()))
def test_every_poll_status(code: str, status: str) -> None:
    [event] = parse(_response(_status_info(code, "8/17/2021 7:11:26 PM")))
    assert (event.code, event.status, event.mapped) == (code, status, True)
    mapping = dpd_nl.map_status(code.upper())  # case-insensitive
    assert mapping is not None and mapping.status == status


@pytest.mark.parametrize(("code", "status"), sorted(PUSH_EXPECTED.items()))
def test_every_push_status(code: str, status: str) -> None:
    [event] = parse(_push(status=code), {})
    assert (event.code, event.status, event.mapped, event.source) == (code, status, True, "webhook")
    mapping = dpd_nl.map_push_status(code.upper())
    assert mapping is not None and mapping.status == status


@pytest.mark.parametrize(
    ("code", "substatus"),
    [("ParcelShop", "at_pickup_point"), ("Courier", "driver_en_route"), ("PickedUp", "picked_up")],
)
def test_poll_substatuses(code: str, substatus: str) -> None:
    mapping = dpd_nl.map_status(code)
    assert mapping is not None and mapping.substatus == substatus


@pytest.mark.parametrize(
    ("code", "substatus"),
    [("delivery_nab", "recipient_absent"), ("pickup_by_consignee", "collected_by_recipient"),
     ("delivery_shop", "at_pickup_point"), ("error_return", "returning")],
)
def test_push_substatuses(code: str, substatus: str) -> None:
    mapping = dpd_nl.map_push_status(code)
    assert mapping is not None and mapping.substatus == substatus


def test_unknown_poll_status_is_unmapped() -> None:
    [event] = parse(_response(_status_info("Teleported", "8/17/2021 7:11:26 PM", description="Beamed up")))
    assert (event.status, event.substatus, event.mapped) == ("unknown", "unmapped_code", False)
    assert (event.code, event.description) == ("Teleported", "Beamed up")


def test_unknown_push_status_is_unmapped() -> None:
    [event] = parse(_push(status="delivery_drone"), {})
    assert (event.status, event.substatus, event.mapped, event.code) == (
        "unknown", "unmapped_code", False, "delivery_drone"
    )


def test_shipment_info_is_not_an_event() -> None:
    assert dpd_nl.map_status("SHIPMENT") is None
    events = parse((SAMPLES / RESPONSE).read_bytes())
    assert "SHIPMENT" not in {e.code for e in events}


# --- time ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "location", "expected", "tz_source"),
    [
        ("8/17/2021 7:11:26 PM", "Puurs (BE)", utc(2021, 8, 17, 17, 11, 26), TZ_COUNTRY),  # CEST, %I not %H
        ("1/15/2022 9:00:00 AM", "Amsterdam (NL)", utc(2022, 1, 15, 8), TZ_COUNTRY),  # CET
        ("1/15/2022 12:05:00 AM", "Amsterdam (NL)", utc(2022, 1, 14, 23, 5), TZ_COUNTRY),  # midnight
        ("1/15/2022 12:05:00 PM", "Amsterdam (NL)", utc(2022, 1, 15, 11, 5), TZ_COUNTRY),  # noon
        ("3/27/2022 1:59:59 AM", "Utrecht (NL)", utc(2022, 3, 27, 0, 59, 59), TZ_COUNTRY),  # before the jump
        ("3/27/2022 3:00:00 AM", "Utrecht (NL)", utc(2022, 3, 27, 1), TZ_COUNTRY),  # after the jump
        ("3/27/2022 2:30:00 AM", "Utrecht (NL)", utc(2022, 3, 27, 1, 30), TZ_COUNTRY),  # gap: offset before
        ("10/30/2022 1:30:00 AM", "Utrecht (NL)", utc(2022, 10, 29, 23, 30), TZ_COUNTRY),
        ("10/30/2022 2:30:00 AM", "Utrecht (NL)", utc(2022, 10, 30, 0, 30), TZ_COUNTRY),  # twice: first
        ("10/30/2022 3:30:00 AM", "Utrecht (NL)", utc(2022, 10, 30, 2, 30), TZ_COUNTRY),
        ("7/1/2022 10:00:00 AM", "London (GB)", utc(2022, 7, 1, 9), TZ_COUNTRY),  # BST
        ("1/10/2022 10:00:00 AM", "London (GB)", utc(2022, 1, 10, 10), TZ_COUNTRY),  # GMT
        ("7/1/2022 10:00:00 AM", "Warszawa (PL)", utc(2022, 7, 1, 8), TZ_COUNTRY),
        ("7/1/2022 10:00:00 AM", "Aschaffenburg (de)", utc(2022, 7, 1, 8), TZ_COUNTRY),
        ("7/1/2022 10:00:00 AM", "Helsinki (FI)", utc(2022, 7, 1, 7), TZ_COUNTRY),  # EEST
        ("7/1/2022 10:00:00 AM", "Nowhere (XX)", utc(2022, 7, 1, 8), TZ_ASSUMED),  # unknown country
        ("7/1/2022 10:00:00 AM", "Mechelen", utc(2022, 7, 1, 8), TZ_ASSUMED),  # no country
        ("7/1/2022 10:00:00 AM", None, utc(2022, 7, 1, 8), TZ_ASSUMED),  # no location at all
        ("1/10/2022 10:00:00 AM", None, utc(2022, 1, 10, 9), TZ_ASSUMED),
        ("8/17/2021 19:11:26", "Puurs (BE)", utc(2021, 8, 17, 17, 11, 26), TZ_COUNTRY),  # 24-hour
        ("17-08-2021 19:11:26", "Puurs (BE)", utc(2021, 8, 17, 17, 11, 26), TZ_COUNTRY),  # day first
        ("17.08.2021 19:11", "Puurs (BE)", utc(2021, 8, 17, 17, 11), TZ_COUNTRY),
    ],
)
def test_poll_timestamp_rules(text: str, location: str | None, expected: datetime, tz_source: str) -> None:
    [event] = parse(_response(_status_info("Courier", text, location)))
    assert (event.occurred_at, event.tz_source, event.local_time) == (expected, tz_source, text)


def test_unknown_country_keeps_location() -> None:
    [event] = parse(_response(_status_info("Courier", "7/1/2022 10:00:00 AM", "Nowhere (XX)")))
    assert event.location == Location(city="Nowhere", country="XX", text="Nowhere (XX)")
    [event] = parse(_response(_status_info("Courier", "7/1/2022 10:00:00 AM", "Mechelen")))
    assert event.location == Location(text="Mechelen")


@pytest.mark.parametrize(
    ("statusdate", "expected"),
    [
        ("05012022100200", utc(2022, 1, 5, 9, 2)),  # CET
        ("05072022100200", utc(2022, 7, 5, 8, 2)),  # CEST (schemabase's fixed +01:00 would be wrong)
        ("27032022015959", utc(2022, 3, 27, 0, 59, 59)),
        ("27032022030000", utc(2022, 3, 27, 1)),
        ("27032022023000", utc(2022, 3, 27, 1, 30)),  # gap
        ("30102022023000", utc(2022, 10, 30, 0, 30)),  # repeated hour: first occurrence
        ("30102022033000", utc(2022, 10, 30, 2, 30)),
        ("31122022235959", utc(2022, 12, 31, 22, 59, 59)),
    ],
)
def test_push_timestamp_rules(statusdate: str, expected: datetime) -> None:
    [event] = parse(_push(statusdate=statusdate), {})
    assert (event.occurred_at, event.tz_source, event.local_time) == (expected, TZ_ASSUMED, statusdate)


# --- structure ----------------------------------------------------------------------------------


def test_unreached_steps_are_skipped() -> None:
    payload = _response(
        _status_info("Courier", "8/18/2021 7:34:34 AM"),
        _status_info("Delivered", None, None, reached="false"),
        _status_info("Delivered", "8/19/2021 7:34:34 AM", reached="false"),
    )
    assert [e.code for e in parse(payload)] == ["Courier"]


def test_reached_step_without_date_is_malformed() -> None:
    with pytest.raises(PayloadError, match="without a date"):
        parse(_response(_status_info("Courier", None)))


def test_result_without_reached_steps_is_not_found() -> None:
    with pytest.raises(CarrierErrorResponse) as caught:
        parse(_response(_status_info("Delivered", None, reached="false")))
    assert caught.value.not_found is True
    assert caught.value.tracking_number == NUMBER


def test_response_without_envelope() -> None:
    root = ET.fromstring((SAMPLES / RESPONSE).read_bytes())
    inner = next(node for node in root.iter() if node.tag.endswith("getTrackingDataResponse"))
    events = parse(ET.tostring(inner))
    assert len(events) == 14


def test_ids_are_deterministic_and_ignore_free_text() -> None:
    payload = (SAMPLES / RESPONSE).read_bytes()
    first = [e.event_id for e in parse(payload)]
    assert first == [e.event_id for e in parse(payload)]
    rewritten = (
        payload.replace(b"Mechelen (BE)", b"MECHELEN (BE)").replace(b"Puurs", b"Puurs-Sint-Amands")
        .replace(b"Parcel out for delivery", b"Pakket onderweg").replace(b"The parcel", b"Het pakket")
    )
    assert [e.event_id for e in parse(rewritten)] == first
    push = (SAMPLES / PUSH).read_bytes()
    [one] = parse(push, {})
    [two] = parse(push.replace(b"depot=0998", b"depot=0163").replace(b"pushid=92056930", b"pushid=1"), {})
    assert one.event_id == two.event_id


# --- malformed input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        b"", b"   \n", b"\xef\xbb\xbf", b"<", b"<a>", b"<a/>", b"not xml", b"{}", b'{"pnr": "1"}', b"\xff\xfe\x00",
        b"pnr=1", b"status=start_order", b"pnr=&status=start_order&statusdate=05012022100200",
        b"pnr=1&status=&statusdate=05012022100200", b"pnr=1&status=start_order",
        b"pnr=1&status=start_order&statusdate=2022-01-05", b"pnr=1&status=start_order&statusdate=99999999999999",
        b"pnr=1&status=start_order&statusdate=5012022100200",
        b'<!DOCTYPE x [<!ENTITY a "b">]><trackingresult/>',
        _response(_status_info("", "8/17/2021 7:11:26 PM")),
        _response(_status_info("Courier", "yesterday")),
        _response(_status_info("Courier", "13/45/2021 7:11:26 PM")),
        _response(_status_info("Courier", "8/17/2021 19:11:26 PM")),
    ],
)
def test_malformed_payloads(payload: bytes) -> None:
    with pytest.raises(PayloadError):
        parse(payload)


def test_non_bytes_payload() -> None:
    with pytest.raises(PayloadError):
        dpd_nl.parse("pnr=1", {}, RECEIVED)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", [RESPONSE, FAULT, REQUEST])
def test_truncated_xml_samples(name: str) -> None:
    payload = (SAMPLES / name).read_bytes().strip()
    assert_prefixes_raise(parse, payload, cuts(payload, 60))


def test_truncated_push_only_yields_events_or_payload_errors() -> None:
    payload = (SAMPLES / PUSH).read_bytes()
    for cut in range(1, len(payload)):
        try:
            events = parse(payload[:cut], {})
        except PayloadError:
            continue
        assert [e.tracking_number for e in events] == ["01906000683796"]


_TAGS = ["trackingresult", "statusInfo", "shipmentInfo", "status", "date", "content", "location", "label",
         "statusHasBeenReached", "isCurrentStatus", "description", "Fault", "errorCode", "Body", "Envelope"]


_LEAVES = (st.sampled_from(["", "true", "false", "Courier", "8/17/2021 7:11:26 PM", "X (BE)"])
           | st.text(alphabet="abc09 /:()<>&", max_size=12))


test_arbitrary_bytes_only_raise_parse_errors = arbitrary_bytes_test(parse, max_examples=150)


test_arbitrary_xml_only_raises_parse_errors = arbitrary_document_test(
    parse, xml_documents(_TAGS, _LEAVES), max_examples=150, check=check_instant
)


@settings(max_examples=150, deadline=None)
@given(fields=st.dictionaries(
    st.sampled_from(["pnr", "status", "statusdate", "depot", "pushid", "pod", "weight", "x"]),
    st.text(max_size=16) | st.sampled_from(["05012022100200", "start_order", "0998"]), max_size=6,
))
def test_arbitrary_push_queries_only_raise_parse_errors(fields: dict[str, str]) -> None:
    try:
        events = parse(urlencode(fields).encode(), {})
    except ParseError:
        return
    assert len(events) == 1 and events[0].tracking_number


def _check_mutated(event: TrackingEvent) -> None:
    assert event.tracking_number == NUMBER and event.occurred_at.tzinfo is not None


test_mutated_sample_only_raises_parse_errors = mutated_xml_test(
    parse, SAMPLES / RESPONSE, max_examples=150, text_size=20, check=_check_mutated
)
