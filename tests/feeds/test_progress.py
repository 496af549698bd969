"""The import command's progress bar: what one line shows, that it fits, and that it is only drawn on
a terminal."""

from __future__ import annotations

import io

import pytest

from trackstream.feeds.progress import ProgressBar, clock_text, human_bytes, render


@pytest.mark.parametrize(("count", "text"), [
    (0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (1536, "1.5 KiB"), (10 * 1024**2, "10.0 MiB"),
    (3 * 1024**3, "3.0 GiB"), (5 * 1024**5, "5120.0 TiB"),
])
def test_human_bytes(count: int, text: str) -> None:
    assert human_bytes(count) == text


def test_clock_text() -> None:
    assert [clock_text(s) for s in (0, 59.6, 61, 3600 * 2 + 65, -3)] == [
        "0:00:00", "0:01:00", "0:01:01", "2:01:05", "0:00:00"]


def test_render_halfway() -> None:
    line = render("sending", 5 * 1024**2, 10 * 1024**2, 50_000, 10.0, 100)
    assert line.startswith("sending [")
    assert " 50%  5.0 MiB/10.0 MiB  50,000 rows  5,000 rows/s  ETA 0:00:10" in line
    bar = line[line.index("[") + 1: line.index("]")]
    assert set(bar) == {"#", "."} and bar.count("#") == len(bar) // 2
    assert len(line) == 100


@pytest.mark.parametrize("width", [60, 80, 120, 200])
def test_render_fits_the_terminal(width: int) -> None:
    for done in (0, 1, 512, 1000):
        line = render("checking", done, 1000, done, 2.0, width)
        assert len(line) <= width


def test_render_without_room_for_a_bar_drops_it() -> None:
    line = render("sending", 1, 4, 10, 1.0, 60)
    assert "[" not in line and line.startswith("sending  25%")
    assert len(render("sending", 1, 4, 10, 1.0, 20)) == 20


def test_render_at_the_edges() -> None:
    assert render("x", 0, 100, 0, 0.0, 80).endswith("ETA -:--:--")
    done = render("x", 100, 100, 7, 3.5, 80)
    assert "100%" in done and done.endswith("ETA 0:00:00") and "2 rows/s" in done
    assert "0%" in render("x", 0, 0, 0, 1.0, 80)  # an empty file


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_nothing_is_drawn_when_stderr_is_not_a_terminal() -> None:
    out = io.StringIO()
    bar = ProgressBar(out, 1000, "sending")
    assert bar.enabled is False
    bar.update(500, 5, force=True)
    bar.close()
    assert out.getvalue() == ""


def test_redraws_at_most_ten_times_a_second_and_clears_on_close() -> None:
    out = io.StringIO()
    clock = FakeClock()
    bar = ProgressBar(out, 1000, "sending", enabled=True, clock=clock)
    bar.update(100, 1)
    bar.update(200, 2)  # same instant: skipped
    clock.now += 0.05
    bar.update(300, 3)  # too soon: skipped
    clock.now += 0.06
    bar.update(400, 4)
    bar.update(500, 5, force=True)
    frames = out.getvalue().split("\r")[1:]
    assert len(frames) == 3
    assert " 10% " in frames[0] and " 40% " in frames[1] and " 50% " in frames[2]
    assert all(frame.endswith("\x1b[K") for frame in frames)
    bar.close()
    assert out.getvalue().endswith("\r\x1b[K")
    bar.close()  # once cleared, nothing more
    assert out.getvalue().count("\r") == 4
