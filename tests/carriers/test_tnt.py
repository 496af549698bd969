from __future__ import annotations

from collections import Counter
from datetime import datetime

import pytest
from hypothesis import strategies as st

from carriers import tnt, zones
from carriers.base import CarrierErrorResponse, PayloadError, load_mapping_file, zone
from schemas.events import TZ_ASSUMED, TZ_COUNTRY, TZ_LOCATION_CODE, Location, TrackingEvent, derive_event_id
from tests.carriers.properties import (
    RECEIVED,
    arbitrary_bytes_test,
    arbitrary_document_test,
    assert_prefixes_raise,
    carrier_samples,
    cuts,
    mutated_xml_test,
    utc,
    xml_documents,
)

SAMPLES = carrier_samples("tnt")
RESPONSE = "expressconnect-track-response-v3.1.xml"
ERROR = "expressconnect-track-error-response.xml"
REQUEST = "expressconnect-track-request-v3.1.xml"
RESPONSE_30 = "expressconnect-track-response-30-events-200mph.xml"

# Written from the carrier's public sources, independently of mappings/tnt.json: every StatusCode of
# TNT's public responses (karrio's sample, 200MPH/tnt's 30-event response) → (status, substatus).
_IT = "in_transit"
ROWS_EXPECTED: dict[str, tuple[str, str | None]] = {
    "PU": (_IT, "picked_up"),  # Shipment Collected From Customer
    "CI": (_IT, "accepted"),  # Shipment Received At Origin Depot.
    "IS": (_IT, "sorting"), "IR": (_IT, "sorting"),  # Shipment Received At Tnt Location
    "AS": (_IT, "sorting"),  # Shipment Received At Transit Point.
    "TR": (_IT, None), "OS": (_IT, None),  # Shipment In Transit.
    # delays with "recovery action(s) underway": still moving (judgment, see tnt.json "why")
    "MLA": (_IT, "delayed"), "NR": (_IT, "delayed"), "LAA": (_IT, "delayed"), "LAC": (_IT, "delayed"),
    # Packaging Damaged. Repacked And Forwarded For Delivery: moving on, damage kept (judgment)
    "CDB": (_IT, "damaged"), "FDB": (_IT, "damaged"),
    "OD": ("out_for_delivery", "driver_en_route"),
    "OK": ("delivered", "delivered_recipient"),  # Shipment Delivered In Good Condition.
    "PA": ("delivered", None),  # Delivery By Mail. Delivery Confirmation Available On Request (judgment)
    "AA": ("exception", "data_error"),  # Duplicate Or Non-existent Consignment Record In System
}
STATUS_EXPECTED: dict[str, str] = {code: row[0] for code, row in ROWS_EXPECTED.items()}
SUMMARY_EXPECTED: dict[str, str] = {"DEL": "delivered", "INT": "in_transit", "EXC": "exception", "CNF": "unknown"}
# depot → (country, zone); BA4/QAR/DNG from the public sources, NBE/PNA from the sample's depot names.
DEPOT_EXPECTED: dict[str, tuple[str, str]] = {
    "BA4": ("GB", "Europe/London"), "QAR": ("NL", "Europe/Amsterdam"), "DNG": ("DE", "Europe/Berlin"),
    "NBE": ("DE", "Europe/Berlin"), "PNA": ("ES", "Europe/Madrid"),
}


def parse(payload: bytes) -> list[TrackingEvent]:
    return tnt.parse(payload, {}, RECEIVED)


def _status(code: str, date: str = "20210204", time: str = "0841", depot: str = "BA4", name: str = "Bradford",
            text: str = "Some text") -> str:
    return (f"<StatusData><StatusCode>{code}</StatusCode><StatusDescription><![CDATA[{text}]]></StatusDescription>"
            f'<LocalEventDate format="YYYYMMDD">{date}</LocalEventDate>'
            f'<LocalEventTime format="HHMM">{time}</LocalEventTime>'
            f"<Depot>{depot}</Depot><DepotName>\n  <![CDATA[{name}]]>\n</DepotName></StatusData>")


