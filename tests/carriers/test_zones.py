"""``carriers.zones``: the resolution order, countries of one and of several zones, DST, the data.

Expected zones and instants are worked out by hand (offsets noted on each case)."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest

from agents.normalize import count_assumed_zones, normalize_batch
from carriers import zones
from carriers.base import load_mapping_file, localize, zone
from carriers.zones import DESTINATION, ORIGIN, Place, localize_at, resolve
from schemas.events import (
    TZ_ASSUMED,
    TZ_COORDINATES,
    TZ_COUNTRY,
    TZ_GIVEN,
    TZ_LOCATION,
    TZ_LOCATION_CODE,
    TZ_SHIPMENT_COUNTRY,
)
from tests.carriers.properties import utc
from trackstream import metrics

SUMMER = datetime(2024, 7, 15, 10)
HOME = "Europe/Amsterdam"


# --- the order -------------------------------------------------------------------------------------

# every piece of data at once, each pointing somewhere else (all in the US, whose zones disagree)
EVERYTHING = dict(
    offset=timezone(timedelta(hours=-3)),
    lat=47.61, lon=-122.33,  # Seattle: Pacific
    code="DEN",  # Denver: Mountain
    city="Chicago", region="IL",  # Central
    country="US",
    origin_country="GB", destination_country="GB", leg=DESTINATION,
)


@pytest.mark.parametrize(("drop", "expected_zone", "source"), [
    ((), "UTC-03:00", TZ_GIVEN),  # an explicit offset beats everything
    (("offset",), "America/Los_Angeles", TZ_COORDINATES),  # coordinates beat a code
    (("offset", "lat", "lon"), "America/Denver", TZ_LOCATION_CODE),  # a code beats city / state
    (("offset", "lat", "lon", "code"), "America/Chicago", TZ_LOCATION),  # city / state beat the country
    (("offset", "lat", "lon", "code", "city", "region"), "America/New_York", TZ_ASSUMED),  # US alone: no
])
def test_resolution_order(drop: tuple[str, ...], expected_zone: str, source: str) -> None:
    found = resolve(Place(**{k: v for k, v in EVERYTHING.items() if k not in drop}), SUMMER, HOME)  # type: ignore[arg-type]
    assert (str(found.tz), found.source) == (expected_zone, source)


def test_country_beats_the_shipment_and_the_shipment_beats_home() -> None:
    # a code in a one-zone country: the country (GB) decides, not the shipment's countries (DE)
    place = Place(city="Manchester", country="GB", origin_country="DE", destination_country="DE", leg=ORIGIN)
    assert (str(resolve(place, SUMMER, HOME).tz), resolve(place, SUMMER, HOME).source) == ("Europe/London", TZ_COUNTRY)
    # no country of its own: the shipment's, on that leg
    place = Place(origin_country="IE", destination_country="DE", leg=ORIGIN)
    assert (str(resolve(place, SUMMER, HOME).tz), resolve(place, SUMMER, HOME).source) == (
        "Europe/Dublin", TZ_SHIPMENT_COUNTRY)
    # nothing at all: the carrier's home zone, assumed
    found = resolve(Place(), SUMMER, HOME)
    assert (str(found.tz), found.source) == (HOME, TZ_ASSUMED)


def test_a_country_of_its_own_keeps_the_shipment_out() -> None:
    # the event is in the US: the shipment's countries (DE, DE) must not make it Berlin
    found = resolve(Place(country="US", origin_country="DE", destination_country="DE", leg=ORIGIN), SUMMER, HOME)
    assert (str(found.tz), found.source) == ("America/New_York", TZ_ASSUMED)


# --- countries -------------------------------------------------------------------------------------


@pytest.mark.parametrize("country", ["US", "CA", "MX", "AU", "BR", "RU", "PT", "ES", "NZ", "CL", "ID"])
def test_countries_of_several_zones_are_not_resolved_by_the_country(country: str) -> None:
    assert zones.single_zone(country, SUMMER) is None
    assert resolve(Place(country=country), SUMMER, HOME).source == TZ_ASSUMED


@pytest.mark.parametrize(("country", "name"), [
    ("GB", "Europe/London"), ("UK", "Europe/London"), ("NL", "Europe/Amsterdam"), ("IE", "Europe/Dublin"),
    ("DE", "Europe/Berlin"),  # Berlin and Busingen agree
    ("JP", "Asia/Tokyo"), ("IN", "Asia/Kolkata"), ("ZA", "Africa/Johannesburg"), ("TH", "Asia/Bangkok"),
])
def test_countries_of_one_zone(country: str, name: str) -> None:
    found = resolve(Place(country=country), SUMMER, HOME)
    assert (str(found.tz), found.source) == (name, TZ_COUNTRY)


def test_agreement_is_judged_at_the_time_resolved() -> None:
    # Kazakhstan's zones all keep +05 since 2024-03-01; in 2023 Almaty was +06
    assert resolve(Place(country="KZ"), datetime(2025, 1, 15, 10), HOME).source == TZ_COUNTRY
    assert resolve(Place(country="KZ"), datetime(2023, 1, 15, 10), HOME).source == TZ_ASSUMED


def test_single_zone_countries_come_from_zone_tab() -> None:
    single = {c for c in zones._zone_tab() if zones.single_zone(c, SUMMER) is not None}
    assert {"GB", "NL", "FR", "IT", "JP", "ZA", "DE"} <= single
    assert not {"US", "CA", "MX", "AU", "BR", "RU", "PT"} & single
    assert len(single) > 200  # derived from tzdata, not a hand list


# --- DST in both hemispheres ------------------------------------------------------------------------


@pytest.mark.parametrize(("place", "naive", "expected"), [
    # Europe: CEST from 2024-03-31 02:00 (02:30 does not exist: the offset before), CET from 10-27 03:00
    (Place(country="NL"), datetime(2024, 3, 31, 1, 59), utc(2024, 3, 31, 0, 59)),
    (Place(country="NL"), datetime(2024, 3, 31, 2, 30), utc(2024, 3, 31, 1, 30)),
    (Place(country="NL"), datetime(2024, 3, 31, 3, 0), utc(2024, 3, 31, 1, 0)),
    (Place(country="NL"), datetime(2024, 10, 27, 2, 30), utc(2024, 10, 27, 0, 30)),  # twice: the first
    (Place(country="NL"), datetime(2024, 10, 27, 3, 0), utc(2024, 10, 27, 2, 0)),
    # Sydney: AEDT +11 ends 2024-04-07 03:00 (02:30 twice), AEST +10 ends 2024-10-06 02:00 (02:30 missing)
    (Place(region="NSW", country="AU"), datetime(2024, 4, 7, 2, 30), utc(2024, 4, 6, 15, 30)),
    (Place(region="NSW", country="AU"), datetime(2024, 4, 7, 3, 0), utc(2024, 4, 6, 17, 0)),
    (Place(region="NSW", country="AU"), datetime(2024, 10, 6, 1, 59), utc(2024, 10, 5, 15, 59)),
    (Place(region="NSW", country="AU"), datetime(2024, 10, 6, 3, 0), utc(2024, 10, 5, 16, 0)),
    # São Paulo: BRST -2 from 2018-11-04 00:00 to 2019-02-17 00:00; no DST since
    (Place(region="SP", country="BR"), datetime(2018, 11, 3, 12), utc(2018, 11, 3, 15)),
    (Place(region="SP", country="BR"), datetime(2018, 11, 4, 12), utc(2018, 11, 4, 14)),
    (Place(region="SP", country="BR"), datetime(2019, 2, 16, 12), utc(2019, 2, 16, 14)),
    (Place(region="SP", country="BR"), datetime(2019, 2, 17, 12), utc(2019, 2, 17, 15)),
    (Place(region="SP", country="BR"), datetime(2024, 12, 15, 12), utc(2024, 12, 15, 15)),
])
def test_dst_changes(place: Place, naive: datetime, expected: datetime) -> None:
    assert localize_at(naive, place, HOME)[0] == expected


# --- regions and cities -----------------------------------------------------------------------------


@pytest.mark.parametrize(("country", "region", "name"), [
    ("US", "TX", "America/Chicago"), ("US", "Texas", "America/Chicago"), ("US", "AZ", "America/Phoenix"),
    ("US", "IN", "America/Indiana/Indianapolis"), ("US", "HI", "Pacific/Honolulu"),
    ("CA", "BC", "America/Vancouver"), ("CA", "NL", "America/St_Johns"), ("CA", "Québec", "America/Toronto"),
    ("MX", "SON", "America/Hermosillo"), ("MX", "SO", "America/Hermosillo"), ("MX", "BCN", "America/Tijuana"),
    ("MX", "ROO", "America/Cancun"), ("MX", "CMX", "America/Mexico_City"), ("MX", "DIF", "America/Mexico_City"),
    ("AU", "WA", "Australia/Perth"), ("AU", "QLD", "Australia/Brisbane"), ("AU", "SA", "Australia/Adelaide"),
    ("BR", "AM", "America/Manaus"), ("BR", "AC", "America/Rio_Branco"), ("BR", "São Paulo", "America/Sao_Paulo"),
    ("RU", "KGD", "Europe/Kaliningrad"), ("RU", "NVS", "Asia/Novosibirsk"), ("RU", "KAM", "Asia/Kamchatka"),
])
def test_region_zones(country: str, region: str, name: str) -> None:
    found = resolve(Place(region=region, country=country), SUMMER, HOME)
    assert (str(found.tz), found.source) == (name, TZ_LOCATION)


@pytest.mark.parametrize(("city", "region", "name"), [
    ("El Paso", "TX", "America/Denver"),  # Texas is mostly Central
    ("Pensacola", "FL", "America/Chicago"),  # Florida is mostly Eastern
    ("Portland", "OR", "America/Los_Angeles"), ("Portland", "ME", "America/New_York"),  # the state tells them apart
    ("Los Angeles", "", "America/Los_Angeles"),  # one city of that name in the US
])
def test_city_data_decides_within_a_state(city: str, region: str, name: str) -> None:
    found = resolve(Place(city=city, region=region, country="US"), SUMMER, HOME)
    assert (str(found.tz), found.source) == (name, TZ_LOCATION)


def test_every_region_zone_is_the_zone_most_of_its_airports_are_in() -> None:
    """The hand-checked table against the data: per region, the most common zone at its airports'
    coordinates (timezonefinder) gives the same instants (2024, January and July) as the table's zone."""
    data = load_mapping_file("regions.json")["regions"]
    import airportsdata

    counts: dict[tuple[str, str], Counter[str]] = {}
    for row in airportsdata.load("IATA").values():
        code = zones.region_code(row["country"], row["subd"]) if row["country"] in data else ""
        found = zones.airport_zone(zones._Airport(row["country"], row["lat"], row["lon"], row["tz"])) if code else None
        if code and found is not None:
            counts.setdefault((row["country"], code), Counter())[found.key] += 1
    probes = (datetime(2024, 1, 15, 12), datetime(2024, 7, 15, 12))
    disagree = []
    for (country, code), counter in counts.items():
        common = counter.most_common(1)[0][0]
        table = data[country][code][0]
        if any(localize(p, zone(common)) != localize(p, zone(table)) for p in probes):
            disagree.append((country, code))
    assert len(counts) > 140  # most of the 220 regions have airports
    # airportsdata names several airstrips of Acre (Rio Branco time) "Distrito Federal": its error, not the table's
    assert disagree == [("BR", "DF")]


