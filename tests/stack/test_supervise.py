"""``trackstream up`` restarts a worker that stopped rather than skip messages (exit 75), and
stops everything when any child exits otherwise."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from agents.gap_guard import EXIT_SKIPPED_MESSAGES
from trackstream.stack.local import supervise
from trackstream.stack.process import ManagedProcess


def child(name: str, code: str, logs: Path) -> ManagedProcess:
    proc = ManagedProcess(name, [sys.executable, "-c", code], logs / f"{name}.log")
    proc.start()
    return proc


def exited(*procs: ManagedProcess) -> None:
    deadline = time.monotonic() + 20
    while any(p.alive() for p in procs) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(p.alive() for p in procs)


def test_a_worker_that_stopped_to_avoid_skipping_messages_is_restarted(tmp_path: Path) -> None:
    forever = "import time; time.sleep(60)"
    api = child("api", forever, tmp_path)
    guarded = child("worker-1", f"raise SystemExit({EXIT_SKIPPED_MESSAGES})", tmp_path)
    children = [api, guarded]
    restarted: list[str] = []

    def restart(name: str) -> ManagedProcess:
        restarted.append(name)
        proc = child(name, forever, tmp_path)
        children.append(proc)
        return proc

    try:
        exited(guarded)
        assert supervise(children, restart) is None  # nothing to stop for
        assert restarted == ["worker-1"]
        assert guarded not in children and [c.name for c in children] == ["api", "worker-1"]
        assert all(c.alive() for c in children)
        assert supervise(children, restart) is None and restarted == ["worker-1"]  # once

        crashed = child("worker-2", "raise SystemExit(1)", tmp_path)
        children.append(crashed)
        exited(crashed)
        assert supervise(children, restart) is crashed  # any other exit stops `up`
        assert restarted == ["worker-1"]
    finally:
        for proc in children:
            proc.stop(timeout=5)


def test_an_api_exiting_with_75_is_not_taken_for_a_worker(tmp_path: Path) -> None:
    api = child("api", f"raise SystemExit({EXIT_SKIPPED_MESSAGES})", tmp_path)
    exited(api)
    assert supervise([api], lambda name: (_ for _ in ()).throw(AssertionError(name))) is api
