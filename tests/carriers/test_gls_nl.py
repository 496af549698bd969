from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import strategies as st

from carriers import gls_nl
from carriers.base import CarrierErrorResponse, PayloadError, load_mapping_file
from schemas.events import TZ_ASSUMED, TZ_COUNTRY, TZ_GIVEN, Location, TrackingEvent, derive_event_id
from tests.carriers.properties import (
    RECEIVED,
    arbitrary_bytes_test,
    arbitrary_json_test,
    assert_prefixes_raise,
    carrier_samples,
    check_event,
    cuts,
    json_loader,
    mutated_samples_test,
)

SAMPLES = carrier_samples("gls_nl")
V1 = "track-and-trace-v1-simple-trackids-response.json"
NOT_FOUND = "track-and-trace-v1-not-found-response.json"
RSTT = "public-tracking-rstt001-delivered.json"
SAMPLE_NAMES = [V1, NOT_FOUND, RSTT]
EVENT_SAMPLES = [V1, RSTT]
_PS = "available_for_pickup"

# Expected mappings, written from the carrier's public sources independently of mappings/gls_nl.json.
PARCEL_STATUS: dict[str, tuple[str, str | None]] = {
    "PLANNEDPICKUP": ("pre_transit", None), "INPICKUP": ("pre_transit", None),
    "NOTPICKEDUP": ("exception", "not_collected"), "PREADVICE": ("pre_transit", "announced"),
    "INTRANSIT": ("in_transit", None), "INWAREHOUSE": ("in_transit", "in_storage"),
    "INDELIVERY": ("out_for_delivery", "driver_en_route"),
    "DELIVEREDPS": (_PS, "at_pickup_point"),  # a parcel shop is NOT delivered
    "DELIVERED": ("delivered", None), "NOTDELIVERED": ("failed_attempt", None),
    "CANCELED": ("cancelled", None),
    "FINAL": ("unknown", None),  # without a previous terminal event (see the FINAL tests)
}
EVENT_CODES: dict[str, tuple[str, str | None]] = {
    "INTIAL.PREADVICE": ("pre_transit", "announced"), "INTIAL.NORMAL": ("in_transit", "accepted"),
    "DELIVD.PARCELSHOP": (_PS, "at_pickup_point"),
}
EVENT_GROUPS: dict[str, str] = {"DELIVD": "delivered"}
RSTT_CODES: dict[str, tuple[str, str | None]] = {
    "0.100": ("pre_transit", "announced"), "0.0": ("in_transit", "accepted"), "1.0": ("in_transit", None),
    "2.0": ("in_transit", "sorting"), "11.0": ("out_for_delivery", "driver_en_route"),
    "4.40": ("failed_attempt", "recipient_absent"), "90.132": ("failed_attempt", "recipient_absent"),
    "3.124": (_PS, "at_pickup_point"), "2.124": (_PS, "at_pickup_point"),
    "3.0": ("delivered", "delivered_recipient"),
}


def parse(payload: bytes) -> list[TrackingEvent]:
    return gls_nl.parse(payload, {}, RECEIVED)


_load = json_loader(SAMPLES)


def _event(code: str, when: str = "2024-10-07T10:46:14+0200", country: str = "NL", city: str = "Utrecht",
           description: str = "text") -> dict[str, Any]:
    return {"code": code, "city": city, "postalCode": "3542AB", "country": country,
            "description": description, "eventDateTime": when}


def _v1(*events: dict[str, Any], status: str | None = None, status_at: str | None = None,
        unitno: str = "36301917596") -> bytes:
    parcel: dict[str, Any] = {"requested": unitno, "unitno": unitno, "events": list(events)}
    if status is not None:
        parcel["status"] = status
    if status_at is not None:
        parcel["statusDateTime"] = status_at
    return json.dumps({"parcels": [parcel]}).encode()


def _rstt(history: list[dict[str, Any]], evt_nos: list[str] | None, status_info: str = "INTRANSIT") -> bytes:
    unit: dict[str, Any] = {"tuNo": "50346007538", "history": history,
                            "progressBar": {"statusInfo": status_info}}
    if evt_nos is not None:
        unit["progressBar"]["evtNos"] = evt_nos
    return json.dumps({"tuStatus": [unit]}).encode()


def _hist(date: str, time: str, country: str | None = "DE", text: str = "x") -> dict[str, Any]:
    address = {"city": "Somewhere", "countryName": "?"}
    if country is not None:
        address["countryCode"] = country
    return {"address": address, "date": date, "time": time, "evtDscr": text}


