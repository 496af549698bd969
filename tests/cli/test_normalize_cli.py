"""``trackstream normalize <carrier> <file>``: JSON lines for every sample, a clear non-zero exit for
input it cannot parse. Runs the installed console command, as a user would."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import orjson
import pytest

import carriers
from schemas.events import TrackingEvent
from tests.conftest import samples_dir
from trackstream.cli import main

UTC_SECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    exe = shutil.which("trackstream", path=str(Path(sys.executable).parent))
    argv = [exe] if exe else [sys.executable, "-m", "trackstream.cli"]
    return subprocess.run([*argv, *args], input=stdin, capture_output=True, timeout=60, check=False)


@pytest.mark.parametrize(("carrier", "name", "count", "first_status"), [
    ("postnl", "shippingstatus-v2-status-response-out-for-delivery.json", 4, "out_for_delivery"),
    ("postnl", "shippingstatus-v2-updatedshipments-response.json", 4, "in_transit"),
    ("sendcloud", "webhook-parcel_status_changed-raw-body.json", 1, "pre_transit"),
    ("sendcloud", "tracking-v2-response-doc-example.json", 3, "in_transit"),
])
def test_prints_json_lines(carrier: str, name: str, count: int, first_status: str) -> None:
    result = run("normalize", carrier, str(samples_dir() / carrier / name))
    assert result.returncode == 0, result.stderr
    lines = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == count
    assert lines[0]["status"] == first_status
    for line in lines:
        assert UTC_SECONDS.match(line["occurred_at"]), line["occurred_at"]
        assert line["tracking_number"] and line["event_id"] and "substatus" in line


def test_exact_instant_of_a_postnl_event() -> None:
    result = run("normalize", "postnl",
                 str(samples_dir() / "postnl" / "shippingstatus-v2-status-response-out-for-delivery.json"))
    first = orjson.loads(result.stdout.splitlines()[0])
    assert (first["code"], first["occurred_at"]) == ("J05", "2022-11-08T09:13:20Z")


def test_reads_standard_input() -> None:
    body = b'[{"carrier": "fleet", "tracking_number": "x 1", "status": "delivered", ' \
           b'"occurred_at": "2026-03-29T02:30:00+02:00"}]'
    result = run("normalize", "native", "-", stdin=body)
    assert result.returncode == 0, result.stderr
    assert orjson.loads(result.stdout)["occurred_at"] == "2026-03-29T00:30:00Z"


@pytest.mark.parametrize(("args", "message"), [
    (("normalize", "postnl", "/nonexistent/file.json"), b"cannot read"),
    (("normalize", "nosuchcarrier", "-"), b"unknown carrier"),
])
def test_bad_arguments_exit_non_zero(args: tuple[str, ...], message: bytes) -> None:
    result = run(*args, stdin=b"")
    assert result.returncode != 0
    assert message in result.stderr and result.stdout == b""


def test_unparseable_payload_exits_non_zero_with_reason(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(b'{"CompleteStatus": {"Shipment": 42}}')
    result = run("normalize", "postnl", str(bad))
    assert result.returncode == 1
    assert b"trackstream normalize:" in result.stderr and str(bad).encode() in result.stderr
    assert result.stdout == b""
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(b"\x00\x01 not json")
    result = run("normalize", "sendcloud", str(garbage))
    assert result.returncode == 1 and b"JSON" in result.stderr


DPD_ANSWER = "parcellifecycle-getTrackingData-response.xml"


def test_dpd_answer_takes_the_tracking_number_a_poller_would_pass() -> None:
    path = str(samples_dir() / "dpd_nl" / DPD_ANSWER)
    refused = run("normalize", "dpd_nl", path)
    assert refused.returncode == 1
    assert b"pass --tracking-number N" in refused.stderr  # says how, not only what is missing
    result = run("normalize", "dpd_nl", path, "--tracking-number", "0521 2345 678901")
    assert result.returncode == 0, result.stderr
    lines = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert lines and {line["shipment_key"] for line in lines} == {"dpd_nl:05212345678901"}


def test_headers_reach_the_parser_as_the_ingress_would_pass_them() -> None:
    path = str(samples_dir() / "myparcel" / "webhook-shipment_status_change-notification-doc-example.json")
    kept = run("normalize", "myparcel", path, "--header", "X-MyParcel-Hook=shipment_status_change",
               "--header", "X-MyParcel-HookId=hk-7")
    assert kept.returncode == 0, kept.stderr
    (event,) = [orjson.loads(line) for line in kept.stdout.splitlines()]
    assert event["attributes"]["hook_id"] == "hk-7"
    other_hook = run("normalize", "myparcel", path, "--header", "x-myparcel-hook=shipment_label_created")
    assert other_hook.returncode == 0 and other_hook.stdout == b""  # not a tracking hook: no events


@pytest.mark.parametrize("bad", [["--header", "no-equals-sign"], ["--header", "=value"], ["--tracking-number", " "]])
def test_malformed_header_options_are_usage_errors(bad: list[str]) -> None:
    result = run("normalize", "dpd_nl", str(samples_dir() / "dpd_nl" / DPD_ANSWER), *bad)
    assert result.returncode == 2 and b"trackstream normalize:" in result.stderr


def test_help_says_which_carriers_need_which_headers() -> None:
    result = run("normalize", "--help")
    assert result.returncode == 0
    helptext = result.stdout.decode()
    dpd = [line for line in helptext.splitlines() if line.strip().startswith("dpd_nl")]
    assert dpd and "X-Trackstream-Tracking-Number (required" in dpd[0]
    assert any(line.strip().startswith("myparcel") and "X-MyParcel-Hook (" in line for line in helptext.splitlines())


def test_a_packed_raw_record_is_read_item_by_item_with_each_items_headers(tmp_path: Path) -> None:
    from schemas.raw import RawItem, pack

    body = (samples_dir() / "myparcel" / "webhook-shipment_status_change-notification-doc-example.json").read_bytes()
    record = tmp_path / "record.bin"
    record.write_bytes(pack([
        RawItem(body, {"x-myparcel-hook": "shipment_status_change", "x-myparcel-hookid": "hk-1"}),
        RawItem(body, {"x-myparcel-hook": "shipment_label_created"}),  # not a tracking hook: no events
        RawItem(b"{not json", {}),
    ]))
    result = run("normalize", "myparcel", str(record))
    assert result.returncode == 1  # one item could not be read
    (event,) = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert event["attributes"]["hook_id"] == "hk-1"
    assert b"record.bin item 2:" in result.stderr and b"item 0" not in result.stderr
    record.write_bytes(pack([RawItem(body, {})])[:-3])
    truncated = run("normalize", "myparcel", str(record))
    assert truncated.returncode == 1 and b"truncated packed record" in truncated.stderr


def test_a_parser_bug_exits_70_naming_the_parser_and_the_exception(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A crash (not a ParseError) is trackstream's bug, not the file's: exit 70 (EX_SOFTWARE) with
    the carrier, the exception type and the traceback on stderr, but not the exception's message."""
    secret = "tok-cli-4d5e6f"

    def broken(payload: bytes, headers: Mapping[str, str], received_at: datetime) -> list[TrackingEvent]:
        return {}[orjson.loads(payload)["token"]]  # a KeyError quoting the payload

    monkeypatch.setitem(carriers.PARSERS, "postnl", broken)
    path = tmp_path / "push.json"
    path.write_bytes(orjson.dumps({"token": secret}))
    assert main(["normalize", "postnl", str(path)]) == 70
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"trackstream normalize: {path}: internal error in the postnl parser: KeyError at "
                          "tests/cli/test_normalize_cli.py:")
    assert "Traceback (most recent call last)" in err and "in broken" in err
    assert secret not in err
