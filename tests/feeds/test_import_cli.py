"""``trackstream import`` without a broker: which files a folder gives, usage errors (exit 2), and
invalid input refused before anything is sent (exit 1). The Kafka address points at a closed port,
so an import that tried to send would end with exit 3 instead."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import free_port
from trackstream.cli import main
from trackstream.feeds.cli import collect
from trackstream.feeds.formats import FeedUsageError, Format, UnknownCarrier

GOOD_ROW = "A1,delivered,2026-11-20T10:00:00Z\n"
HEADER = "tracking_number,status,occurred_at\n"


@pytest.fixture(autouse=True)
def no_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKSTREAM_KAFKA_BOOTSTRAP", f"127.0.0.1:{free_port()}")


def test_a_folder_gives_its_feed_files_sorted_without_hidden_ones(tmp_path: Path) -> None:
    for name in ("b.json", "a.csv", ".hidden.json", "c.jsonl", "notes.txt", "d.xml"):
        (tmp_path / name).write_text("x")
    (tmp_path / "sub.json").mkdir()
    files = collect("ups", [str(tmp_path)], None, None)
    assert [(f.path.name, f.fmt) for f in files] == [
        ("a.csv", Format.CSV), ("b.json", Format.BATCH), ("c.jsonl", Format.JSONL), ("d.xml", Format.BATCH)]
    assert [f.target.topic for f in files] == ["carrier.native.raw", "carrier.ups.raw", "carrier.ups.raw",
                                               "carrier.ups.raw"]
    assert files[0].size == 1
    assert [f.path.name for f in collect("ups", [str(tmp_path)], None, "*.json")] == ["b.json"]
    forced = collect("ups", [str(tmp_path / "notes.txt")], Format.JSONL, None)
    assert [(f.path.name, f.fmt) for f in forced] == [("notes.txt", Format.JSONL)]


def test_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(FeedUsageError, match="no such file or folder"):
        collect("ups", [str(tmp_path / "missing.json")], None, None)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FeedUsageError, match="no files with extension"):
        collect("ups", [str(tmp_path / "empty")], None, None)
    (tmp_path / "feed.txt").write_text("x")
    with pytest.raises(FeedUsageError, match="cannot tell the format from the extension; use --format"):
        collect("ups", [str(tmp_path / "feed.txt")], None, None)
    (tmp_path / "feed.xml").write_text("<a/>")
    assert collect("tnt", [str(tmp_path / "feed.xml")], None, None)[0].target.topic == "carrier.tnt.raw"


def test_the_carrier_name_is_checked_before_the_files() -> None:
    with pytest.raises(UnknownCarrier, match="not a carrier name"):
        collect("Not A Carrier", ["/nonexistent"], None, None)


def test_unknown_carrier_exits_2_with_the_known_carriers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "r.xml").write_text("<a/>")
    assert main(["import", "DHL Express", str(tmp_path / "r.xml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("trackstream import: not a carrier name: 'DHL Express'")
    for carrier in ("postnl", "sendcloud", "ups", "myparcel", "dhl_express", "tnt"):
        assert carrier in err


def test_an_invalid_row_refuses_the_import_before_anything_is_sent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "1-good.csv").write_text(HEADER + GOOD_ROW)
    (tmp_path / "2-bad.csv").write_text(HEADER + GOOD_ROW + "A2,lost_in_space,2026-11-20T10:00:00Z\n")
    (tmp_path / "3-bad.jsonl").write_text('{"tracking_number": "A3"}\n')
    assert main(["import", "myfleet", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert lines[0] == (f"trackstream import: {tmp_path / '2-bad.csv'}:3: status: unknown status 'lost_in_space'; "
                        "one of available_for_pickup, cancelled, delivered, exception, failed_attempt, in_transit, "
                        "out_for_delivery, pre_transit, returned_to_sender, unknown")
    assert lines[1].startswith(f"trackstream import: {tmp_path / '3-bad.jsonl'}:1: status: required")
    assert "2 problems; nothing was sent" in lines[2]
    assert captured.out.startswith("checked 3 files: 0 payloads and 2 events valid, 2 invalid")
    assert captured.out.rstrip().endswith("; nothing sent")


def test_max_errors_limits_the_listing_not_the_count(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.csv").write_text(HEADER + "X,nope,2026-11-20T10:00:00Z\n" * 5)
    assert main(["import", "myfleet", str(tmp_path / "bad.csv"), "--max-errors", "2"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert [line.split(": ")[1] for line in err[:2]] == [f"{tmp_path / 'bad.csv'}:2", f"{tmp_path / 'bad.csv'}:3"]
    assert err[2] == "trackstream import: ... and 3 more"
    assert "5 problems" in err[3]


def test_dry_run_checks_and_sends_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "ok.csv").write_text(HEADER + GOOD_ROW * 3)
    (tmp_path / "hook.jsonl").write_text('{"a": 1}\n[2]\n')
    assert main(["import", "ups", str(tmp_path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("checked 2 files: 2 payloads and 3 events valid, 0 invalid")
    assert "nothing sent (--dry-run)" in out


def test_an_unreachable_broker_is_exit_3_and_says_nothing_was_sent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "ok.csv").write_text(HEADER + GOOD_ROW)
    assert main(["import", "myfleet", str(tmp_path / "ok.csv")]) == 3
    err = capsys.readouterr().err
    assert "cannot reach Kafka at 127.0.0.1:" in err and "nothing was sent" in err


def test_the_progress_bar_is_drawn_on_a_terminal_and_the_summary_stays_on_stdout(tmp_path: Path) -> None:
    feed = tmp_path / "big.csv"
    feed.write_text(HEADER + "".join(f"P{n},in_transit,2026-11-20T10:{n % 60:02d}:00Z\n" for n in range(5000)))
    leader, follower = pty.openpty()
    command = Path(sys.executable).parent / "trackstream"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKSTREAM_")}
    try:
        result = subprocess.run([str(command), "import", "myfleet", str(feed), "--dry-run"], stderr=follower,
                                stdout=subprocess.PIPE, env=env, timeout=120, check=False)
        os.close(follower)
        drawn = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the terminal's other end is closed and drained
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(leader)
    assert result.returncode == 0
    frames = [f for f in drawn.decode().split("\r") if f.strip("\x1b[K")]
    assert frames, drawn
    assert frames[-1].startswith("checking [") and "100%" in frames[-1] and "5,000 rows" in frames[-1]
    assert drawn.endswith(b"\r\x1b[K")  # the bar is cleared before the summary
    assert result.stdout.decode().startswith("checked 1 file: 0 payloads and 5,000 events valid, 0 invalid")