def _consignment(*statuses: str, number: str = "123456782", summary: str = "INT", access: str = "public",
                 extra: str = "") -> str:
    return (f'<Consignment access="{access}"><ConsignmentNumber>{number}</ConsignmentNumber>'
            "<OriginDepot>NBE</OriginDepot><CollectionDate>20210201</CollectionDate>"
            f"<SummaryCode>{summary}</SummaryCode>{extra}"
            "<OriginCountry><CountryCode>DE</CountryCode></OriginCountry>"
            f"{''.join(statuses)}</Consignment>")


def _response(*consignments: str) -> bytes:
    return f'<?xml version="1.0" encoding="utf-8"?><TrackResponse>{"".join(consignments)}</TrackResponse>'.encode()


# --- samples ------------------------------------------------------------------------------------


def test_track_response_sample() -> None:
    events = parse((SAMPLES / RESPONSE).read_bytes())
    assert len(events) == 16  # 1 (US→AU) + 15 (DE→GB); the CNF consignment has none
    assert {e.tracking_number for e in events} == {"123456782"}
    assert [e.code for e in events] == [
        "OK", "OK", "OD", "IR", "IR", "TR", "IS", "NR", "NR", "MLA", "IS", "AS", "IS", "TR", "IS", "CI",
    ]
    assert [e.status for e in events] == [
        "delivered", "delivered", "out_for_delivery", *["in_transit"] * 13,
    ]
    assert [e.occurred_at for e in events] == [
        utc(2021, 2, 18, 9, 20),  # PNA Pamplona (its airport's code), CET
        utc(2021, 2, 4, 8, 41), utc(2021, 2, 4, 7, 47), utc(2021, 2, 4, 5, 9), utc(2021, 2, 4, 3, 55),  # GB
        utc(2021, 2, 3, 15, 51), utc(2021, 2, 3, 15, 13),  # DZ5: unknown depot, DE→GB disagree: home (CET) assumed
        utc(2021, 2, 3, 14, 12), utc(2021, 2, 3, 10, 52),  # BA4
        utc(2021, 2, 2, 20, 45),  # DZ5
        utc(2021, 2, 2, 8, 44), utc(2021, 2, 2, 8, 24), utc(2021, 2, 2, 7, 50),  # QAR, CET
        utc(2021, 2, 1, 17, 51), utc(2021, 2, 1, 17, 46), utc(2021, 2, 1, 17, 42),  # DNG / NBE, CET
    ]
    assert [e.tz_source for e in events] == [TZ_LOCATION_CODE] + [TZ_COUNTRY] * 4 + [TZ_ASSUMED] * 2 + [
        TZ_COUNTRY] * 2 + [TZ_ASSUMED] + [TZ_COUNTRY] * 6
    assert all(e.source == "poll" and e.mapped and e.carrier == "tnt" for e in events)
    delivered = events[1]
    assert delivered.local_time == "20210204 0841"
    assert delivered.description == "Shipment Delivered In Good Condition."
    assert delivered.location == Location(city="Bradford", country="GB", code="BA4", text="Bradford")
    assert events[5].location == Location(code="DZ5")  # DepotName only repeats the code
    assert events[10].location == Location(city="Arnhem", country="NL", code="QAR", text="Arnhem Hub")
    assert delivered.event_id == derive_event_id("tnt", "123456782", delivered.occurred_at, "OK")
    assert dict(delivered.attributes) == {
        "access": "public", "summary_code": "DEL", "customer_reference": "SIPG50447739705",
        "origin_depot": "NBE", "origin_depot_name": "Nuernberg", "origin_country": "DE",
        "destination_country": "GB", "delivery_town": "MENSTON", "collection_date": "20210201",
        "delivery_date": "20210204", "delivery_time": "0841", "signed_by": "umbridge", "pieces": 2,
        "consignment_key": "123456782:20210201:NBE", "repeated_number": True,
    }
    first = events[0].attributes
    assert (first["consignment_key"], first["customer_reference"], first["origin_country"]) == (
        "123456782:20210203:FDX", "783350930039", "US"
    )
    assert len({e.event_id for e in events}) == 16


