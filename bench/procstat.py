"""CPU seconds of process trees, from ``/proc/<pid>/stat`` (utime + stime), read before and after a run.

A tree's figure is what its live processes used (``utime + stime``) plus what its live processes'
reaped children used (``cutime + cstime``): PostgreSQL's backends that end during the run are
counted in their postmaster once it has waited for them, so the difference of two readings is the
tree's CPU over the run, backends included.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class Stat:
    pid: int
    ppid: int
    ticks: int  # utime + stime
    child_ticks: int  # cutime + cstime: reaped children


def parse_stat(text: str) -> Stat:
    """One ``/proc/<pid>/stat`` line. The command name (field 2) is in parentheses and may hold
    spaces and parentheses itself, so the fields are counted from the last ``)``."""
    head, sep, tail = text.rpartition(")")
    if not sep:
        raise ValueError(f"not a /proc stat line: {text[:80]!r}")
    pid = int(head.split("(", 1)[0])
    fields = tail.split()
    # after the name: state(3) ppid(4) pgrp session tty_nr tpgid flags minflt cminflt majflt
    # cmajflt utime(14) stime(15) cutime(16) cstime(17)
    ppid = int(fields[1])
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    return Stat(pid, ppid, utime + stime, cutime + cstime)


def read_all(proc: Path = Path("/proc")) -> dict[int, Stat]:
    """Every process's stat (those that end while being read are left out)."""
    out: dict[int, Stat] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = parse_stat((entry / "stat").read_text())
        except (OSError, ValueError, IndexError):
            continue
        out[stat.pid] = stat
    return out


def tree_ticks(stats: Mapping[int, Stat], root: int) -> int | None:
    """CPU ticks of ``root`` and all its live descendants (and their reaped children); None
    when ``root`` is not running."""
    if root not in stats:
        return None
    children: dict[int, list[int]] = {}
    for stat in stats.values():
        children.setdefault(stat.ppid, []).append(stat.pid)
    total, todo, seen = 0, [root], set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        stat = stats[pid]
        total += stat.ticks + stat.child_ticks
        todo.extend(children.get(pid, ()))
    return total


def sample(roots: Mapping[str, int | None], proc: Path = Path("/proc")) -> dict[str, int | None]:
    """Ticks of each named tree, read in one pass over ``/proc``."""
    stats = read_all(proc)
    return {name: (tree_ticks(stats, pid) if pid else None) for name, pid in roots.items()}


def cpu_seconds(before: Mapping[str, int | None], after: Mapping[str, int | None]) -> dict[str, float | None]:
    """Seconds each tree used between two samples; None for one not running at either."""
    out: dict[str, float | None] = {}
    for name, start in before.items():
        end = after.get(name)
        out[name] = None if start is None or end is None else (end - start) / TICKS
    return out


def format_cpu(seconds: Mapping[str, float | None], wall: float, order: Iterable[str] | None = None) -> list[str]:
    """One line per process tree: CPU seconds and the share of one core over ``wall`` seconds."""
    names = list(order) if order is not None else list(seconds)
    width = max((len(n) for n in names), default=0)
    lines = []
    for name in names:
        value = seconds.get(name)
        if value is None:
            lines.append(f"  {name:<{width}}  n/a (not running at both readings)")
        else:
            lines.append(f"  {name:<{width}}  {value:8.1f} s  ({value / wall:.0%} of a core)" if wall > 0
                         else f"  {name:<{width}}  {value:8.1f} s")
    known = [v for v in seconds.values() if v is not None]
    lines.append(f"  {'total':<{width}}  {sum(known):8.1f} s  ({sum(known) / wall:.0%} of a core, over {wall:.1f} s)"
                 if wall > 0 else f"  {'total':<{width}}  {sum(known):8.1f} s")
    return lines