# --- samples ------------------------------------------------------------------------------------


def test_v1_sample() -> None:
    events = parse((SAMPLES / V1).read_bytes())
    assert [e.code for e in events] == ["status:INTRANSIT", "INTIAL.NORMAL", "INTIAL.PREADVICE"]
    assert [e.status for e in events] == ["in_transit", "in_transit", "pre_transit"]
    assert [e.substatus for e in events] == [None, "accepted", "announced"]
    assert {e.tracking_number for e in events} == {"36301917596"}
    assert [e.occurred_at for e in events] == [
        datetime(2024, 10, 11, 13, 24, 57, tzinfo=UTC), datetime(2024, 10, 7, 8, 46, 14, tzinfo=UTC),
        datetime(2024, 10, 7, 7, 30, tzinfo=UTC),
    ]
    assert [e.local_time for e in events] == [
        "2024-10-11T15:24:57+0200", "2024-10-07T10:46:14+0200", "2024-10-07T09:30:00+0200"]
    assert all(e.tz_source == TZ_GIVEN and e.source == "poll" and e.mapped for e in events)
    assert all(e.carrier == "gls_nl" and e.key == "gls_nl:36301917596" for e in events)
    assert events[0].location is None
    assert events[0].attributes["mapping_layer"] == "parcel_status"
    assert events[1].location == Location(city="Berlin", postcode="10437", country="DE")
    assert events[1].description == "The parcel was handed over to GLS."
    assert events[2].location == Location(country="DE")  # empty city / postcode are not kept
    assert events[1].event_id == derive_event_id("gls_nl", "36301917596", events[1].occurred_at, "INTIAL.NORMAL")
    assert len({e.event_id for e in events}) == 3
    assert "requested" not in events[0].attributes  # same as unitno


def test_not_found_sample() -> None:
    with pytest.raises(CarrierErrorResponse) as caught:
        parse((SAMPLES / NOT_FOUND).read_bytes())
    assert caught.value.not_found is True
    assert caught.value.tracking_number == "36301917596"
    assert "E_404_01" in str(caught.value)


def test_rstt001_sample() -> None:
    events = parse((SAMPLES / RSTT).read_bytes())
    assert len(events) == 13
    assert {e.tracking_number for e in events} == {"50346007538"}
    assert [e.code for e in events] == [
        "3.0", "2.124", "3.124", "90.132", "4.40", "90.132", "11.0", "2.0", "1.0", "2.0", "2.0", "0.0", "0.100"]
    assert [e.status for e in events] == [
        "delivered", _PS, _PS, "failed_attempt", "failed_attempt", "failed_attempt", "out_for_delivery",
        "in_transit", "in_transit", "in_transit", "in_transit", "in_transit", "pre_transit"]
    # German winter time (CET, +01:00), zone from the address country
    assert events[0].occurred_at == datetime(2016, 1, 8, 17, 9, 21, tzinfo=UTC)
    assert events[0].local_time == "2016-01-08 18:09:21"
    assert events[-1].occurred_at == datetime(2016, 1, 5, 13, 19, 14, tzinfo=UTC)
    assert all(e.tz_source == TZ_COUNTRY and e.mapped and e.source == "poll" for e in events)
    assert events[0].location == Location(city="Bernau OT Schönow", country="DE")
    assert events[-1].location == Location(city="Bornheim", country="DE")
    assert events[0].description == "Das Paket wurde beim Empfänger zugestellt."
    assert len({e.event_id for e in events}) == 13
    attrs = events[0].attributes
    assert attrs["signed_by"] == "TANGER(2760236908)"
    assert attrs["track_id"] == "37ETGI"
    assert attrs["customer_reference"] == "YH24307-2016"
    assert attrs["gls_reference"] == "52285"
    assert attrs["product"] == "BusinessSmallParcel"
    assert attrs["weight"] == "3.5 kg"
    assert attrs["status_info"] == "DELIVERED"
    assert attrs["feed"] == "rstt001"


@pytest.mark.parametrize("name", EVENT_SAMPLES)
def test_samples_are_deterministic(name: str) -> None:
    payload = (SAMPLES / name).read_bytes()
    assert [e.event_id for e in parse(payload)] == [e.event_id for e in parse(payload)]


