"""``trackstream carriers coverage``: per carrier and code table, the documented codes, how many the
adapter maps and which it does not; exit 1 (and the gaps on stderr) when a documented code is unmapped."""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import carriers
from carriers import coverage, dhl_express, gls_nl, postnl, tnt
from carriers.base import CodeMapping, load_mapping_file
from tests.conftest import samples_dir
from trackstream.cli import main

# Written out from the carriers' published lists (see each <carrier>.documented.json), not from the
# mapping files: table → number of documented codes.
DOCUMENTED_COUNTS: dict[str, dict[str, int]] = {
    "tnt": {"status_codes": 17, "summary_codes": 4},
    "fedex": {"event_types": 53, "derived_codes": 55},
    "ups": {"status_codes": 160, "activity_types": 11, "activity_codes": 11},
    "dhl_express": {"event_codes": 45, "unified_status_codes": 5},
    "postnl": {"event_codes": 287, "status_codes": 26},
    "gls_nl": {"parcel_status": 12, "event_codes": 3, "rstt001_event_codes": 10},
}
ROW = re.compile(r"^    (\w+)\s+(\d+)\s+(\d+)\s+(.+)$")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("trackstream", path=str(Path(sys.executable).parent))
    argv = [exe] if exe else [sys.executable, "-m", "trackstream.cli"]
    return subprocess.run([*argv, *args], capture_output=True, text=True, timeout=60, check=False)


def _rows(text: str) -> dict[str, dict[str, tuple[int, int, str]]]:
    """carrier → table → (documented, mapped, unmapped text), read back from the printed report."""
    out: dict[str, dict[str, tuple[int, int, str]]] = {}
    carrier = ""
    for line in text.splitlines():
        if line and not line.startswith(" ") and not line.startswith("codes:"):
            carrier = line.strip()
            out[carrier] = {}
        match = ROW.match(line)
        if match and match.group(1) != "table":
            out[carrier][match.group(1)] = (int(match.group(2)), int(match.group(3)), match.group(4).strip())
    return out


def test_every_documented_code_is_mapped() -> None:
    result = run("carriers", "coverage")
    assert result.returncode == 0, result.stderr
    rows = _rows(result.stdout)
    assert {c: {t: r[0] for t, r in tables.items()} for c, tables in rows.items() if tables} == DOCUMENTED_COUNTS
    for carrier, tables in rows.items():
        for table, (documented, mapped, unmapped) in tables.items():
            assert (mapped, unmapped) == (documented, "-"), f"{carrier}.{table}: {unmapped}"
    total = sum(sum(t.values()) for t in DOCUMENTED_COUNTS.values())
    assert result.stdout.splitlines()[-1] == f"codes: {total} documented, {total} mapped, 0 unmapped (11 carriers)"
    assert result.stderr == ""


def test_one_carrier() -> None:
    result = run("carriers", "coverage", "--carrier", "tnt")
    assert result.returncode == 0, result.stderr
    assert list(_rows(result.stdout)) == ["tnt"]
    assert "codes: 21 documented, 21 mapped, 0 unmapped (1 carriers)" in result.stdout


def test_unknown_carrier_is_a_usage_error() -> None:
    result = run("carriers", "coverage", "--carrier", "kestrel")
    assert result.returncode == 2
    assert "kestrel" in result.stderr and "tnt" in result.stderr


def test_a_documented_code_without_a_row_fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Take TNT's PU row out of the table the adapter reads: the report shows it and exits 1."""
    real = tnt.map_status_code

    def without_pu(code: str) -> CodeMapping | None:
        return None if code.strip().upper() == "PU" else real(code)

    monkeypatch.setattr(tnt, "map_status_code", without_pu)
    assert main(["carriers", "coverage", "--carrier", "tnt", "--carrier", "ups"]) == 1
    out, err = capsys.readouterr()
    assert _rows(out)["tnt"]["status_codes"] == (17, 16, "PU")
    assert _rows(out)["ups"]["status_codes"] == (160, 160, "-")
    assert "1 documented code(s) unmapped: tnt.status_codes: PU" in err
    assert "codes: 203 documented, 202 mapped, 1 unmapped (2 carriers)" in out


def test_a_fallback_does_not_count_as_mapped(monkeypatch: pytest.MonkeyPatch) -> None:
    """GLS maps unknown DELIVD.* codes by their group; the exact-code table must still list the code."""
    real = gls_nl.map_event_code

    def without_parcelshop(code: str) -> tuple[CodeMapping | None, str]:
        if code == "DELIVD.PARCELSHOP":
            return CodeMapping("delivered"), "event_group"
        return real(code)

    monkeypatch.setattr(gls_nl, "map_event_code", without_parcelshop)
    [_, events, _] = coverage.code_coverage("gls_nl")
    assert (events.table, events.unmapped) == ("event_codes", ("DELIVD.PARCELSHOP",))


