"""How much of what each carrier documents trackstream maps: ``trackstream carriers coverage``.

The carriers' published code lists are data (``carriers/mappings/<carrier>.documented.json``, each
with its sources). For every documented table the report asks the adapter's own lookup, the one its
parser uses, whether each documented code is mapped; so a code that only a fallback would catch is
not counted as mapped unless the adapter really maps it, and a gap shows before a payload does.

The report is a list of sections (``SECTIONS``). A section has a title, column names and a
function from a carrier to its rows; a carrier a section says nothing about gets no rows there.
The code tables are one section (``CODES``); another kind of report (for example how each kind of
location gets its time zone) is added by appending a ``Section`` to ``SECTIONS``, without touching
the code tables.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from carriers.base import CodeMapping, load_mapping_file
from carriers.zones import Place
from schemas.events import TZ_CARRIER_ZONE, TZ_GIVEN

#: ``lookup(code)`` → the mapping the adapter would use for that code, or None (unmapped).
Lookup = Callable[[str], CodeMapping | None]


@dataclass(frozen=True, slots=True)
class TableCoverage:
    carrier: str
    table: str
    documented: tuple[str, ...]
    unmapped: tuple[str, ...]

    @property
    def mapped(self) -> int:
        return len(self.documented) - len(self.unmapped)

    @property
    def complete(self) -> bool:
        return not self.unmapped


@dataclass(frozen=True, slots=True)
class Section:
    """One part of the report: ``rows(carrier)`` gives that carrier's rows, one cell per column.

    ``gaps(carrier)`` says what the section found missing (non-empty makes the command exit 1).
    """

    title: str
    columns: tuple[str, ...]
    rows: Callable[[str], list[tuple[str, ...]]]
    gaps: Callable[[str], list[str]] = field(default=lambda _carrier: [])


# --- the lookups, per carrier and documented table --------------------------------------------------


def _tnt() -> dict[str, Lookup]:
    from carriers import tnt

    return {"status_codes": tnt.map_status_code, "summary_codes": tnt.map_summary_code}


def _fedex() -> dict[str, Lookup]:
    from carriers import fedex

    def layer(expected: str, event_type: str, derived: str) -> CodeMapping | None:
        mapping, found, _ = fedex.map_scan(event_type, derived)
        return mapping if found == expected else None

    return {
        "event_types": lambda code: layer("event_type", code, ""),
        # the fallback alone: a scan that has this derivedStatusCode and no eventType
        "derived_codes": lambda code: layer("derived_code", "", code),
    }


def _ups() -> dict[str, Lookup]:
    from carriers import ups

    def layer(expected: str, kind: str, code: str, status: str) -> CodeMapping | None:
        mapping, found, _ = ups.map_activity(kind, code, status)
        return mapping if found == expected else None

    return {
        "status_codes": lambda code: layer("status_code", "", "", code),
        "activity_types": lambda code: layer("activity_type", code, "", ""),
        "activity_codes": lambda code: layer("activity_code", "", code, ""),
    }


def _dhl_express() -> dict[str, Lookup]:
    from carriers import dhl_express

    return {"event_codes": dhl_express.map_event_code,
            "unified_status_codes": dhl_express.map_unified_status_code}


def _postnl() -> dict[str, Lookup]:
    from carriers import postnl

    return {"event_codes": postnl.map_event_code, "status_codes": postnl.map_status_code}


def _gls_nl() -> dict[str, Lookup]:
    from carriers import gls_nl

    def exact(code: str) -> CodeMapping | None:
        mapping, found = gls_nl.map_event_code(code)
        return mapping if found == "event_code" else None

    return {"parcel_status": gls_nl.map_parcel_status, "event_codes": exact,
            "rstt001_event_codes": gls_nl.map_rstt001_code}


#: carrier → its lookups by documented table (imported when asked for: the adapters stay unloaded).
LOOKUPS: dict[str, Callable[[], dict[str, Lookup]]] = {
    "tnt": _tnt, "fedex": _fedex, "ups": _ups, "dhl_express": _dhl_express, "postnl": _postnl,
    "gls_nl": _gls_nl,
}


def documented(carrier: str) -> dict[str, dict[str, str]]:
    """``{table: {code: carrier's text}}`` from ``mappings/<carrier>.documented.json``."""
    data: Mapping[str, Any] = load_mapping_file(f"{carrier}.documented.json")
    return {table: dict(codes) for table, codes in data["tables"].items()}


def code_coverage(carrier: str, lookups: Mapping[str, Lookup] | None = None) -> list[TableCoverage]:
    """Per documented table: the documented codes and those the adapter does not map."""
    found = dict(lookups) if lookups is not None else LOOKUPS[carrier]()
    out: list[TableCoverage] = []
    for table, codes in documented(carrier).items():
        if table not in found:
            raise KeyError(f"{carrier}.documented.json: no lookup for table {table!r}")
        lookup = found[table]
        listed = tuple(codes)
        out.append(TableCoverage(carrier, table, listed, tuple(c for c in listed if lookup(c) is None)))
    return out


def _code_rows(carrier: str) -> list[tuple[str, ...]]:
    if carrier not in LOOKUPS:
        return []
    return [
        (t.table, str(len(t.documented)), str(t.mapped), ", ".join(t.unmapped) or "-")
        for t in code_coverage(carrier)
    ]


def _code_gaps(carrier: str) -> list[str]:
    if carrier not in LOOKUPS:
        return []
    return [f"{carrier}.{t.table}: {code}" for t in code_coverage(carrier) for code in t.unmapped]


CODES = Section("codes", ("table", "documented", "mapped", "unmapped"), _code_rows, _code_gaps)

# --- time zones: how each kind of location a carrier gives is placed ---------------------------


@dataclass(frozen=True, slots=True)
class ZoneKind:
    """A kind of location (or time) a carrier's payloads carry, ``gives`` what the adapter hands
    the zone resolver, and an ``example`` of it as the adapter builds it. ``fixed``: the carrier's
    times need no resolving (``given``: they carry an offset; ``carrier_zone``: one zone for all)."""

    kind: str
    gives: str
    example: Place | None = None
    fixed: str = ""


def _zone_kinds() -> dict[str, list[ZoneKind]]:
    from carriers.zones import DESTINATION, ORIGIN

    def kind(title: str, gives: str, **place: Any) -> ZoneKind:
        return ZoneKind(title, gives, Place(**place))

    return {
        "postnl": [
            ZoneKind("time with an offset", "the offset", fixed=TZ_GIVEN),
            kind("event, domestic", "sender and receiver countries", origin_country="NL", destination_country="NL"),
            kind("delivery abroad, one-zone country", "the countries, the leg", origin_country="NL",
                 destination_country="BE", leg=DESTINATION),
            kind("delivery abroad, several zones", "the countries, the leg", origin_country="NL",
                 destination_country="US", leg=DESTINATION),
        ],
        "dhl_parcel_nl": [
            kind("address in a one-zone country", "city, country", city="Utrecht", country="NL"),
            kind("address without a country", "the shipment's countries, the leg", origin_country="NL",
                 destination_country="DE", leg=DESTINATION),
        ],
        "dpd_nl": [
            kind("poll: 'City (CC)' location", "city, country", city="Venlo", country="NL"),
            kind("push: depot number only", "nothing that places it"),
        ],
        "gls_nl": [
            kind("event with city and country", "city, country", city="Zwolle", country="NL"),
            kind("event abroad", "city, country", city="Neuenstein", country="DE"),
        ],
        "dhl_express": [
            kind("service area with an airport code", "code, city, state, country", code="JFK", city="NEW YORK",
                 region="NY", country="US", origin_country="US", destination_country="US"),
            kind("service area code and name, Mexico", "code, name, country", code="HMO", name="HERMOSILLO",
                 country="MX", origin_country="US", destination_country="MX"),
            kind("'CITY,ST' without a code", "city, state, country", city="LOS ANGELES", region="CA",
                 country="US"),
            kind("one-zone country", "country", country="DE"),
        ],
        "fedex": [
            kind("scan location, US", "city, state, country", city="MEMPHIS", region="TN", country="US"),
            kind("scan location, Canada", "city, province, country", city="TORONTO", region="ON", country="CA"),
            kind("scan without a location", "the shipment's countries, the leg", origin_country="US",
                 destination_country="NL", leg=DESTINATION),
        ],
        "ups": [
            ZoneKind("activity with gmtOffset", "the offset", fixed=TZ_GIVEN),
            kind("activity location, US", "city, state, country", city="ATLANTA", region="GA", country="US"),
            kind("activity location, Australia", "city, state, country", city="PERTH", region="WA", country="AU"),
        ],
        "tnt": [
            kind("depot with an airport code", "code, name, shipment countries", code="LHR", name="HEATHROW",
                 origin_country="NL", destination_country="GB"),
            kind("delivery town", "town, destination country, the leg", city="Sydney", country="AU",
                 destination_country="AU", leg=DESTINATION),
            kind("depot unknown, origin leg", "the shipment's countries, the leg", origin_country="IE",
                 destination_country="NL", leg=ORIGIN),
        ],
        "myparcel": [ZoneKind("every time", "the zone the payload names (default Europe/Amsterdam)",
                              fixed=TZ_CARRIER_ZONE)],
        "sendcloud": [ZoneKind("every time", "epochs, Z or an offset", fixed=TZ_GIVEN)],
        "native": [ZoneKind("every time", "an offset (required)", fixed=TZ_GIVEN)],
    }


#: January and July, noon: a zone's both offsets where it has two.
_PROBES = (datetime(2026, 1, 15, 12), datetime(2026, 7, 15, 12))


def _home(carrier: str) -> str:
    import importlib

    return str(getattr(importlib.import_module(f"carriers.{carrier}"), "HOME_ZONE", "UTC"))


def zone_rows(carrier: str) -> list[tuple[str, ...]]:
    """Per kind of location: what it gives, and how the resolver places it in January and July
    (``tz_source``: the zone)."""
    from carriers.zones import resolve

    rows: list[tuple[str, ...]] = []
    for found in _zone_kinds().get(carrier, []):
        if found.example is None:
            rows.append((found.kind, found.gives, found.fixed))
            continue
        cells = []
        for probe in _PROBES:
            placed = resolve(found.example, probe, _home(carrier))
            cells.append(f"{placed.source}: {placed.tz}")
        rows.append((found.kind, found.gives, cells[0] if cells[0] == cells[1] else " / ".join(cells)))
    return rows


def _zone_gaps(carrier: str) -> list[str]:
    """Nothing here fails the command: an ``assumed`` row is visible in the report, and is what
    the payload gives (a DPD push names only a depot), not a table trackstream could complete."""
    return []


ZONES = Section("time zones", ("location", "gives", "placed by (January / July)"), zone_rows, _zone_gaps)

#: The report's sections, in order. Append a ``Section`` to report something else per carrier.
SECTIONS: list[Section] = [CODES, ZONES]


def covered_carriers() -> list[str]:
    """The carriers the report covers: every built-in adapter, in registration order."""
    import carriers as registry

    reported = set(LOOKUPS) | set(_zone_kinds())
    return [name for name in registry.ADAPTERS if name in reported] + sorted(
        name for name in reported if name not in registry.ADAPTERS
    )


def _table(columns: Sequence[str], rows: Sequence[tuple[str, ...]], indent: str) -> list[str]:
    widths = [max(len(columns[i]), *(len(r[i]) for r in rows)) for i in range(len(columns) - 1)]

    def line(cells: Sequence[str]) -> str:
        head = "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=False))
        return f"{indent}{head}  {cells[-1]}".rstrip()

    return [line(columns), *(line(r) for r in rows)]


def report(names: Sequence[str] | None = None, sections: Sequence[Section] | None = None) -> tuple[str, list[str]]:
    """(the printed report, the gaps found). See ``trackstream carriers coverage``."""
    chosen = list(names) if names else covered_carriers()
    parts = list(sections) if sections is not None else SECTIONS
    lines: list[str] = []
    gaps: list[str] = []
    for carrier in chosen:
        lines.append(carrier)
        for section in parts:
            rows = section.rows(carrier)
            if not rows:
                continue
            lines.append(f"  {section.title}:")
            lines.extend(_table(section.columns, rows, "    "))
            gaps.extend(section.gaps(carrier))
    totals = [t for carrier in chosen if carrier in LOOKUPS for t in code_coverage(carrier)]
    documented_total = sum(len(t.documented) for t in totals)
    mapped_total = sum(t.mapped for t in totals)
    lines.append(f"codes: {documented_total} documented, {mapped_total} mapped, "
                 f"{documented_total - mapped_total} unmapped ({len(chosen)} carriers)")
    return "\n".join(lines), gaps
