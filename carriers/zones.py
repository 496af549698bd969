"""Which zone a carrier's local wall-clock time was written in: one resolver, for every adapter.

Carriers often send a local time without an offset. ``resolve(place, naive, home)`` turns what the
payload says about where that time was recorded (a ``Place``) into a zone, and says which piece of
data decided it (``tz_source``, ``schemas.events``). The steps, first match wins:

1. ``given``: an explicit UTC offset in the payload (``Place.offset``).
2. ``coordinates``: latitude/longitude → the zone whose boundary holds the point
   (``timezonefinder``, offline polygons; points at sea and (0, 0) are ignored). A point outside the
   event's stated country (swapped latitude and longitude) is not trusted.
3. ``location_code``: a three-letter IATA location code (DHL Express service areas, many TNT
   depots): the airport's coordinates in ``airportsdata`` → its zone, or a multi-airport city code
   (``NYC``, ``MIL``) whose airports share one zone. Trusted only when the airport lies in the
   event's country, or (no event country) in one of the shipment's countries, when those are known:
   a depot code that happens to be an airport abroad is not read there.
4. ``location``: in a country whose zones disagree at that time, the city and region: the airports
   of that city (in that region, when one is given) when they share one zone, else the region's
   zone (``mappings/regions.json``: US states, Canadian provinces, Mexican and Brazilian states,
   Australian states and territories, Russian federal subjects; a region split between zones has
   the zone of most of it, and city data decides for the rest, e.g. El Paso, TX → America/Denver).
   In a country with one zone, city and region add nothing: the country decides (step 5).
5. ``country``: a country whose zones (tzdata's ``zone.tab``) all give that local time the same UTC
   instant: one zone (GB, NL), or several that agree (DE's Berlin and Busingen). A country whose
   zones disagree (US, CA, MX, BR, AU, RU, PT with the Azores, ES with the Canaries) is never
   resolved by the country alone.
6. ``shipment_country``: the event's own country unknown, the shipment's origin country for an
   event on the origin leg (pick-up, pre-transit), its destination country on the destination leg
   (out for delivery, delivered, failed attempt, pick-up point), or either when both give the same
   instant (a domestic shipment, DE → FR), decided as in step 5.
7. ``assumed``: nothing decided. For an event known to be in a country of several zones (its own,
   or that of the leg it sits on) the assumption is that country's main zone (``regions.json``
   ``main_zones``, else zone.tab's first: America/New_York, Australia/Sydney), never the carrier's
   home zone abroad; otherwise the carrier's ``home`` zone. Visible on the event and counted by the normalize agent
   (``trackstream_timezone_assumed_total{carrier}``).

"The same instant" is judged for the time being resolved (``naive``), so DST and rule changes are
honoured: Kazakhstan's zones agree since 2024, not before. Datasets load lazily, once per process
(``import carriers`` stays cheap): ``zone.tab`` of the pinned ``tzdata`` package, ``airportsdata``'s
airports (about 0.1 s), ``timezonefinder``'s polygons (numpy; about 0.4 s the first time).
Everything is offline and pure: the same input gives the same zone.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from functools import cache, lru_cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from carriers.base import load_mapping_file, localize, read_naive, zone
from schemas.events import (
    TZ_ASSUMED,
    TZ_COORDINATES,
    TZ_COUNTRY,
    TZ_GIVEN,
    TZ_LOCATION,
    TZ_LOCATION_CODE,
    TZ_SHIPMENT_COUNTRY,
    Location,
)
from schemas.taxonomy import Status, Substatus

ORIGIN = "origin"
DESTINATION = "destination"
_COUNTRY_ALIASES = {"UK": "GB"}
_IATA = re.compile(r"[A-Z]{3}")
_NOT_ALNUM = re.compile(r"[^0-9A-Z]+")
#: two instants an agreement check compares zones at, to try the most different zones first
_PROBES = (datetime(2026, 1, 15, 12), datetime(2026, 7, 15, 12))
_ORIGIN_STATUSES = frozenset({Status.PRE_TRANSIT})
_ORIGIN_SUBSTATUSES = frozenset({Substatus.PICKED_UP, Substatus.ACCEPTED})
_DESTINATION_STATUSES = frozenset({
    Status.OUT_FOR_DELIVERY, Status.FAILED_ATTEMPT, Status.AVAILABLE_FOR_PICKUP, Status.DELIVERED,
})


@dataclass(frozen=True, slots=True)
class Place:
    """What a payload says about where a local time was recorded; every field is optional.

    ``country``, ``origin_country``, ``destination_country``: ISO 3166-1 alpha-2 (``UK`` is read as
    GB). ``region``: a state / province code or name. ``code``: an IATA-style location code.
    ``leg``: ``ORIGIN`` or ``DESTINATION`` when the event is known to sit on that leg (``leg_of``).
    """

    offset: tzinfo | None = None
    lat: float | None = None
    lon: float | None = None
    code: str = ""
    #: the location's name as the payload gives it (a depot's or service area's name): a code whose
    #: airport city has this name is trusted even outside the shipment's countries
    name: str = ""
    city: str = ""
    region: str = ""
    country: str = ""
    origin_country: str = ""
    destination_country: str = ""
    leg: str | None = None


@dataclass(frozen=True, slots=True)
class Resolved:
    tz: tzinfo
    source: str


def place_at(location: Location | None, *, origin_country: str = "", destination_country: str = "",
             leg: str | None = None) -> Place:
    """A ``Place`` from an event's ``Location``: its city, country and coordinates (not its code:
    only some carriers' location codes are IATA codes), plus the shipment's countries and leg."""
    if location is None:
        return Place(origin_country=origin_country, destination_country=destination_country, leg=leg)
    return Place(
        lat=location.lat, lon=location.lon, city=location.city or "", country=location.country or "",
        origin_country=origin_country, destination_country=destination_country, leg=leg,
    )


def leg_of(status: str, substatus: str | None = None) -> str | None:
    """The leg an event of this status sits on: ``ORIGIN`` (pre-transit, picked up, accepted),
    ``DESTINATION`` (out for delivery, failed attempt, pick-up point, delivered) or None."""
    if status in _ORIGIN_STATUSES or substatus in _ORIGIN_SUBSTATUSES:
        return ORIGIN
    if status in _DESTINATION_STATUSES:
        return DESTINATION
    return None


def resolve(place: Place, naive: datetime, home: str) -> Resolved:
    """The zone (or fixed offset) to read ``naive`` in at ``place``, and the step that decided it
    (see the module docstring). ``home``: the carrier's home zone, used only as ``TZ_ASSUMED``.
    Raises ``PayloadError`` only, for a time without a UTC instant (the ends of datetime's range)."""
    if place.offset is not None:
        return Resolved(place.offset, TZ_GIVEN)
    naive = naive.replace(tzinfo=None)
    country = country_code(place.country)
    zoned = country if country and country_zones(country) else ""
    found = _by_coordinates(place.lat, place.lon, naive, zoned)
    if found is not None:
        return Resolved(found, TZ_COORDINATES)
    shipment = tuple(c for c in (country_code(place.origin_country), country_code(place.destination_country)) if c)
    found = _by_code(place.code, naive, country, shipment, place.name)
    if found is not None:
        return Resolved(found, TZ_LOCATION_CODE)
    if zoned:
        single = single_zone(zoned, naive)
        if single is not None:
            return Resolved(single, TZ_COUNTRY)
        found = _by_city_or_region(zoned, place.region, place.city, naive)
        if found is not None:
            return Resolved(found, TZ_LOCATION)
        return Resolved(country_zones(zoned)[0], TZ_ASSUMED)  # in that country, never the carrier's home
    if not country:  # the event's own country unknown: the shipment's may decide
        found = _by_shipment(place, naive)
        if found is not None:
            return Resolved(found, TZ_SHIPMENT_COUNTRY)
        leg_country = _leg_country(place)
        if leg_country:  # on a leg in a country of several zones: in that country, never the carrier's home
            return Resolved(country_zones(leg_country)[0], TZ_ASSUMED)
    return Resolved(zone(home), TZ_ASSUMED)


def localize_at(naive: datetime, place: Place, home: str) -> tuple[datetime, str]:
    """``naive`` read in the zone ``resolve`` finds → (UTC instant, tz_source)."""
    found = resolve(place, naive, home)
    return localize(naive.replace(tzinfo=None), found.tz), found.source


# --- countries (tzdata zone.tab) -----------------------------------------------------------------


def country_code(value: str | None) -> str:
    """An ISO 3166-1 alpha-2 code upper-cased (``UK`` → ``GB``); "" for anything else."""
    code = (value or "").strip().upper()
    code = _COUNTRY_ALIASES.get(code, code)
    return code if len(code) == 2 and code.isascii() and code.isalpha() else ""


@cache
def _zone_tab() -> dict[str, tuple[str, ...]]:
    """``zone.tab`` of the ``tzdata`` package: country → its zones, in the file's order (the most
    populous first)."""
    text = resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text(encoding="utf-8")
    zones: dict[str, list[str]] = defaultdict(list)
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        fields = line.split("\t")
        zones[fields[0]].append(fields[2])
    return {country: tuple(names) for country, names in zones.items()}


def _load(name: str) -> ZoneInfo | None:
    try:
        return zone(name)
    except (ZoneInfoNotFoundError, ValueError):  # a name the system's zone database lacks
        return None


def _offsets(tz: tzinfo) -> tuple[timedelta | None, ...]:
    return tuple(probe.replace(tzinfo=tz).utcoffset() for probe in _PROBES)


@cache
def country_zones(country: str) -> tuple[ZoneInfo, ...]:
    """The zones of a country (``zone.tab``): its main zone first (``regions.json`` ``main_zones``,
    else the first zone.tab lists), then the others ordered from the most different offset to the
    least, so that a disagreement shows after few comparisons."""
    names = list(_zone_tab().get(country, ()))
    main_name = _regions().main.get(country)
    if main_name in names:
        names.remove(main_name)
        names.insert(0, main_name)
    loaded = [z for z in (_load(name) for name in names) if z is not None]
    if len(loaded) < 2:
        return tuple(loaded)
    main, rest = loaded[0], loaded[1:]
    base = _offsets(main)

    def distance(tz: ZoneInfo) -> float:
        return -sum(abs((a - b).total_seconds()) for a, b in zip(_offsets(tz), base, strict=True)
                    if a is not None and b is not None)

    return (main, *sorted(rest, key=distance))


def _agree(naive: datetime, zones: Sequence[tzinfo]) -> bool:
    """Every zone gives ``naive`` the same UTC instant."""
    first = localize(naive, zones[0])
    return all(localize(naive, other) == first for other in zones[1:])


def single_zone(country: str, naive: datetime) -> ZoneInfo | None:
    """The country's main zone when all its zones agree on ``naive``, else None."""
    zones = country_zones(country)
    if zones and _agree(naive, zones):
        return zones[0]
    return None


def _in_country(naive: datetime, tz: tzinfo, country: str) -> bool:
    """``tz`` gives ``naive`` the instant one of the country's zones gives it (an unknown country
    accepts any zone)."""
    zones = country_zones(country) if country else ()
    if not zones:
        return True
    instant = localize(naive, tz)
    return any(localize(naive, other) == instant for other in zones)


# --- coordinates (timezonefinder) ----------------------------------------------------------------


@cache
def _finder() -> Any:
    from timezonefinder import TimezoneFinder  # numpy and polygon data: loaded on first use only

    return TimezoneFinder()


@lru_cache(maxsize=8192)  # bounded: coordinates come from payloads
def _zone_at(lat: float, lon: float) -> ZoneInfo | None:
    name = _finder().timezone_at_land(lng=lon, lat=lat)
    return _load(name) if isinstance(name, str) else None


def usable_coordinates(lat: float | None, lon: float | None) -> bool:
    """Finite, in range, and not (0, 0) (the usual placeholder for "no position")."""
    if lat is None or lon is None or not (math.isfinite(lat) and math.isfinite(lon)):
        return False
    return -90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0 and (lat, lon) != (0.0, 0.0)


def _by_coordinates(lat: float | None, lon: float | None, naive: datetime, country: str) -> ZoneInfo | None:
    if lat is None or lon is None or not usable_coordinates(lat, lon):
        return None
    found = _zone_at(round(lat, 5), round(lon, 5))
    if found is None or not _in_country(naive, found, country):
        return None
    return found


# --- airports (airportsdata) ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Airport:
    country: str
    lat: float
    lon: float
    tz: str  # airportsdata's own zone: used where the coordinates fall outside every land polygon
    city: str = ""  # text_key of the airport's city


@dataclass(frozen=True, slots=True)
class _Airports:
    by_code: dict[str, _Airport]
    cities: dict[tuple[str, str, str], tuple[_Airport, ...]]  # (country, region code or "", city key)
    macs: dict[str, tuple[str, tuple[_Airport, ...]]]  # multi-airport city code → (country, airports)


def text_key(value: str) -> str:
    """Text compared loosely: accents dropped, upper case, runs of anything but A-Z / 0-9 as one space."""
    decomposed = unicodedata.normalize("NFKD", value)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).upper()
    return " ".join(_NOT_ALNUM.sub(" ", plain).split())