def test_sections_are_a_hook_for_other_reports() -> None:
    """Another report per carrier is one more Section: its rows print under the carrier, its gaps fail."""
    extra = coverage.Section(
        "zones", ("location", "zone from"),
        lambda carrier: [("depot", "depot table")] if carrier == "tnt" else [],
        lambda carrier: ["tnt.zones: DZ5"] if carrier == "tnt" else [],
    )
    text, gaps = coverage.report(["tnt", "ups"], [coverage.CODES, extra])
    lines = text.splitlines()
    start = lines.index("  zones:")
    assert lines[start - 1].startswith("    summary_codes")  # after tnt's code tables
    assert lines[start + 1:start + 3] == ["    location  zone from", "    depot     depot table"]
    assert lines[start + 3] == "ups"  # ups has no zone rows: no zones heading
    assert "zones:" not in "\n".join(lines[start + 3:])
    assert gaps == ["tnt.zones: DZ5"]
    assert coverage.SECTIONS == [coverage.CODES, coverage.ZONES]


ZONE_ROW = re.compile(r"^    (.+?)\s{2,}(.+?)\s{2,}(\S.*)$")


def _zone_rows(text: str) -> dict[str, dict[str, str]]:
    """carrier → location kind → how it is placed, read back from the printed report."""
    out: dict[str, dict[str, str]] = {}
    carrier, inside = "", False
    for line in text.splitlines():
        if line and not line.startswith(" "):
            carrier, inside = line.strip(), False
        elif line.startswith("  ") and not line.startswith("    "):
            inside = line.strip() == "time zones:"
        elif inside and (match := ZONE_ROW.match(line)) and match.group(1) != "location":
            out.setdefault(carrier, {})[match.group(1)] = match.group(3)
    return out


def test_the_report_says_how_each_kind_of_location_gets_its_zone() -> None:
    result = run("carriers", "coverage")
    assert result.returncode == 0, result.stderr
    zones = _zone_rows(result.stdout)
    assert set(zones) == set(carriers.ADAPTERS)  # every built-in adapter, not only those with code lists
    # what the resolver really does (rows are computed, not written): multi-zone countries by state,
    # province or airport code, one-zone countries by country, the shipment's countries on a leg
    assert zones["fedex"]["scan location, Canada"] == "location: America/Toronto"
    assert zones["ups"]["activity location, Australia"] == "location: Australia/Perth"
    assert zones["dhl_express"]["service area code and name, Mexico"] == "location_code: America/Hermosillo"
    assert zones["tnt"]["depot with an airport code"] == "location_code: Europe/London"
    assert zones["tnt"]["depot unknown, origin leg"] == "shipment_country: Europe/Dublin"
    assert zones["myparcel"]["every time"] == "carrier_zone"
    # what the payload cannot place is shown as assumed, not hidden
    assert zones["dpd_nl"]["push: depot number only"] == "assumed: Europe/Amsterdam"
    assert zones["postnl"]["delivery abroad, several zones"] == "assumed: America/New_York"


def test_a_zone_row_follows_the_resolver(monkeypatch: pytest.MonkeyPatch) -> None:
    """A resolver that stopped reading states would show in the report."""
    from carriers import zones

    real = zones.resolve
    monkeypatch.setattr(zones, "resolve", lambda place, naive, home: real(
        zones.Place(country=place.country, origin_country=place.origin_country,
                    destination_country=place.destination_country, leg=place.leg), naive, home))
    rows = dict((r[0], r[2]) for r in coverage.zone_rows("fedex"))
    assert rows["scan location, Canada"].startswith("assumed: ")


def test_every_built_in_adapter_with_a_documented_list_is_covered() -> None:
    folder = Path(carriers.__file__).parent / "mappings"
    listed = sorted(p.name.split(".")[0] for p in folder.glob("*.documented.json"))
    assert listed == sorted(coverage.LOOKUPS) == sorted(DOCUMENTED_COUNTS)
    assert all(name in carriers.ADAPTERS for name in listed)


# --- the packaged lists are the published copies in the samples ------------------------------------


def _csv(carrier: str, name: str, delimiter: str = ",") -> list[dict[str, str]]:
    with (samples_dir() / carrier / name).open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter=delimiter))


def test_postnl_lists_are_the_event_code_reference() -> None:
    listed = load_mapping_file("postnl.documented.json")["tables"]
    events = _csv("postnl", "tt-event-codes.csv")
    assert len(events) == 288 and list(listed["event_codes"]) == list(dict.fromkeys(r["event_code"] for r in events))
    statuses = {r["status_code"] for r in _csv("postnl", "tt-status-codes.csv")}
    options = {r["status_option"].split(",")[0].strip().lstrip("0") for r in events}
    assert set(listed["status_codes"]) == statuses | options == statuses | {"27", "28", "31", "99"}
    for row in events:  # every row of the reference maps, by the adapter's own lookup
        assert postnl.map_event_code(row["event_code"]) is not None, row


def test_dhl_express_lists_are_the_unified_status_list() -> None:
    listed = load_mapping_file("dhl_express.documented.json")["tables"]
    rows = _csv("dhl_express", "dhl-unified-status-codes-express.csv", ";")
    assert set(listed["event_codes"]) == {r["Status"] for r in rows} | {"PO"}
    assert "RW" not in listed["event_codes"]  # sent without description, documented nowhere: unmapped
    assert dhl_express.map_event_code("RW") is None
    for code in ("transit", "Delivered", " failure "):
        assert dhl_express.map_unified_status_code(code) is not None