def test_changed_location_text_keeps_ids() -> None:
    body = _load(V1)
    first = parse(json.dumps(body).encode())
    for event in body["parcels"][0]["events"]:
        event["city"], event["postalCode"], event["description"] = "Elsewhere", "99999", "rewritten"
    second = parse(json.dumps(body).encode())
    assert [e.event_id for e in first] == [e.event_id for e in second]
    rstt = _load(RSTT)
    first = parse(json.dumps(rstt).encode())
    for item in rstt["tuStatus"][0]["history"]:
        item["address"]["city"] = "Renamed"
    assert [e.event_id for e in first] == [e.event_id for e in parse(json.dumps(rstt).encode())]


# --- code tables --------------------------------------------------------------------------------


def test_tables_have_exactly_the_expected_rows() -> None:
    data = load_mapping_file("gls_nl.json")
    assert set(data["parcel_status"]) == set(PARCEL_STATUS)
    assert set(data["event_codes"]) == set(EVENT_CODES)
    assert set(data["event_groups"]) == set(EVENT_GROUPS)
    assert set(data["rstt001_event_codes"]) == set(RSTT_CODES)


@pytest.mark.parametrize("status", sorted(PARCEL_STATUS))
def test_every_parcel_status(status: str) -> None:
    [event] = parse(_v1(status=status.lower(), status_at="2024-10-07T10:46:14+0200"))  # case-insensitive
    assert (event.status, event.substatus, event.mapped) == (*PARCEL_STATUS[status], True)
    assert event.code == f"status:{status}"


@pytest.mark.parametrize("code", sorted(EVENT_CODES))
def test_every_event_code(code: str) -> None:
    [event] = parse(_v1(_event(code)))
    assert (event.status, event.substatus, event.mapped, event.code) == (*EVENT_CODES[code], True, code)


@pytest.mark.parametrize("group", sorted(EVENT_GROUPS))
def test_every_event_group(group: str) -> None:
    [event] = parse(_v1(_event(f"{group}.SOMETHINGNEW")))
    assert (event.status, event.mapped, event.attributes["mapping_layer"]) == (EVENT_GROUPS[group], True,
                                                                                 "event_group")


@pytest.mark.parametrize("code", sorted(RSTT_CODES))
def test_every_rstt001_code(code: str) -> None:
    [event] = parse(_rstt([_hist("2016-01-08", "18:09:21")], [code], status_info="SOMETHING"))
    assert (event.status, event.substatus, event.mapped, event.code) == (*RSTT_CODES[code], True, code)


def test_parcel_shop_is_not_delivered() -> None:
    assert parse(_v1(_event("DELIVD.PARCELSHOP")))[0].status == _PS
    assert parse(_v1(status="DELIVEREDPS", status_at="2024-10-07T10:46:14+0200"))[0].status == _PS


def test_unknown_event_code_is_unmapped_and_kept() -> None:
    [event] = parse(_v1(_event("TELEPT.MARS", description="Beamed up")))
    assert (event.status, event.substatus, event.mapped) == ("unknown", "unmapped_code", False)
    assert (event.code, event.description) == ("TELEPT.MARS", "Beamed up")
    [unknown_status] = parse(_v1(status="TELEPORTED", status_at="2024-10-07T10:46:14+0200"))
    assert (unknown_status.status, unknown_status.mapped, unknown_status.code) == (
        "unknown", False, "status:TELEPORTED")
    [rstt] = parse(_rstt([_hist("2016-01-08", "18:09:21")], ["77.7"], status_info="FINAL"))
    assert (rstt.status, rstt.mapped, rstt.code) == ("unknown", False, "77.7")


def test_unknown_event_code_takes_the_status_of_the_same_instant() -> None:
    when = "2024-10-08T07:00:00+0200"
    [event] = parse(_v1(_event("INDELI.NEW", when=when), status="INDELIVERY", status_at=when))
    assert (event.code, event.status, event.mapped) == ("INDELI.NEW", "out_for_delivery", True)
    assert event.attributes["mapping_layer"] == "parcel_status"
    # a status at another instant gives no fallback (and becomes its own, newer event)
    events = parse(_v1(_event("INDELI.NEW", when=when), status="INDELIVERY", status_at="2024-10-08T09:00:00+0200"))
    assert [(e.code, e.status) for e in events] == [("status:INDELIVERY", "out_for_delivery"),
                                                    ("INDELI.NEW", "unknown")]


def test_status_older_than_the_events_adds_no_event() -> None:
    events = parse(_v1(_event("INTIAL.NORMAL"), status="INTRANSIT", status_at="2024-10-01T10:00:00+0200"))
    assert [e.code for e in events] == ["INTIAL.NORMAL"]