@cache
def _airports() -> _Airports:
    import airportsdata  # about 0.1 s: loaded on the first code or city lookup only

    by_code: dict[str, _Airport] = {}
    cities: dict[tuple[str, str, str], list[_Airport]] = defaultdict(list)
    for row in airportsdata.load("ICAO").values():
        city = text_key(str(row["city"]))
        airport = _Airport(str(row["country"]), float(row["lat"]), float(row["lon"]), str(row["tz"]), city)
        if row["iata"]:
            by_code[str(row["iata"])] = airport
        if city:
            cities[(airport.country, "", city)].append(airport)
            region = _subdivision(airport.country, str(row["subd"]))
            if region:
                cities[(airport.country, region, city)].append(airport)
    macs = {
        code: (str(mac["country"]), tuple(by_code[a] for a in mac["airports"] if a in by_code))
        for code, mac in airportsdata.load_iata_macs().items()
    }
    return _Airports(by_code, {key: tuple(found) for key, found in cities.items()}, macs)


def airport_zone(airport: _Airport) -> ZoneInfo | None:
    """The zone at the airport's coordinates; airportsdata's zone when they are not on land."""
    return _zone_at(airport.lat, airport.lon) or (_load(airport.tz) if airport.tz else None)


def _shared_zone(airports: Iterable[_Airport], naive: datetime) -> ZoneInfo | None:
    zones = [z for z in (airport_zone(a) for a in airports) if z is not None]
    return zones[0] if zones and _agree(naive, zones) else None


