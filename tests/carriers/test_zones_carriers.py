"""Each carrier's local times in countries of several zones, through the adapters' ``parse``.

Every expected instant is worked out by hand from the place's zone and the date's UTC offset (noted
on each case); none is a recording of what the code returned.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
import pytest

from carriers import dhl_express, fedex, tnt, ups
from schemas.events import TZ_ASSUMED, TZ_COUNTRY, TZ_LOCATION, TZ_LOCATION_CODE, TZ_SHIPMENT_COUNTRY
from tests.carriers.properties import RECEIVED, utc

# --- DHL Express: service areas ------------------------------------------------------------------


def _mydhl(events: list[tuple[str, str, str, str, str]], shipper: str = "US", receiver: str = "US") -> bytes:
    """MyDHL shipment with events (date, time, typeCode, service area code, area description)."""
    return orjson.dumps({"shipments": [{
        "shipmentTrackingNumber": "1234567890",
        "shipperDetails": {"postalAddress": {"countryCode": shipper}},
        "receiverDetails": {"postalAddress": {"countryCode": receiver}},
        "events": [{"date": d, "time": t, "typeCode": code, "description": code,
                    "serviceArea": [{"code": area, "description": text}] if area or text else []}
                   for d, t, code, area, text in events],
    }]})


def _dhl(events: list[tuple[str, str, str, str, str]], shipper: str = "US", receiver: str = "US") -> list[Any]:
    return dhl_express.parse(_mydhl(events, shipper, receiver), {}, RECEIVED)


def test_dhl_express_pick_up_in_los_angeles_and_delivery_in_new_york() -> None:
    # the issue: JFK was not in the hand-written table and was read in Europe/Berlin
    pick_up, delivery = _dhl([("2024-07-15", "09:00:00", "PU", "LAX", "LOS ANGELES-USA"),
                              ("2024-07-15", "15:00:00", "OK", "JFK", "NEW YORK-USA")])
    assert (pick_up.occurred_at, pick_up.tz_source) == (utc(2024, 7, 15, 16), TZ_LOCATION_CODE)  # PDT -7
    assert (delivery.occurred_at, delivery.tz_source) == (utc(2024, 7, 15, 19), TZ_LOCATION_CODE)  # EDT -4


@pytest.mark.parametrize(("area", "text", "expected"), [
    ("EWR", "NEWARK,NJ-USA", utc(2024, 1, 15, 15)),  # EST -5
    ("ORD", "CHICAGO,IL-USA", utc(2024, 1, 15, 16)),  # CST -6
    ("DEN", "DENVER-USA", utc(2024, 1, 15, 17)),  # MST -7
    ("PHX", "PHOENIX-USA", utc(2024, 1, 15, 17)),  # MST -7, no DST
    ("ANC", "ANCHORAGE-USA", utc(2024, 1, 15, 19)),  # AKST -9
    ("HNL", "HONOLULU-USA", utc(2024, 1, 15, 20)),  # HST -10
    ("YVR", "VANCOUVER-CAN", utc(2024, 1, 15, 18)),  # PST -8
    ("YWG", "WINNIPEG-CAN", utc(2024, 1, 15, 16)),  # CST -6
    ("YHZ", "HALIFAX-CAN", utc(2024, 1, 15, 14)),  # AST -4
    ("HMO", "HERMOSILLO-MEX", utc(2024, 1, 15, 17)),  # Sonora: MST -7, no DST
    ("MEX", "MEXICO CITY-MEX", utc(2024, 1, 15, 16)),  # CST -6
    ("TIJ", "TIJUANA-MEX", utc(2024, 1, 15, 18)),  # PST -8
    ("CUN", "CANCUN-MEX", utc(2024, 1, 15, 15)),  # EST -5
    ("PER", "PERTH-AU", utc(2024, 1, 15, 2)),  # AWST +8
    ("BNE", "BRISBANE-AU", utc(2024, 1, 15, 0)),  # AEST +10, no DST
    ("ADL", "ADELAIDE-AU", utc(2024, 1, 14, 23, 30)),  # ACDT +10:30
    ("MAO", "MANAUS-BR", utc(2024, 1, 15, 14)),  # AMT -4
    ("GRU", "SAO PAULO-BR", utc(2024, 1, 15, 13)),  # BRT -3
    ("KJA", "KRASNOYARSK-RU", utc(2024, 1, 15, 3)),  # +7
    ("SVO", "MOSCOW-RU", utc(2024, 1, 15, 7)),  # MSK +3
])
def test_dhl_express_service_areas_of_multi_zone_countries(area: str, text: str, expected: datetime) -> None:
    [event] = _dhl([("2024-01-15", "10:00:00", "AF", area, text)])
    assert (event.occurred_at, event.tz_source) == (expected, TZ_LOCATION_CODE)


def test_dhl_express_hermosillo_is_not_mexico_city() -> None:
    # the issue: Mexican areas were read in America/Mexico_City (UTC-6); Sonora keeps UTC-7 all year
    [event] = _dhl([("2024-07-15", "10:00:00", "AF", "HMO", "HERMOSILLO-MEX")], "US", "MX")
    assert event.occurred_at == utc(2024, 7, 15, 17)


def test_dhl_express_area_code_in_another_country_is_not_trusted() -> None:
    # "LEJ" is Leipzig; a description placing the area in the US makes the code useless, the state decides
    [event] = _dhl([("2024-01-15", "10:00:00", "AF", "LEJ", "SOMEWHERE,TX-USA")])
    assert (event.occurred_at, event.tz_source) == (utc(2024, 1, 15, 16), TZ_LOCATION)  # Texas: CST -6


def test_dhl_express_area_without_country_uses_the_shipment_leg() -> None:
    # no code, no country in the description: a delivery sits in the receiver's country (GB, one zone)
    [event] = _dhl([("2024-07-15", "10:00:00", "OK", "", "DEPOT")], "US", "GB")
    assert (event.occurred_at, event.tz_source) == (utc(2024, 7, 15, 9), TZ_SHIPMENT_COUNTRY)  # BST +1


def test_dhl_express_brazil_summer_time_2018() -> None:
    # Brazil's last DST: 2018-11-04 to 2019-02-17 (BRST -2); none after 2019
    [before, during, after] = _dhl([("2018-11-03", "10:00:00", "AF", "GRU", "SAO PAULO-BR"),
                                    ("2018-12-15", "10:00:00", "AF", "GRU", "SAO PAULO-BR"),
                                    ("2019-12-15", "10:00:00", "AF", "GRU", "SAO PAULO-BR")], "BR", "BR")
    assert (before.occurred_at, during.occurred_at, after.occurred_at) == (
        utc(2018, 11, 3, 13), utc(2018, 12, 15, 12), utc(2019, 12, 15, 13))


# --- FedEx and UPS: city, state / province, country ----------------------------------------------


def _fedex_scan(date: str, city: str, state: str, country: str, event_type: str = "AR") -> bytes:
    return orjson.dumps({"output": {"completeTrackResults": [{"trackingNumber": "123456789012", "trackResults": [{
        "trackingNumberInfo": {"trackingNumber": "123456789012"},
        "scanEvents": [{"date": date, "eventType": event_type, "eventDescription": "x",
                        "scanLocation": {"city": city, "stateOrProvinceCode": state, "countryCode": country}}],
    }]}]}})


@pytest.mark.parametrize(("date", "city", "state", "country", "expected", "source"), [
    ("2024-07-15T10:00:00", "HOUSTON", "TX", "US", utc(2024, 7, 15, 15), TZ_LOCATION),  # CDT -5
    ("2024-07-15T10:00:00", "EL PASO", "TX", "US", utc(2024, 7, 15, 16), TZ_LOCATION),  # city decides: MDT -6
    ("2024-07-15T10:00:00", "PENSACOLA", "FL", "US", utc(2024, 7, 15, 15), TZ_LOCATION),  # CDT, not Florida's EDT
    ("2024-07-15T10:00:00", "MIAMI", "FL", "US", utc(2024, 7, 15, 14), TZ_LOCATION),  # EDT -4
    ("2024-07-15T10:00:00", "SOMEWHERE", "OR", "US", utc(2024, 7, 15, 17), TZ_LOCATION),  # Oregon: PDT -7
    ("2024-01-15T10:00:00", "WINNIPEG", "MB", "CA", utc(2024, 1, 15, 16), TZ_LOCATION),  # CST -6
    ("2024-01-15T10:00:00", "REGINA", "SK", "CA", utc(2024, 1, 15, 16), TZ_LOCATION),  # CST -6, no DST
    ("2024-07-15T10:00:00", "ST. JOHN'S", "NL", "CA", utc(2024, 7, 15, 12, 30), TZ_LOCATION),  # NDT -2:30
    ("2024-07-15T10:00:00", "HERMOSILLO", "SON", "MX", utc(2024, 7, 15, 17), TZ_LOCATION),  # MST -7
    ("2024-07-15T10:00:00", "MONTERREY", "NL", "MX", utc(2024, 7, 15, 16), TZ_LOCATION),  # CST -6 (no DST since 2022)
    ("2024-07-15T10:00:00", "", "", "US", utc(2024, 7, 15, 14), TZ_ASSUMED),  # US, nothing more: New York assumed
    ("2024-07-15T10:00:00", "BERLIN", "", "DE", utc(2024, 7, 15, 8), TZ_COUNTRY),  # one zone: CEST +2
])
def test_fedex_state_and_province(date: str, city: str, state: str, country: str, expected: datetime,
                                  source: str) -> None:
    [event] = fedex.parse(_fedex_scan(date, city, state, country), {}, RECEIVED)
    assert (event.occurred_at, event.tz_source) == (expected, source)


@pytest.mark.parametrize(("date", "state", "expected"), [
    # Australia/Sydney: AEDT +11 until 2024-04-07 03:00, AEST +10, AEDT again from 2024-10-06 02:00
    ("2024-04-06T10:00:00", "NSW", utc(2024, 4, 5, 23)),
    ("2024-04-08T10:00:00", "NSW", utc(2024, 4, 8, 0)),
    ("2024-10-05T10:00:00", "NSW", utc(2024, 10, 5, 0)),
    ("2024-10-07T10:00:00", "NSW", utc(2024, 10, 6, 23)),
    ("2024-10-07T10:00:00", "QLD", utc(2024, 10, 7, 0)),  # Queensland: no DST
])
def test_fedex_australian_dst_in_both_directions(date: str, state: str, expected: datetime) -> None:
    [event] = fedex.parse(_fedex_scan(date, "", state, "AU"), {}, RECEIVED)
    assert (event.occurred_at, event.tz_source) == (expected, TZ_LOCATION)


def _ups_activity(date: str, time: str, city: str, state: str, country: str) -> bytes:
    return orjson.dumps({"trackResponse": {"shipment": [{"inquiryNumber": "1Z0000000000000000", "package": [{
        "trackingNumber": "1Z0000000000000000",
        "activity": [{"date": date, "time": time, "status": {"type": "I", "code": "AR", "description": "x"},
                      "location": {"address": {"city": city, "stateProvince": state, "countryCode": country}}}],
    }]}]}})


@pytest.mark.parametrize(("city", "state", "country", "expected"), [
    ("SEATTLE", "WA", "US", utc(2024, 1, 15, 18)),  # PST -8
    ("DENVER", "CO", "US", utc(2024, 1, 15, 17)),  # MST -7
    ("LOUISVILLE", "KY", "US", utc(2024, 1, 15, 15)),  # EST -5
    ("CALGARY", "AB", "CA", utc(2024, 1, 15, 17)),  # MST -7
    ("HALIFAX", "NS", "CA", utc(2024, 1, 15, 14)),  # AST -4
    ("TORONTO", "ON", "CA", utc(2024, 1, 15, 15)),  # EST -5
])
def test_ups_state_and_province(city: str, state: str, country: str, expected: datetime) -> None:
    [event] = ups.parse(_ups_activity("20240115", "100000", city, state, country), {}, RECEIVED)
    assert (event.occurred_at, event.tz_source) == (expected, TZ_LOCATION)


# --- TNT: depots outside the depot table ------------------------------------------------------------


def _tnt(depot: str, code: str, date: str, time: str, origin: str, destination: str) -> list[Any]:
    xml = ('<TrackResponse><Consignment access="public"><ConsignmentNumber>123456782</ConsignmentNumber>'
           "<OriginDepot>ORG</OriginDepot><SummaryCode>INT</SummaryCode>"
           f"<DestinationCountry><CountryCode>{destination}</CountryCode></DestinationCountry>"
           f"<OriginCountry><CountryCode>{origin}</CountryCode></OriginCountry>"
           f"<StatusData><StatusCode>{code}</StatusCode><StatusDescription>x</StatusDescription>"
           f"<LocalEventDate>{date}</LocalEventDate><LocalEventTime>{time}</LocalEventTime>"
           f"<Depot>{depot}</Depot></StatusData></Consignment></TrackResponse>")
    return tnt.parse(xml.encode(), {}, RECEIVED)


@pytest.mark.parametrize(("depot", "code", "date", "origin", "destination", "expected", "source"), [
    # airport codes of depots in the consignment's countries
    ("LIS", "TR", "20240715", "GB", "PT", utc(2024, 7, 15, 9), TZ_LOCATION_CODE),  # Lisbon WEST +1
    ("OPO", "OK", "20240115", "DE", "PT", utc(2024, 1, 15, 10), TZ_LOCATION_CODE),  # Porto WET +0
    ("DUB", "TR", "20240715", "NL", "IE", utc(2024, 7, 15, 9), TZ_LOCATION_CODE),  # Dublin IST +1
    ("EMA", "TR", "20240115", "NL", "GB", utc(2024, 1, 15, 10), TZ_LOCATION_CODE),  # East Midlands GMT
    # not an airport code: the leg of the event decides (a delivery sits in the destination country)
    ("XY1", "OK", "20240715", "NL", "IE", utc(2024, 7, 15, 9), TZ_SHIPMENT_COUNTRY),  # Ireland IST +1
    ("XY1", "OD", "20240115", "DE", "GB", utc(2024, 1, 15, 10), TZ_SHIPMENT_COUNTRY),  # GB GMT
    ("XY1", "TR", "20240715", "GB", "GB", utc(2024, 7, 15, 9), TZ_SHIPMENT_COUNTRY),  # domestic GB, BST
    ("XY1", "TR", "20240715", "DE", "FR", utc(2024, 7, 15, 8), TZ_SHIPMENT_COUNTRY),  # DE and FR agree: CEST
    ("XY1", "TR", "20240715", "GB", "IE", utc(2024, 7, 15, 9), TZ_SHIPMENT_COUNTRY),  # London, Dublin agree
    # PT has several zones (Azores): the country alone does not decide; on its leg PT's main zone is assumed
    ("XY1", "OK", "20240715", "GB", "PT", utc(2024, 7, 15, 9), TZ_ASSUMED),  # Lisbon WEST +1, assumed
    ("XY1", "TR", "20240715", "GB", "PT", utc(2024, 7, 15, 8), TZ_ASSUMED),  # GB or PT?: home Amsterdam CEST
    # a code that is an airport elsewhere (ORD: Chicago) is not read there
    ("ORD", "TR", "20240715", "GB", "PT", utc(2024, 7, 15, 8), TZ_ASSUMED),
])
def test_tnt_depots_outside_the_table(depot: str, code: str, date: str, origin: str, destination: str,
                                      expected: datetime, source: str) -> None:
    [event] = _tnt(depot, code, date, "1000", origin, destination)
    assert (event.occurred_at, event.tz_source) == (expected, source)


def test_tnt_british_depot_in_october() -> None:
    # GB leaves BST on 2024-10-27 at 02:00 local: 01:30 occurs twice (the first, BST, is taken)
    [before] = _tnt("XY1", "OK", "20241027", "0130", "DE", "GB")
    [after] = _tnt("XY1", "OK", "20241027", "0230", "DE", "GB")
    assert (before.occurred_at, after.occurred_at) == (utc(2024, 10, 27, 0, 30), utc(2024, 10, 27, 2, 30))