def test_rstt001_newest_unknown_code_falls_back_to_status_info() -> None:
    history = [_hist("2016-01-08", "18:09:21"), _hist("2016-01-07", "10:00:00")]
    events = parse(_rstt(history, ["99.9", "98.8"], status_info="DELIVERED"))
    assert [(e.status, e.mapped) for e in events] == [("delivered", True), ("unknown", False)]
    assert events[0].attributes["mapping_layer"] == "status_info"


def test_rstt001_misaligned_codes() -> None:
    history = [_hist("2016-01-08", "18:09:21", text="a"), _hist("2016-01-08", "18:09:21", text="b")]
    events = parse(_rstt(history, ["3.0"], status_info="INTRANSIT"))
    assert [e.code for e in events] == ["", ""]
    assert all(e.attributes["evt_nos_aligned"] is False for e in events)
    assert len({e.event_id for e in events}) == 2  # ids from the text when there is no code
    assert [e.status for e in events] == ["in_transit", "in_transit"]  # same newest instant: statusInfo


# --- FINAL --------------------------------------------------------------------------------------


def test_final_keeps_the_previous_delivered_status() -> None:
    events = parse(_v1(_event("DELIVD.POD", when="2024-10-08T12:00:00+0200"),
                       status="FINAL", status_at="2024-10-20T00:00:00+0200"))
    assert [(e.code, e.status) for e in events] == [("status:FINAL", "delivered"), ("DELIVD.POD", "delivered")]
    assert events[0].attributes["final_of"] == "DELIVD.POD"


def test_final_after_a_non_terminal_event_is_unknown() -> None:
    payload = json.dumps({"parcels": [{
        "unitno": "1", "status": "FINAL", "statusDateTime": "2024-10-20T00:00:00+0200",
        "events": [_event("DELIVD.PARCELSHOP", when="2024-10-08T12:00:00+0200")],
    }]}).encode()
    # previous event is not terminal (parcel shop) → FINAL gives no status of its own
    assert parse(payload)[0].status == "unknown" and parse(payload)[0].mapped


def test_final_without_history_is_unknown_but_mapped() -> None:
    [event] = parse(_v1(status="FINAL", status_at="2024-10-20T00:00:00+0200"))
    assert (event.status, event.mapped, event.code) == ("unknown", True, "status:FINAL")
    assert "final_of" not in event.attributes


def test_final_takes_the_latest_terminal_event_so_a_return_stays_a_return() -> None:
    events = [
        TrackingEvent("a", "gls_nl", "1", "delivered", None, "X", "", datetime(2024, 1, 1, tzinfo=UTC), "", TZ_GIVEN,
                      RECEIVED),
        TrackingEvent("b", "gls_nl", "1", "returned_to_sender", "returning", "Y", "",
                      datetime(2024, 1, 3, tzinfo=UTC), "", TZ_GIVEN, RECEIVED),
        TrackingEvent("c", "gls_nl", "1", "in_transit", None, "Z", "", datetime(2024, 1, 4, tzinfo=UTC), "",
                      TZ_GIVEN, RECEIVED),
    ]
    mapping, final_of = gls_nl._final_mapping(events)
    assert (mapping is not None and mapping.status, final_of) == ("returned_to_sender", "Y")


