"""A one-line terminal progress bar (bytes and rows done, rate, ETA), drawn on stderr only when it
is a terminal, redrawn at most ten times a second. ``render`` is pure, so it is tested directly."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from typing import TextIO

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def human_bytes(count: float) -> str:
    value = float(count)
    for unit in _UNITS:
        if value < 1024 or unit == _UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def clock_text(seconds: float) -> str:
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def render(label: str, done: int, total: int, rows: int, elapsed: float, width: int) -> str:
    """``label [####......]  42%  1.2 MiB/2.9 MiB  12,345 rows  6,172 rows/s  ETA 0:00:02``, at
    most ``width`` characters (the bar shrinks first, then disappears)."""
    fraction = min(1.0, done / total) if total > 0 else 0.0
    rate = rows / elapsed if elapsed > 0 else 0.0
    if 0 < done < total and elapsed > 0:
        eta = clock_text((total - done) / (done / elapsed))
    elif total and done >= total:
        eta = clock_text(0)
    else:
        eta = "-:--:--"
    tail = (f" {fraction * 100:3.0f}%  {human_bytes(done)}/{human_bytes(total)}  {rows:,} rows"
            f"  {rate:,.0f} rows/s  ETA {eta}")
    room = width - len(label) - len(tail) - 3
    if room >= 10:
        filled = int(fraction * room)
        return f"{label} [{'#' * filled}{'.' * (room - filled)}]{tail}"
    line = f"{label}{tail}"
    return line[:width] if width > 0 else line


class ProgressBar:
    def __init__(self, stream: TextIO, total: int, label: str, *, enabled: bool | None = None,
                 clock: Callable[[], float] = time.monotonic, interval: float = 0.1) -> None:
        self.stream = stream
        self.total = total
        self.label = label
        self.enabled = stream.isatty() if enabled is None else enabled
        self._clock = clock
        self._interval = interval
        self._started = clock()
        self._last = float("-inf")
        self._drawn = False

    def update(self, done: int, rows: int, *, force: bool = False) -> None:
        if not self.enabled:
            return
        now = self._clock()
        if not force and now - self._last < self._interval:
            return
        self._last = now
        width = shutil.get_terminal_size((100, 20)).columns - 1
        self.stream.write("\r" + render(self.label, done, self.total, rows, now - self._started, width) + "\x1b[K")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        """Remove the bar, so the summary line that follows stands alone."""
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._drawn = False
