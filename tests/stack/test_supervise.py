"""``trackstream up``'s supervision loop with real child processes: a worker or the API that dies
for any reason is restarted after its backoff (a fake clock decides when), the status file says
what is down meanwhile, and a piece that keeps dying stops the stack."""

from __future__ import annotations

import io
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from agents.gap_guard import EXIT_SKIPPED_MESSAGES
from trackstream.stack.local import Supervisor, keep_running
from trackstream.stack.process import ManagedProcess
from trackstream.stack.supervision import RestartPolicy

FOREVER = "import time; time.sleep(60)"


def child(name: str, code: str, logs: Path) -> ManagedProcess:
    proc = ManagedProcess(name, [sys.executable, "-c", code], logs / f"{name}.log")
    proc.start()
    return proc


def exited(*procs: ManagedProcess) -> None:
    deadline = time.monotonic() + 20
    while any(p.alive() for p in procs) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(p.alive() for p in procs)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Stack:
    """Children as ``trackstream up`` holds them, with a restart that starts ``code`` again."""

    def __init__(self, logs: Path, **codes: str) -> None:
        self.logs = logs
        self.codes = codes
        self.children = [child(name.replace("_", "-"), code, logs) for name, code in codes.items()]
        self.restarted: list[str] = []

    def restart(self, name: str) -> ManagedProcess:
        self.restarted.append(name)
        proc = child(name, self.codes[name.replace("-", "_")], self.logs)
        self.children.append(proc)
        return proc

    def named(self, name: str) -> ManagedProcess:
        return next(c for c in self.children if c.name == name)

    def supervisor(self, clock: Callable[[], float] = time.monotonic, policy: RestartPolicy | None = None,
                   ) -> tuple[Supervisor, io.StringIO]:
        out = io.StringIO()
        return Supervisor(self.children, self.restart, policy=policy, clock=clock,
                          status_path=self.logs / "stack-status.json", out=out), out

    def status(self) -> dict[str, Any]:
        pieces: dict[str, Any] = orjson.loads((self.logs / "stack-status.json").read_bytes())["pieces"]
        return pieces

    def stop(self) -> None:
        for proc in self.children:
            proc.stop(timeout=5)


def test_a_worker_killed_by_sigkill_is_restarted_after_its_backoff(tmp_path: Path) -> None:
    stack = Stack(tmp_path, api=FOREVER, worker_1=FOREVER, worker_2=FOREVER)
    clock = FakeClock()
    supervisor, out = stack.supervisor(clock)
    try:
        assert {n: p["state"] for n, p in stack.status().items()} == {"api": "up", "worker-1": "up", "worker-2": "up"}
        killed = stack.named("worker-1")
        killed.kill()  # what the kernel's OOM killer does
        assert supervisor.step() is None  # nothing to stop for
        assert out.getvalue() == "worker-1 stopped (killed by SIGKILL); restarting it in 1s\n"
        assert stack.restarted == [] and killed not in stack.children
        assert stack.status()["worker-1"] == {"state": "down", "pid": None, "restarts": 0,
                                              "last_stop": "killed by SIGKILL"}
        clock.now += 0.9
        assert supervisor.step() is None and stack.restarted == []  # still backing off
        clock.now += 0.1
        assert supervisor.step() is None and stack.restarted == ["worker-1"]
        successor = stack.named("worker-1")
        assert successor.alive() and successor.pid != killed.pid
        assert stack.status()["worker-1"] == {"state": "up", "pid": successor.pid, "restarts": 1,
                                              "last_stop": "killed by SIGKILL"}
        assert supervisor.step() is None and stack.restarted == ["worker-1"]  # once
        assert all(c.alive() for c in stack.children) and len(stack.children) == 3

        clock.now += 5  # dies again soon after its start: twice the wait
        successor.kill()
        assert supervisor.step() is None
        assert out.getvalue().splitlines()[-1] == "worker-1 stopped (killed by SIGKILL); restarting it in 2s"
        clock.now += 2
        assert supervisor.step() is None and stack.restarted == ["worker-1", "worker-1"]
        assert stack.status()["worker-1"]["restarts"] == 2
    finally:
        stack.stop()


def test_the_api_is_restarted_too(tmp_path: Path) -> None:
    stack = Stack(tmp_path, worker_1=FOREVER, api="import sys; sys.exit(1)")
    clock = FakeClock()
    supervisor, out = stack.supervisor(clock)
    try:
        exited(stack.named("api"))
        assert supervisor.step() is None
        assert out.getvalue() == "api stopped (exit status 1); restarting it in 1s\n"
        assert stack.status()["api"]["state"] == "down"
        stack.codes["api"] = FOREVER
        clock.now += 1
        assert supervisor.step() is None and stack.restarted == ["api"]
        api = stack.named("api")
        assert api.alive() and stack.status()["api"] == {"state": "up", "pid": api.pid, "restarts": 1,
                                                         "last_stop": "exit status 1"}
        api.kill()
        assert supervisor.step() is None
        assert out.getvalue().splitlines()[-1] == "api stopped (killed by SIGKILL); restarting it in 2s"
        clock.now += 2
        assert supervisor.step() is None and stack.restarted == ["api", "api"] and stack.named("api").alive()
    finally:
        stack.stop()