def test_thirty_event_response_sample() -> None:
    """200MPH/tnt's public response: six consignments of one reused number, every code mapped."""
    events = parse((SAMPLES / RESPONSE_30).read_bytes())
    assert len(events) == 30  # 31 StatusData; PA at ZRH 20160908 1436 is in two consignments: one id
    assert all(e.mapped and e.tracking_number == "123456782" for e in events)
    by_code = Counter(e.code for e in events)
    assert by_code == {"CDB": 6, "PA": 4, "NR": 3, "CI": 3, "AA": 2, "AS": 2, "TR": 2, "OK": 1, "OD": 1,
                       "IR": 1, "LAA": 1, "LAC": 1, "OS": 1, "PU": 1, "FDB": 1}
    assert Counter(e.status for e in events) == {"in_transit": 22, "delivered": 5, "exception": 2,
                                                 "out_for_delivery": 1}
    madrid = [e for e in events if e.attributes["consignment_key"] == "123456782:20161020:MAD"]
    assert [e.code for e in madrid] == ["OK", "OD", "IR", "AS", "TR", "LAA", "LAC", "OS", "AS", "TR", "PU"]
    assert [e.substatus for e in madrid][5:7] == ["delayed", "delayed"]
    pickup = madrid[-1]
    assert (pickup.status, pickup.substatus, pickup.description) == (
        "in_transit", "picked_up", "Shipment Collected From Customer")
    assert pickup.occurred_at == utc(2016, 10, 20, 14, 20)  # MAD is the origin depot: Madrid, CEST
    repacked = [e for e in events if e.code in {"CDB", "FDB"}]
    assert {(e.status, e.substatus) for e in repacked} == {("in_transit", "damaged")}
    missing = [e for e in events if e.code == "AA"]
    assert [(e.status, e.substatus, e.attributes["summary_code"]) for e in missing] == [
        ("exception", "data_error", "EXC")] * 2
    assert {e.attributes["summary_code"] for e in events if e.code == "PA"} == {"DEL"}


def test_leading_whitespace_is_tolerated() -> None:
    assert len(parse(b"\n  " + (SAMPLES / RESPONSE).read_bytes())) == 16


def test_error_sample() -> None:
    with pytest.raises(CarrierErrorResponse, match="9000: Unauthorized Access") as caught:
        parse((SAMPLES / ERROR).read_bytes())
    assert caught.value.not_found is False


def test_request_sample_is_not_a_response() -> None:
    with pytest.raises(PayloadError, match="TrackRequest"):
        parse((SAMPLES / REQUEST).read_bytes())


def test_only_not_found_consignments() -> None:
    payload = _response('<Consignment access="public"><ConsignmentNumber>22222222</ConsignmentNumber>'
                        "<SummaryCode>CNF</SummaryCode></Consignment>")
    with pytest.raises(CarrierErrorResponse) as caught:
        parse(payload)
    assert caught.value.not_found is True
    assert caught.value.tracking_number == "22222222"


def test_empty_response_is_not_found() -> None:
    with pytest.raises(CarrierErrorResponse) as caught:
        parse(b"<TrackResponse/>")
    assert caught.value.not_found is True


@pytest.mark.parametrize(
    ("payload", "not_found"),
    [
        (b"<runtime_error><error_reason>Service unavailable</error_reason></runtime_error>", False),
        (b"<parse_error><error_reason>bad xml_in</error_reason></parse_error>", False),
        (b"<TrackResponse><Error><Code>1</Code><Message>Consignment not found</Message></Error></TrackResponse>",
         True),
    ],
)
def test_other_error_answers(payload: bytes, not_found: bool) -> None:
    with pytest.raises(CarrierErrorResponse) as caught:
        parse(payload)
    assert caught.value.not_found is not_found


