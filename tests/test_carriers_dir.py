"""``TRACKSTREAM_CARRIERS_DIR``: definitions loaded with the settings, their raw topics, their
webhook secrets, and the ``trackstream normalize`` command on a carrier that has no module."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import faust
import orjson
import pytest

from trackstream import topics
from trackstream.admin import consumed_topics
from trackstream.settings import Settings, SettingsError
from trackstream.topics_faust import declare_topics

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "deploy" / "carriers"
FIXTURES = ROOT / "tests" / "fixtures" / "carriers"


def test_no_folder_no_configured_carriers() -> None:
    settings = Settings.from_env({})
    assert settings.carrier_definitions == {} and settings.configured_carriers == ()
    assert topics.raw_carriers(settings.configured_carriers) == topics.RAW_CARRIERS


def test_definitions_and_their_secrets_are_loaded() -> None:
    settings = Settings.from_env({"TRACKSTREAM_CARRIERS_DIR": str(FIXTURES), "PIGEONPOST_WEBHOOK_SECRET": "s3"})
    assert settings.configured_carriers == ("pigeonpost",)
    assert settings.secrets["pigeonpost"] == "s3"
    unset = Settings.from_env({"TRACKSTREAM_CARRIERS_DIR": str(FIXTURES)})
    assert unset.secrets["pigeonpost"] == ""


def test_configured_carriers_get_raw_topics() -> None:
    assert topics.raw_carriers(["zeta", "alpha", "postnl"]) == (*topics.RAW_CARRIERS, "alpha", "zeta")
    wanted = topics.all_topics(["alpha"])
    assert "carrier.alpha.raw" in wanted and topics.TRACKING_EVENTS in wanted
    assert "carrier.alpha.raw" in consumed_topics(["alpha"]) and "carrier.alpha.raw" not in consumed_topics()
    settings = Settings.from_env({"TRACKSTREAM_CARRIERS_DIR": str(EXAMPLES)})
    app = faust.App("test-carriers-dir", broker="kafka://127.0.0.1:1", autodiscover=False, web_enabled=False)
    declared = declare_topics(app, settings)
    assert "carrier.kestrel.raw" in declared.raw.topics and "carrier.sendcloud.raw" in declared.raw.topics


def test_an_invalid_definition_stops_the_settings(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("carrier: Bad\n")
    with pytest.raises(SettingsError) as info:
        Settings.from_env({"TRACKSTREAM_CARRIERS_DIR": str(tmp_path)})
    assert str(info.value).startswith(f"TRACKSTREAM_CARRIERS_DIR: {tmp_path / 'bad.yaml'}: carrier: ")
    with pytest.raises(SettingsError, match="does not exist"):
        Settings.from_env({"TRACKSTREAM_CARRIERS_DIR": str(tmp_path / "missing")})


def test_a_secret_cannot_be_a_trackstream_setting(tmp_path: Path) -> None:
    text = (FIXTURES / "pigeonpost.yaml").read_text().replace("PIGEONPOST_WEBHOOK_SECRET", "TRACKSTREAM_DATABASE_URL")
    (tmp_path / "p.yaml").write_text(text)
    with pytest.raises(SettingsError, match=r"webhook\.secret_env: TRACKSTREAM_DATABASE_URL is a trackstream setting"):
        Settings.from_env({"TRACKSTREAM_CARRIERS_DIR": str(tmp_path)})


# --- the command line ---------------------------------------------------------------------------


def run(*args: str, env: dict[str, str], stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    exe = shutil.which("trackstream", path=str(Path(sys.executable).parent))
    argv = [exe] if exe else [sys.executable, "-m", "trackstream.cli"]
    return subprocess.run([*argv, *args], input=stdin, capture_output=True, timeout=60, check=False,
                          env={"PATH": "/usr/bin:/bin", **env})


def test_normalize_a_configured_carrier() -> None:
    body = {"delivery_updates": [{"parcel": {"barcode": "KP 1"}, "scans": [
        {"code": "DLV", "text": "Delivered", "at": "29-03-2026 02:30", "depot": {"country": "NL"}}]}]}
    result = run("normalize", "kestrel", "-", env={"TRACKSTREAM_CARRIERS_DIR": str(EXAMPLES)},
                 stdin=json.dumps(body).encode())
    assert result.returncode == 0, result.stderr
    [line] = [orjson.loads(x) for x in result.stdout.splitlines()]
    assert (line["carrier"], line["tracking_number"], line["status"]) == ("kestrel", "KP1", "delivered")
    # 02:30 does not exist on that night in Amsterdam: read with the offset before the jump (+01:00)
    assert (line["occurred_at"], line["local_time"], line["tz_source"]) == (
        "2026-03-29T01:30:00Z", "29-03-2026 02:30", "country")


def test_normalize_without_the_folder_does_not_know_it() -> None:
    result = run("normalize", "kestrel", "-", env={}, stdin=b"{}")
    assert result.returncode == 2 and b"unknown carrier 'kestrel'" in result.stderr


def test_normalize_reports_an_invalid_definition(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text('{"carrier": "x", "codes": {"A": "delivred"}}')
    result = run("normalize", "x", "-", env={"TRACKSTREAM_CARRIERS_DIR": str(tmp_path)}, stdin=b"{}")
    assert result.returncode == 2
    assert f"{tmp_path / 'x.json'}: fields: required".encode() in result.stderr


def test_normalize_reports_a_payload_it_cannot_read() -> None:
    result = run("normalize", "kestrel", "-", env={"TRACKSTREAM_CARRIERS_DIR": str(EXAMPLES)}, stdin=b'{"x": 1}')
    assert result.returncode == 1 and b"no shipments at 'delivery_updates'" in result.stderr