def test_region_rows_name_real_zones() -> None:
    for country, rows in load_mapping_file("regions.json")["regions"].items():
        for code, row in rows.items():
            own = zones.country_zones(code) if country == "US" and code in {"PR", "VI", "GU", "AS", "MP"} else ()
            assert zone(row[0]) in (*zones.country_zones(country), *own), (country, code, row[0])  # territories


# --- codes and coordinates ---------------------------------------------------------------------------


def test_codes_are_checked_against_the_countries_known() -> None:
    assert resolve(Place(code="HMO"), SUMMER, HOME).tz == zone("America/Hermosillo")  # nothing to check
    assert resolve(Place(code="HMO", country="MX"), SUMMER, HOME).source == TZ_LOCATION_CODE
    assert resolve(Place(code="HMO", country="US"), SUMMER, HOME).source == TZ_ASSUMED  # not in the US
    assert resolve(Place(code="HMO", origin_country="GB", destination_country="DE"), SUMMER, HOME).source != (
        TZ_LOCATION_CODE)
    assert resolve(Place(code="NYC", country="US"), SUMMER, HOME).tz == zone("America/New_York")  # city code
    assert resolve(Place(code="BA4", country="GB"), SUMMER, HOME).source == TZ_COUNTRY  # not a code


def test_a_code_outside_the_shipments_countries_is_trusted_when_the_name_names_its_city() -> None:
    # TNT's 30-event response: a Zurich depot (ZRH) on a consignment between GB and BE
    def at(code: str, name: str = "") -> Place:
        return Place(code=code, name=name, origin_country="GB", destination_country="BE")

    named = resolve(at(code="ZRH", name="Zurich"), SUMMER, HOME)
    assert (named.tz, named.source) == (zone("Europe/Zurich"), TZ_LOCATION_CODE)
    assert resolve(at(code="ZRH", name="ZURICH HUB"), SUMMER, HOME).source == TZ_LOCATION_CODE
    assert resolve(at(code="ZRH"), SUMMER, HOME).source != TZ_LOCATION_CODE  # a code alone: no
    assert resolve(at(code="ZRH", name="Basel"), SUMMER, HOME).source != TZ_LOCATION_CODE