def test_a_worker_that_stopped_to_avoid_skipping_messages_is_restarted_as_before(tmp_path: Path) -> None:
    stack = Stack(tmp_path, api=FOREVER, worker_1=f"raise SystemExit({EXIT_SKIPPED_MESSAGES})")
    clock = FakeClock()
    supervisor, out = stack.supervisor(clock)
    try:
        exited(stack.named("worker-1"))
        stack.codes["worker_1"] = FOREVER
        assert supervisor.step() is None
        assert out.getvalue() == ("worker-1 stopped (exit status 75: it stopped to avoid skipping messages); "
                                  "restarting it in 1s\n")
        clock.now += 1
        assert supervisor.step() is None and stack.restarted == ["worker-1"] and stack.named("worker-1").alive()
    finally:
        stack.stop()


def test_an_api_exiting_with_75_is_not_taken_for_the_gap_guard(tmp_path: Path) -> None:
    stack = Stack(tmp_path, api=f"raise SystemExit({EXIT_SKIPPED_MESSAGES})")
    supervisor, out = stack.supervisor(FakeClock())
    try:
        exited(stack.named("api"))
        assert supervisor.step() is None
        assert out.getvalue() == "api stopped (exit status 75); restarting it in 1s\n"
    finally:
        stack.stop()


def test_a_piece_that_keeps_dying_stops_the_stack(tmp_path: Path) -> None:
    stack = Stack(tmp_path, api=FOREVER, worker_1=FOREVER, worker_2="print('out of luck'); raise SystemExit(3)")
    fast = RestartPolicy(first_delay=0.05, max_delay=0.2, stable_after=60, max_deaths=5, window=60)
    supervisor, out = stack.supervisor(policy=fast)
    started = time.monotonic()
    try:
        given_up = keep_running(supervisor, lambda: time.monotonic() - started > 30, interval=0.02)
        assert given_up is not None and given_up.name == "worker-2" and given_up.returncode == 3
        assert stack.restarted == ["worker-2"] * 4  # the fifth death is not restarted
        lines = out.getvalue().splitlines()
        assert lines[:4] == [f"worker-2 stopped (exit status 3); restarting it in {d:g}s"
                             for d in (0.05, 0.1, 0.2, 0.2)]
        assert lines[4].startswith("worker-2 stopped 5 times within ") and lines[4].endswith(
            "s (last: exit status 3); stopping. Last lines:")
        assert "out of luck" in lines[5]
        # the others are left running for `up` to stop, newest first, as on Ctrl-C
        assert [c.name for c in stack.children if c.alive()] == ["api", "worker-1"]
    finally:
        stack.stop()


LEADER = """
import os, time
from prometheus_client import Gauge
Gauge("leader", "1 while polling", multiprocess_mode="livesum").set(1)
open(os.environ["READY_FILE"], "w").close()
time.sleep(60)
"""


def live_leaders(metrics_dir: Path) -> float:
    from prometheus_client import CollectorRegistry, multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(metrics_dir))  # type: ignore[no-untyped-call]
    return sum(s.value for m in registry.collect() if m.name == "leader" for s in m.samples)


def test_a_dead_childs_live_gauges_are_not_counted_next_to_its_successors(tmp_path: Path) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    ready = tmp_path / "ready"
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), "READY_FILE": str(ready)}

    def leader() -> ManagedProcess:
        proc = ManagedProcess("worker-1", [sys.executable, "-c", LEADER], tmp_path / "worker-1.log", env=env)
        proc.start()
        deadline = time.monotonic() + 20
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        ready.unlink()
        return proc

    children = [leader()]

    def restart(name: str) -> ManagedProcess:
        children.append(leader())
        return children[-1]

    clock = FakeClock()
    supervisor = Supervisor(children, restart, clock=clock, out=io.StringIO(), metrics_dir=metrics_dir)
    try:
        assert live_leaders(metrics_dir) == 1
        children[0].kill()
        supervisor.step()
        assert live_leaders(metrics_dir) == 0
        clock.now += 1
        supervisor.step()
        assert len(children) == 1 and children[0].alive()
        assert live_leaders(metrics_dir) == 1  # the successor only
    finally:
        for proc in children:
            proc.stop(timeout=5)


def test_keep_running_ends_when_asked(tmp_path: Path) -> None:
    stack = Stack(tmp_path, api=FOREVER, worker_1=FOREVER)
    supervisor, out = stack.supervisor()
    calls = iter([False, False, True])
    try:
        assert keep_running(supervisor, lambda: next(calls), interval=0.01) is None
        assert out.getvalue() == "" and all(c.alive() for c in stack.children)
    finally:
        stack.stop()
