"""The shared adapter machinery as the adapters use it: code tables, local time, the registry."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import carriers
from carriers._util import as_utc, ascii_digits, url_parts
from carriers.base import (
    UNMAPPED,
    CarrierErrorResponse,
    CodeMapping,
    ParseError,
    PayloadError,
    load_mapping_file,
    localize,
    parse_code_table,
    parse_local,
    zone,
)
from schemas.taxonomy import ALL_STATUSES, ALL_SUBSTATUSES

AMS = zone("Europe/Amsterdam")
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("file", "table"),
    [("sendcloud.json", "status_ids"), ("sendcloud.json", "status_messages"),
     ("sendcloud.json", "parent_status"), ("sendcloud.json", "v3_status_codes"),
     ("postnl.json", "event_codes"), ("postnl.json", "status_codes")],
)
def test_mapping_tables_are_valid_data(file: str, table: str) -> None:
    rows = load_mapping_file(file)[table]
    parsed = parse_code_table(rows)  # raises on a status/substatus outside the taxonomy
    assert parsed and len(parsed) == len(rows)
    for code, mapping in parsed.items():
        assert mapping.status in ALL_STATUSES, code
        assert mapping.substatus is None or mapping.substatus in ALL_SUBSTATUSES, code
        assert mapping != UNMAPPED, f"{code}: a mapped row must not look unmapped"


def test_sendcloud_message_keys_are_normalized() -> None:
    for key in load_mapping_file("sendcloud.json")["status_messages"]:
        assert key == " ".join("".join(c if c.isalnum() else " " for c in key.lower()).split())


def test_code_mapping_rejects_unknown_vocabulary() -> None:
    with pytest.raises(ValueError):
        CodeMapping("teleported")
    with pytest.raises(ValueError):
        parse_code_table({"X": {"status": "delivered", "substatus": "by_drone"}})


def test_error_hierarchy() -> None:
    assert issubclass(PayloadError, ParseError)
    assert issubclass(CarrierErrorResponse, ParseError)
    error = CarrierErrorResponse("gone", not_found=True, tracking_number="X")
    assert (error.not_found, error.tracking_number, error.code) == (True, "X", "carrier_error")


@pytest.mark.parametrize(
    ("naive", "expected"),
    [
        (datetime(2022, 1, 15, 12, 0), datetime(2022, 1, 15, 11, 0, tzinfo=UTC)),
        (datetime(2022, 7, 15, 12, 0), datetime(2022, 7, 15, 10, 0, tzinfo=UTC)),
        (datetime(2022, 3, 27, 2, 30), datetime(2022, 3, 27, 1, 30, tzinfo=UTC)),  # gap
        (datetime(2022, 10, 30, 2, 30), datetime(2022, 10, 30, 0, 30, tzinfo=UTC)),  # fold: summer time first
    ],
)
def test_localize_amsterdam(naive: datetime, expected: datetime) -> None:
    assert localize(naive, AMS) == expected


@pytest.mark.parametrize(
    ("naive", "tz"),
    [(datetime(1, 1, 1, 0, 0), AMS), (datetime(9999, 12, 31, 23, 30), zone("America/New_York")),
     (datetime(1, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=1))), AMS)],
)
def test_localize_refuses_a_time_without_a_utc_instant(naive: datetime, tz: ZoneInfo) -> None:
    with pytest.raises(PayloadError, match="out of range"):
        localize(naive, tz)


def test_as_utc() -> None:
    plus_one = timezone(timedelta(hours=1))
    assert as_utc(datetime(2024, 1, 1, 1, 0, tzinfo=plus_one), "t") == datetime(2024, 1, 1, tzinfo=UTC)
    with pytest.raises(PayloadError, match=r"out of range .*\(events\[0\]\.at\)"):
        as_utc(datetime(1, 1, 1, tzinfo=plus_one), "events[0].at")


@pytest.mark.parametrize(("value", "expected"), [("0", True), ("007", True), ("", False), ("²", False),
                                                 ("0²", False), ("٣", False), ("1 ", False), ("-1", False)])
def test_ascii_digits(value: str, expected: bool) -> None:
    assert ascii_digits(value) is expected
    if expected:
        int(value)  # what the callers do next


def test_url_parts() -> None:
    parts = url_parts("https://example.test/track?code=3S1")
    assert parts is not None and parts.query == "code=3S1"
    assert url_parts("http://[x/track?code=3S1") is None  # urlsplit: "Invalid IPv6 URL"


def test_parse_local_formats_and_errors() -> None:
    formats = ("%d-%m-%Y %H:%M:%S", "%d-%m-%Y %H:%M:%S.%f")
    assert parse_local(" 07-11-2022 12:39:49.364 ", formats, AMS) == datetime(
        2022, 11, 7, 11, 39, 49, 364000, tzinfo=UTC
    )
    with pytest.raises(PayloadError):
        parse_local("2022/11/07", formats, AMS)


def test_registry() -> None:
    assert {"sendcloud", "postnl", "native"} <= carriers.KNOWN_CARRIERS
    assert set(carriers.PARSERS) == carriers.KNOWN_CARRIERS
    assert carriers.get_parser("PostNL ") is carriers.PARSERS["postnl"]
    assert carriers.get_parser("pigeon") is None
    with pytest.raises(PayloadError):
        carriers.PARSERS["sendcloud"](b"not json", {}, datetime(2024, 1, 1, tzinfo=UTC))
    assert carriers.PARSERS["postnl"](b"[]", {}, datetime(2024, 1, 1, tzinfo=UTC)) == []


def test_import_carriers_is_cheap() -> None:
    code = (
        "import sys, carriers; "
        "loaded = [m for m in ('carriers.sendcloud', 'carriers.postnl', 'carriers.native', 'orjson') "
        "if m in sys.modules]; print(','.join(loaded))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