def code_country(code: str) -> str:
    """The country of an IATA airport or multi-airport city code; "" when it is neither."""
    key = code.strip().upper()
    if not _IATA.fullmatch(key):
        return ""
    data = _airports()
    airport = data.by_code.get(key)
    if airport is not None:
        return airport.country
    mac = data.macs.get(key)
    return mac[0] if mac else ""


def _by_code(code: str, naive: datetime, country: str, shipment: tuple[str, ...],
             name: str = "") -> ZoneInfo | None:
    key = code.strip().upper()
    if not _IATA.fullmatch(key):
        return None
    where = code_country(key)
    if not where or (country and where != country):
        return None
    data = _airports()
    airport = data.by_code.get(key)
    if not country and shipment and where not in shipment:
        # outside the shipment's countries a code alone may be a carrier's own depot code that
        # happens to be an airport's (TNT's NBE); the location's name naming the same city decides
        named = text_key(name)
        if not (airport is not None and named and airport.city and
                (named == airport.city or named.startswith(airport.city + " "))):
            return None
    if airport is not None:
        return airport_zone(airport)
    return _shared_zone(data.macs[key][1], naive)


# --- regions and cities (mappings/regions.json, airportsdata) -----------------------------------


@dataclass(frozen=True, slots=True)
class _Regions:
    zones: dict[str, dict[str, str]]  # country → region code → zone name
    keys: dict[str, dict[str, str]]  # country → code / alias / name key → region code
    main: dict[str, str]  # country → the zone of most of its people, where zone.tab lists another first


