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
from typing import Any

from carriers.base import CodeMapping, load_mapping_file

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

#: The report's sections, in order. Append a ``Section`` to report something else per carrier.
SECTIONS: list[Section] = [CODES]


def covered_carriers() -> list[str]:
    """The carriers the report covers: every built-in adapter, in registration order."""
    import carriers as registry

    return [name for name in registry.ADAPTERS if name in LOOKUPS] + [
        name for name in LOOKUPS if name not in registry.ADAPTERS
    ]


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