def test_owned_consignment_wins_over_reused_number() -> None:
    payload = _response(
        _consignment(_status("OK", "20210204", "0841")),
        _consignment(_status("OD", "20230601", "0900"), access="full"),
        _consignment(_status("OD", "20230601", "0800"), number="999"),
    )
    events = parse(payload)
    assert [(e.tracking_number, e.code, e.attributes["access"]) for e in events] == [
        ("123456782", "OD", "full"), ("999", "OD", "public"),
    ]
    assert "repeated_number" in events[0].attributes and "repeated_number" not in events[1].attributes


def test_summary_level_delivered_consignment() -> None:
    extra = ("<DeliveryTown><![CDATA[ROWVILLE]]></DeliveryTown><DeliveryDate>20210218</DeliveryDate>"
             "<DeliveryTime>1020</DeliveryTime><DestinationCountry><CountryCode>AU</CountryCode>"
             "</DestinationCountry>")
    [event] = parse(_response(_consignment(summary="DEL", extra=extra)))
    assert (event.code, event.status, event.mapped) == ("DEL", "delivered", True)
    assert event.occurred_at == utc(2021, 2, 17, 23, 20)  # AEDT +11
    # Rowville (Victoria) has no airport and AU has several zones: Australia/Sydney, AU's main zone, assumed
    assert (event.tz_source, event.local_time) == (TZ_ASSUMED, "20210218 1020")
    assert event.location == Location(city="ROWVILLE", country="AU")
    assert event.attributes["mapping_layer"] == "summary_code"


def test_summary_level_without_time_has_no_event() -> None:
    assert parse(_response(_consignment(summary="INT"))) == []
    assert parse(_response(_consignment(summary="DEL", extra="<DeliveryDate>20210218</DeliveryDate>"))) == []


def test_duplicate_status_data_is_emitted_once() -> None:
    events = parse(_response(_consignment(_status("IR"), _status("IR", name="Bradford Depot"), _status("OD"))))
    assert [e.code for e in events] == ["IR", "OD"]


# --- code tables --------------------------------------------------------------------------------


def test_tables_cover_exactly_the_note_codes() -> None:
    data = load_mapping_file("tnt.json")
    assert set(data["status_codes"]) == set(STATUS_EXPECTED)
    assert set(data["summary_codes"]) == set(SUMMARY_EXPECTED)
    assert set(data["depots"]) == set(DEPOT_EXPECTED)


@pytest.mark.parametrize(("code", "status"), sorted(STATUS_EXPECTED.items()))
def test_every_status_code(code: str, status: str) -> None:
    [event] = parse(_response(_consignment(_status(code.lower()))))
    assert (event.code, event.status, event.mapped) == (code, status, True)


@pytest.mark.parametrize(("code", "status"), sorted(SUMMARY_EXPECTED.items()))
def test_every_summary_code(code: str, status: str) -> None:
    mapping = tnt.map_summary_code(code)
    assert mapping is not None and mapping.status == status


@pytest.mark.parametrize(("code", "expected"), sorted(ROWS_EXPECTED.items()))
def test_every_status_code_row(code: str, expected: tuple[str, str | None]) -> None:
    mapping = tnt.map_status_code(code)
    assert mapping is not None and (mapping.status, mapping.substatus) == expected
    [event] = parse(_response(_consignment(_status(code))))
    assert (event.status, event.substatus, event.mapped) == (*expected, True)


def test_documented_codes_are_the_public_responses_codes() -> None:
    """tnt.documented.json lists exactly the StatusCodes of the public responses in the samples."""
    seen: set[str] = set()
    for name in (RESPONSE, RESPONSE_30):
        seen |= {e.code for e in parse((SAMPLES / name).read_bytes())}
    listed = load_mapping_file("tnt.documented.json")["tables"]
    assert set(listed["status_codes"]) == seen == set(ROWS_EXPECTED)
    assert set(listed["summary_codes"]) == set(SUMMARY_EXPECTED)