@pytest.mark.parametrize(("lat", "lon", "country", "source"), [
    (51.70, 5.27, "NL", TZ_COORDINATES),
    (5.27, 51.70, "NL", TZ_COUNTRY),  # swapped: Somalia's coast is not in NL
    (0.0, 0.0, "", TZ_ASSUMED),  # the placeholder for "no position"
    (40.0, -30.0, "", TZ_ASSUMED),  # mid-Atlantic: no land zone
    (91.0, 0.0, "", TZ_ASSUMED), (float("nan"), 1.0, "", TZ_ASSUMED),
])
def test_coordinates(lat: float, lon: float, country: str, source: str) -> None:
    assert resolve(Place(lat=lat, lon=lon, country=country), SUMMER, HOME).source == source


# --- the assumption is visible and counted -------------------------------------------------------------


def test_assumed_zones_are_counted_per_carrier() -> None:
    push = b"pnr=01234567890123&status=delivered&statusdate=01072024100000&depot=0522"  # DPD: no country
    before = metrics.TIMEZONE_ASSUMED.labels("dpd_nl")._value.get()
    result = normalize_batch([("carrier.dpd_nl.raw", 0, 1, push, {})], 4, datetime.now(UTC))
    [event] = [e for events in result.by_partition.values() for e in events]
    assert (event.tz_source, event.occurred_at) == (TZ_ASSUMED, utc(2024, 7, 1, 8))  # Amsterdam, CEST
    assert event.to_dict()["tz_source"] == "assumed"
    count_assumed_zones(result)
    assert metrics.TIMEZONE_ASSUMED.labels("dpd_nl")._value.get() == before + 1


def test_placed_events_are_not_counted() -> None:
    body = orjson.dumps({"shipments": [{"shipmentTrackingNumber": "1", "events": [
        {"date": "2024-07-15", "time": "10:00:00", "typeCode": "PU", "serviceArea": [{"code": "JFK"}]}]}]})
    before = metrics.TIMEZONE_ASSUMED.labels("dhl_express")._value.get()
    count_assumed_zones(normalize_batch([("carrier.dhl_express.raw", 0, 1, body, {})], 4, datetime.now(UTC)))
    assert metrics.TIMEZONE_ASSUMED.labels("dhl_express")._value.get() == before


# --- cost ------------------------------------------------------------------------------------------------


def test_import_carriers_loads_no_zone_dataset() -> None:
    code = ("import sys, carriers, carriers.zones; "
            "print(sorted(m for m in ('numpy', 'timezonefinder', 'airportsdata', 'h3') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