# --- time ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "country", "expected", "source"),
    [
        ("2024-10-07T10:46:14+0200", "NL", datetime(2024, 10, 7, 8, 46, 14, tzinfo=UTC), TZ_GIVEN),
        ("2024-10-07T10:46:14+02:00", "", datetime(2024, 10, 7, 8, 46, 14, tzinfo=UTC), TZ_GIVEN),
        ("2024-10-07T10:46:14Z", "US", datetime(2024, 10, 7, 10, 46, 14, tzinfo=UTC), TZ_GIVEN),
        ("2024-01-15T10:00:00-0500", "NL", datetime(2024, 1, 15, 15, 0, tzinfo=UTC), TZ_GIVEN),
        # no offset: the event's country (winter CET / summer CEST / other zones)
        ("2024-01-15T10:00:00", "NL", datetime(2024, 1, 15, 9, 0, tzinfo=UTC), TZ_COUNTRY),
        ("2024-07-15T10:00:00", "NL", datetime(2024, 7, 15, 8, 0, tzinfo=UTC), TZ_COUNTRY),
        ("2024-07-15T10:00:00", "GB", datetime(2024, 7, 15, 9, 0, tzinfo=UTC), TZ_COUNTRY),
        ("2024-07-15T10:00:00", "PT", datetime(2024, 7, 15, 9, 0, tzinfo=UTC), TZ_ASSUMED),  # Azores: Lisbon assumed
        ("2024-07-15T10:00:00", "FI", datetime(2024, 7, 15, 7, 0, tzinfo=UTC), TZ_COUNTRY),
        # DST transition days in Amsterdam: spring gap read with the pre-jump offset, autumn fold=0
        ("2024-03-31T01:59:59", "NL", datetime(2024, 3, 31, 0, 59, 59, tzinfo=UTC), TZ_COUNTRY),
        ("2024-03-31T02:30:00", "NL", datetime(2024, 3, 31, 1, 30, tzinfo=UTC), TZ_COUNTRY),
        ("2024-03-31T03:00:00", "NL", datetime(2024, 3, 31, 1, 0, tzinfo=UTC), TZ_COUNTRY),
        ("2024-10-27T02:30:00", "NL", datetime(2024, 10, 27, 0, 30, tzinfo=UTC), TZ_COUNTRY),
        ("2024-10-27T03:00:00", "NL", datetime(2024, 10, 27, 2, 0, tzinfo=UTC), TZ_COUNTRY),
        # no offset, no (known) country: GLS NL's home zone
        ("2024-01-15T10:00:00", "", datetime(2024, 1, 15, 9, 0, tzinfo=UTC), TZ_ASSUMED),
        ("2024-07-15T10:00:00", "XX", datetime(2024, 7, 15, 8, 0, tzinfo=UTC), TZ_ASSUMED),
    ],
)
def test_v1_timestamp_rules(text: str, country: str, expected: datetime, source: str) -> None:
    [event] = parse(_v1(_event("INTIAL.NORMAL", when=text, country=country)))
    assert (event.occurred_at, event.tz_source, event.local_time) == (expected, source, text)


@pytest.mark.parametrize(
    ("date", "time", "country", "expected", "source"),
    [
        ("2016-01-08", "18:09:21", "DE", datetime(2016, 1, 8, 17, 9, 21, tzinfo=UTC), TZ_COUNTRY),
        ("2016-07-08", "18:09:21", "DE", datetime(2016, 7, 8, 16, 9, 21, tzinfo=UTC), TZ_COUNTRY),
        ("2016-07-08", "18:09", "BE", datetime(2016, 7, 8, 16, 9, tzinfo=UTC), TZ_COUNTRY),
        ("2016-07-08", "18:09:21", "IE", datetime(2016, 7, 8, 17, 9, 21, tzinfo=UTC), TZ_COUNTRY),
        ("2016-03-27", "02:30:00", "DE", datetime(2016, 3, 27, 1, 30, tzinfo=UTC), TZ_COUNTRY),
        ("2016-10-30", "02:30:00", "DE", datetime(2016, 10, 30, 0, 30, tzinfo=UTC), TZ_COUNTRY),
        ("2016-01-08", "18:09:21", None, datetime(2016, 1, 8, 17, 9, 21, tzinfo=UTC), TZ_ASSUMED),
        ("2016-07-08", "18:09:21", "", datetime(2016, 7, 8, 16, 9, 21, tzinfo=UTC), TZ_ASSUMED),
    ],
)
def test_rstt001_timestamp_rules(date: str, time: str, country: str | None, expected: datetime, source: str) -> None:
    [event] = parse(_rstt([_hist(date, time, country)], ["3.0"]))
    assert (event.occurred_at, event.tz_source, event.local_time) == (expected, source, f"{date} {time}")


# --- shapes -------------------------------------------------------------------------------------


def test_several_parcels_and_repeats() -> None:
    body = _load(V1)
    other = json.loads(json.dumps(body["parcels"][0]))
    other["unitno"] = other["requested"] = "36301917597"
    body["parcels"] = [body["parcels"][0], other, body["parcels"][0]]
    events = parse(json.dumps(body).encode())
    assert [e.tracking_number for e in events] == ["36301917596"] * 3 + ["36301917597"] * 3
    assert len({e.event_id for e in events}) == 6


def test_error_parcel_next_to_a_good_one_is_skipped() -> None:
    body = _load(V1)
    body["parcels"].append(_load(NOT_FOUND)["parcels"][0] | {"requested": "999"})
    assert len(parse(json.dumps(body).encode())) == 3