def test_judgment_rows_say_why() -> None:
    rows = load_mapping_file("tnt.json")["status_codes"]
    assert {c for c, row in rows.items() if row.get("why")} == {"LAA", "LAC", "CDB", "FDB", "PA", "AA"}


@pytest.mark.parametrize(("code", "expected"), sorted(DEPOT_EXPECTED.items()))
def test_every_depot(code: str, expected: tuple[str, str]) -> None:
    country, zone_name = expected
    found = tnt.depot(code.lower())
    assert found is not None and found.country == country and found.tz is None  # the zone comes from data
    [event] = parse(_response(_consignment(_status("OD", "20210705", "1200", depot=code))))
    assert event.location is not None and event.location.country == country
    # PNA is also Pamplona's airport code; the others are not airport codes (NBE is one in Tunisia, not DE)
    assert event.tz_source == (TZ_LOCATION_CODE if code == "PNA" else TZ_COUNTRY)
    assert zones.resolve(zones.Place(country=country, code=code), datetime(2021, 7, 5, 12), "UTC").tz == zone(zone_name)
    offset = {"GB": 1, "NL": 2, "DE": 2, "ES": 2}[country]  # summer time everywhere
    assert event.occurred_at == utc(2021, 7, 5, 12 - offset)


def test_unknown_code_is_unmapped() -> None:
    [event] = parse(_response(_consignment(_status("ZZ", text="Beamed up"))))
    assert (event.status, event.substatus, event.mapped) == ("unknown", "unmapped_code", False)
    assert (event.code, event.description) == ("ZZ", "Beamed up")


# --- time ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("depot", "date", "time", "expected", "tz_source"),
    [
        ("BA4", "20210204", "0841", utc(2021, 2, 4, 8, 41), TZ_COUNTRY),  # GMT
        ("BA4", "20210704", "0841", utc(2021, 7, 4, 7, 41), TZ_COUNTRY),  # BST
        ("QAR", "20210202", "0944", utc(2021, 2, 2, 8, 44), TZ_COUNTRY),  # CET
        ("QAR", "20210702", "0944", utc(2021, 7, 2, 7, 44), TZ_COUNTRY),  # CEST
        ("QAR", "20210328", "0159", utc(2021, 3, 28, 0, 59), TZ_COUNTRY),  # NL spring: before the jump
        ("QAR", "20210328", "0230", utc(2021, 3, 28, 1, 30), TZ_COUNTRY),  # gap: offset before the jump
        ("QAR", "20210328", "0300", utc(2021, 3, 28, 1, 0), TZ_COUNTRY),
        ("QAR", "20211031", "0230", utc(2021, 10, 31, 0, 30), TZ_COUNTRY),  # repeated hour: first
        ("QAR", "20211031", "0330", utc(2021, 10, 31, 2, 30), TZ_COUNTRY),
        ("BA4", "20210328", "0130", utc(2021, 3, 28, 1, 30), TZ_COUNTRY),  # GB gap
        ("BA4", "20211031", "0130", utc(2021, 10, 31, 0, 30), TZ_COUNTRY),  # GB repeated hour
        ("DNG", "20210201", "0000", utc(2021, 1, 31, 23, 0), TZ_COUNTRY),  # midnight crosses the date
        ("PNA", "20210218", "2359", utc(2021, 2, 18, 22, 59), TZ_LOCATION_CODE),
        ("DZ5", "20210202", "2145", utc(2021, 2, 2, 20, 45), TZ_ASSUMED),  # unknown depot: Europe/Amsterdam assumed
        ("DZ5", "20210702", "2145", utc(2021, 7, 2, 19, 45), TZ_ASSUMED),
        ("", "20210702", "2145", utc(2021, 7, 2, 19, 45), TZ_ASSUMED),  # no depot at all
        ("NBE", "20210201", "1842", utc(2021, 2, 1, 17, 42), TZ_COUNTRY),
    ],
)
def test_timestamp_rules(depot: str, date: str, time: str, expected: datetime, tz_source: str) -> None:
    [event] = parse(_response(_consignment(_status("TR", date, time, depot=depot, name=""))))
    assert (event.occurred_at, event.tz_source, event.local_time) == (expected, tz_source, f"{date} {time}")