@cache
def _regions() -> _Regions:
    data = load_mapping_file("regions.json")
    zones: dict[str, dict[str, str]] = {}
    keys: dict[str, dict[str, str]] = {}
    for country, rows in data["regions"].items():
        zones[country] = {code: row[0] for code, row in rows.items()}
        known = keys.setdefault(country, {})
        for code, row in rows.items():
            for name in row[1:]:
                known[text_key(name)] = code
        for alias, code in data["aliases"].get(country, {}).items():
            known[alias] = code
        known.update({code: code for code in rows})  # a code always means its own row
    return _Regions(zones, keys, dict(data["main_zones"]))


def region_code(country: str, region: str) -> str:
    """The ``regions.json`` code of a region given by code, alias or name; "" when unknown."""
    key = text_key(region)
    return _regions().keys.get(country, {}).get(key, "") if key else ""


@cache
def _subdivision(country: str, name: str) -> str:
    return region_code(country, name) if country in _regions().zones else ""


def region_zone(country: str, region: str) -> ZoneInfo | None:
    code = region_code(country, region)
    return _load(_regions().zones[country][code]) if code else None


def _by_city_or_region(country: str, region: str, city: str, naive: datetime) -> ZoneInfo | None:
    code = region_code(country, region)
    city_key = text_key(city)
    if city_key:
        airports = _airports().cities.get((country, code, city_key), ())
        found = _shared_zone(airports, naive) if airports else None
        if found is not None and _in_country(naive, found, country):
            return found
    return region_zone(country, region) if code else None


# --- the shipment's countries ----------------------------------------------------------------------


def _leg_country(place: Place) -> str:
    """The country of the leg the event sits on, when known and in zone.tab; else ""."""
    country = country_code(place.origin_country if place.leg == ORIGIN else
                           place.destination_country if place.leg == DESTINATION else "")
    return country if country and country_zones(country) else ""


def _by_shipment(place: Place, naive: datetime) -> ZoneInfo | None:
    origin, destination = country_code(place.origin_country), country_code(place.destination_country)
    if place.leg == ORIGIN:
        candidates = [origin]
    elif place.leg == DESTINATION:
        candidates = [destination]
    else:
        candidates = [origin, destination] if origin and destination else []
    if not candidates or not all(c and country_zones(c) for c in candidates):
        return None
    zones = [z for country in candidates for z in country_zones(country)]
    return zones[0] if _agree(naive, zones) else None


def parse_local_at(text: str, formats: tuple[str, ...], place: Place, home: str) -> tuple[datetime, str]:
    """``read_naive`` then ``localize_at`` → (UTC instant, tz_source)."""
    return localize_at(read_naive(text, formats), place, home)