@pytest.mark.parametrize(
    ("body", "not_found"),
    [
        ({"parcels": []}, True),
        ({"tuStatus": []}, True),
        ({"parcels": [{"requested": "1", "errorCode": "E_400_02", "errorMessage": "limit exceeded"}]}, False),
        ({"parcels": [{"requested": "1", "errorCode": "E_404_02", "errorMessage": "no delivery info"},
                      {"requested": "2", "errorCode": "E_404_01", "errorMessage": "Resource Not Found"}]}, True),
        ({"parcels": [{"requested": "1", "errorCode": "E_500_01", "errorMessage": "internal"}]}, False),
        ({"error": "invalid_token", "error_description": "token expired"}, False),
        ({"errors": [{"code": "E_404_01", "message": "Resource Not Found"}]}, True),
        ({"exceptionText": "Keine Daten gefunden", "lastError": "notFound"}, False),
    ],
)
def test_carrier_error_answers(body: dict[str, Any], not_found: bool) -> None:
    with pytest.raises(CarrierErrorResponse) as caught:
        parse(json.dumps(body).encode())
    assert caught.value.not_found is not_found


def test_requested_reference_is_kept_when_it_differs() -> None:
    payload = json.dumps({"parcels": [{"requested": "REF 0000001", "unitno": "36301917596",
                                       "events": [_event("INTIAL.NORMAL")]}]}).encode()
    [event] = parse(payload)
    assert event.attributes["requested"] == "REF0000001"


def test_parcel_without_events_gives_its_status() -> None:
    payload = json.dumps({"parcels": [{"unitno": "QAS_0000007", "status": "INDELIVERY",
                                       "statusDateTime": "2024-10-07T08:00:00+0200"}]}).encode()
    [event] = parse(payload)
    assert (event.tracking_number, event.status, event.occurred_at) == (
        "QAS_0000007", "out_for_delivery", datetime(2024, 10, 7, 6, 0, tzinfo=UTC))


# --- malformed input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [b"", b"  ", b"not json", b"[]", b"42", b"null", b"{}", b'{"parcels": 5}', b'{"parcels": [1]}',
     b'{"tuStatus": {}}', b'{"tuStatus": [[]]}', b'{"parcels": [{"events": []}]}',
     b'{"parcels": [{"unitno": "1", "events": [{"eventDateTime": "2024-10-07T10:46:14+0200"}]}]}',
     b'{"parcels": [{"unitno": "1", "events": [{"code": "A.B", "eventDateTime": "yesterday"}]}]}',
     b'{"parcels": [{"unitno": "1", "events": [{"code": "A.B"}]}]}',
     b'{"parcels": [{"unitno": "1", "status": "INTRANSIT", "statusDateTime": "nope"}]}',
     b'{"tuStatus": [{"tuNo": "1", "history": [{"date": "2016-13-01", "time": "10:00:00"}]}]}',
     b'{"tuStatus": [{"history": []}]}', b'\xff\xfe'],
)
def test_malformed_payloads(payload: bytes) -> None:
    with pytest.raises(PayloadError):
        parse(payload)


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_truncated_samples(name: str) -> None:
    payload = (SAMPLES / name).read_bytes().rstrip()
    assert_prefixes_raise(parse, payload, [*cuts(payload, 40), len(payload) - 1])


test_arbitrary_bytes_only_raise_parse_errors = arbitrary_bytes_test(parse, max_examples=150)


def _wrap(data: st.DataObject, value: Any) -> Any:
    return data.draw(st.sampled_from([value, {"parcels": value}, {"tuStatus": value}]))


test_arbitrary_json_only_raises_parse_errors = arbitrary_json_test(parse, max_examples=150, wrap=_wrap)


def _check(event: TrackingEvent) -> None:
    check_event(event)
    assert event.status


test_mutated_samples_only_raise_parse_errors = mutated_samples_test(
    parse, _load, SAMPLE_NAMES, max_examples=200, check=_check
)


def test_documented_lists() -> None:
    """gls_nl.documented.json: the spec's status enum and event codes, the public answer's evtNos."""
    listed = load_mapping_file("gls_nl.documented.json")["tables"]
    assert set(listed["parcel_status"]) == set(PARCEL_STATUS)
    assert set(listed["event_codes"]) == set(EVENT_CODES)
    seen = set(_load(RSTT)["tuStatus"][0]["progressBar"]["evtNos"])
    assert set(listed["rstt001_event_codes"]) == set(RSTT_CODES) == seen