def test_unlisted_origin_depot_uses_origin_country() -> None:
    consignment = _consignment(_status("CI", "20210705", "1200", depot="XYZ", name="Somewhere")).replace(
        "<OriginDepot>NBE</OriginDepot>", "<OriginDepot>XYZ</OriginDepot>"
    ).replace("<CountryCode>DE</CountryCode>", "<CountryCode>US</CountryCode>")
    [event] = parse(_response(consignment))
    # in the US (the origin country), nothing says where: New York, the US's main zone, assumed (EDT)
    assert (event.occurred_at, event.tz_source) == (utc(2021, 7, 5, 16), TZ_ASSUMED)
    assert event.location == Location(country="US", code="XYZ", text="Somewhere")


# --- identity -----------------------------------------------------------------------------------


def test_ids_are_deterministic_and_ignore_free_text() -> None:
    payload = (SAMPLES / RESPONSE).read_bytes()
    first = [e.event_id for e in parse(payload)]
    assert first == [e.event_id for e in parse(payload)]
    rewritten = (payload.replace(b"Arnhem Hub", b"ARNHEM HUB (NL)").replace(b"Bradford", b"Bradford Depot")
                 .replace(b"Shipment In Transit.", b"In transit"))
    assert [e.event_id for e in parse(rewritten)] == first


# --- malformed input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        b"", b"  ", b"not xml", b"{}", b"<", b"<Other/>", b"\xff\xfe",
        b'<!DOCTYPE x [<!ENTITY a "b">]><TrackResponse/>',
        _response(_consignment(_status("OK")).replace("<ConsignmentNumber>123456782</ConsignmentNumber>", "")),
        _response(_consignment(_status(""))),
        _response(_consignment(_status("OK", date="2021-02-04"))),
        _response(_consignment(_status("OK", time="8:41"))),
        _response(_consignment(_status("OK", time="2541"))),
        _response(_consignment(_status("OK", date="20211345"))),
        _response(_consignment(_status("OK", date=""))),
    ],
)
def test_malformed_payloads(payload: bytes) -> None:
    with pytest.raises(PayloadError):
        parse(payload)


def test_non_bytes_payload() -> None:
    with pytest.raises(PayloadError):
        tnt.parse("<TrackResponse/>", {}, RECEIVED)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", [RESPONSE, RESPONSE_30, ERROR, REQUEST])
def test_truncated_samples(name: str) -> None:
    payload = (SAMPLES / name).read_bytes().strip()
    assert_prefixes_raise(parse, payload, cuts(payload, 60))


_TAGS = ["TrackResponse", "Consignment", "ConsignmentNumber", "SummaryCode", "StatusData", "StatusCode",
         "LocalEventDate", "LocalEventTime", "Depot", "DepotName", "OriginDepot", "Error", "Code", "Message",
         "DeliveryDate", "DeliveryTime", "DestinationCountry", "CountryCode"]


_LEAVES = (st.sampled_from(["", "OK", "DEL", "CNF", "20210204", "0841", "BA4", "123", "AU"])
           | st.text(alphabet="abc09 <>&", max_size=10))


test_arbitrary_bytes_only_raise_parse_errors = arbitrary_bytes_test(parse, max_examples=150)


test_arbitrary_xml_only_raises_parse_errors = arbitrary_document_test(
    parse, xml_documents(_TAGS, _LEAVES), max_examples=200
)


test_mutated_sample_only_raises_parse_errors = mutated_xml_test(
    parse, SAMPLES / RESPONSE, max_examples=150, text_size=12
)


test_mutated_30_event_sample_only_raises_parse_errors = mutated_xml_test(
    parse, SAMPLES / RESPONSE_30, max_examples=100, text_size=12
)
