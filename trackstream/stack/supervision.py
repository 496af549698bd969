"""What ``trackstream up`` does when one of its children dies, decided apart from the processes.

A worker or the API that dies for any reason (an exit status, a signal such as the kernel's
out-of-memory SIGKILL, the gap guard's exit 75) is restarted after a backoff: ``FIRST_DELAY``
doubling up to ``MAX_DELAY`` while the piece keeps dying soon after its start, back to
``FIRST_DELAY`` once it stayed up ``STABLE_AFTER`` seconds. Only a piece that keeps dying
(``MAX_DEATHS`` deaths within ``WINDOW`` seconds) stops the stack: restarting it again would hide a
fault that needs a person. An init system or a container runtime's restart policy behaves the same.

While a piece is down the supervisor says so in ``<data dir>/stack-status.json``, which the API's
``/readyz`` reads (``api/health.py``): the API and the workers are separate processes, and the data
folder is what they already share. The file is written whole and renamed into place, so a reader
never sees half of it.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from agents.gap_guard import EXIT_SKIPPED_MESSAGES

FIRST_DELAY = 1.0
MAX_DELAY = 30.0
STABLE_AFTER = 60.0
MAX_DEATHS = 5
WINDOW = 300.0

STATUS_FILE = "stack-status.json"


@dataclass(frozen=True)
class History:
    """One piece's deaths, as much as the policy needs of them."""

    deaths: tuple[float, ...] = ()  # clock times of the deaths still inside the window
    streak: int = 0  # deaths in a row after short runs: the backoff's exponent


@dataclass(frozen=True)
class Restart:
    after: float  # seconds


@dataclass(frozen=True)
class GiveUp:
    deaths: int
    within: float  # seconds from the first of them to the last


@dataclass(frozen=True)
class RestartPolicy:
    first_delay: float = FIRST_DELAY
    max_delay: float = MAX_DELAY
    stable_after: float = STABLE_AFTER
    max_deaths: int = MAX_DEATHS
    window: float = WINDOW

    def on_death(self, history: History, started_at: float, died_at: float) -> tuple[History, Restart | GiveUp]:
        """A piece started at ``started_at`` died at ``died_at`` (one clock, any origin): its new
        history, and whether to restart it (after how long) or stop the stack."""
        deaths = (*(t for t in history.deaths if died_at - t <= self.window), died_at)
        streak = 1 if died_at - started_at >= self.stable_after else history.streak + 1
        if len(deaths) >= self.max_deaths:
            return History(deaths, streak), GiveUp(len(deaths), died_at - deaths[0])
        delay = min(self.max_delay, self.first_delay * 2.0 ** min(streak - 1, 64))
        return History(deaths, streak), Restart(delay)


def death_cause(returncode: int | None, worker: bool) -> str:
    """How a child ended, for the log and the status file: ``exit status N`` or ``killed by SIGKILL``
    (``subprocess`` reports a signal as a negative status)."""
    if returncode is None:
        return "not started"
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    if worker and returncode == EXIT_SKIPPED_MESSAGES:
        return f"exit status {returncode}: it stopped to avoid skipping messages"
    return f"exit status {returncode}"


@dataclass(frozen=True)
class PieceStatus:
    name: str
    pid: int | None  # None while down
    restarts: int = 0
    last_stop: str | None = None  # the cause of its last death

    def to_json(self) -> dict[str, Any]:
        return {"state": "up" if self.pid is not None else "down", "pid": self.pid, "restarts": self.restarts,
                "last_stop": self.last_stop}


def write_status(path: Path, supervisor_pid: int, pieces: list[PieceStatus]) -> None:
    document = {"supervisor_pid": supervisor_pid, "pieces": {p.name: p.to_json() for p in pieces}}
    partial = path.with_name(path.name + ".tmp")
    partial.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    os.replace(partial, path)


def read_status(path: Path, supervisor_pid: int) -> Mapping[str, Any] | None:
    """The pieces the status file lists, when it was written by ``supervisor_pid`` (the API's
    parent); None when there is no such file (a stack not started by ``trackstream up``, or a file
    left behind by one that is gone)."""
    try:
        document = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):  # none, or not one we wrote (ours are renamed into place whole)
        return None
    if not isinstance(document, dict) or document.get("supervisor_pid") != supervisor_pid:
        return None
    pieces = document.get("pieces")
    return pieces if isinstance(pieces, dict) else None


def stack_problems(pieces: Mapping[str, Any], heartbeat_pids: Mapping[str, int] | None) -> list[str]:
    """What ``/readyz`` reports from the status file: a piece that is down, and a worker restarted
    in place of a dead one until its new process recorded a heartbeat (``heartbeat_pids``: worker
    id -> pid of its fresh heartbeat; None when PostgreSQL could not say). Workers started with the
    stack are left to the general heartbeat check, which already waits for one of them."""
    problems = []
    for name, piece in sorted(pieces.items()):
        if not isinstance(piece, dict):
            continue
        if piece.get("state") == "down":
            problems.append(f"{name}: down ({piece.get('last_stop') or 'stopped'}), restarting")
        elif (heartbeat_pids is not None and name.startswith("worker-") and piece.get("restarts")
              and piece.get("pid") is not None and heartbeat_pids.get(name) != piece.get("pid")):
            problems.append(f"{name}: restarted, not processing yet")
    return problems
