"""The decisions of ``trackstream up``'s supervisor, with a fake clock: backoff, giving up, the
cause of a death, and what ``/readyz`` makes of the status file."""

from __future__ import annotations

import signal
from collections.abc import Sequence
from pathlib import Path

from agents.gap_guard import EXIT_SKIPPED_MESSAGES
from trackstream.stack.supervision import (
    GiveUp,
    History,
    PieceStatus,
    Restart,
    RestartPolicy,
    death_cause,
    read_status,
    stack_problems,
    write_status,
)

POLICY = RestartPolicy()  # the defaults `trackstream up` runs with


def deaths(policy: RestartPolicy, runs: Sequence[tuple[float, float]]) -> list[Restart | GiveUp]:
    """The decisions for a piece that ran from ``start`` to ``death`` for each pair in turn."""
    history, decisions = History(), []
    for started_at, died_at in runs:
        history, decision = policy.on_death(history, started_at, died_at)
        decisions.append(decision)
    return decisions


def test_the_defaults_are_the_documented_ones() -> None:
    assert (POLICY.first_delay, POLICY.max_delay, POLICY.stable_after, POLICY.max_deaths, POLICY.window) == (
        1.0, 30.0, 60.0, 5, 300.0)


def test_backoff_doubles_while_the_piece_dies_soon_after_each_start_up_to_the_maximum() -> None:
    policy = RestartPolicy(max_deaths=100)
    runs, t = [], 0.0
    for _ in range(8):
        runs.append((t, t + 2))  # up 2 s each time
        t += 40
    assert deaths(policy, runs) == [Restart(1), Restart(2), Restart(4), Restart(8), Restart(16), Restart(30),
                                    Restart(30), Restart(30)]


def test_backoff_starts_over_after_a_run_of_stable_after_seconds() -> None:
    policy = RestartPolicy(max_deaths=100)
    decisions = deaths(policy, [(0, 5), (6, 10), (12, 20), (24, 24 + 60), (85, 90), (92, 92 + 59.9)])
    assert decisions == [Restart(1), Restart(2), Restart(4), Restart(1), Restart(2), Restart(4)]


def test_five_deaths_within_five_minutes_give_up() -> None:
    # each run long enough to reset the backoff: only the count in the window stops it
    runs = [(t - 70, t) for t in (0, 75, 150, 225, 300)]
    decisions = deaths(POLICY, runs)
    assert decisions[:4] == [Restart(1)] * 4
    assert decisions[4] == GiveUp(deaths=5, within=300)


def test_five_deaths_within_six_minutes_do_not() -> None:
    runs = [(t - 70, t) for t in (0, 90, 180, 270, 360)]
    assert deaths(POLICY, runs) == [Restart(1)] * 5
    # ... but a sixth soon after is the fifth in five minutes
    history = History()
    for started_at, died_at in runs:
        history, _ = POLICY.on_death(history, started_at, died_at)
    assert POLICY.on_death(history, 362, 365)[1] == GiveUp(deaths=5, within=365 - 90)


def test_a_piece_that_dies_at_once_gives_up_on_its_fifth_death() -> None:
    t, runs = 0.0, []
    for delay in (0, 1, 2, 4, 8):
        t += delay
        runs.append((t, t + 0.5))
        t += 0.5
    decisions = deaths(POLICY, runs)
    assert decisions[:4] == [Restart(1), Restart(2), Restart(4), Restart(8)]
    assert isinstance(decisions[4], GiveUp) and decisions[4].deaths == 5


def test_the_numbers_are_parameters() -> None:
    policy = RestartPolicy(first_delay=0.5, max_delay=1.5, stable_after=10, max_deaths=2, window=1.5)
    assert deaths(policy, [(0, 1), (1.5, 3), (3.5, 5)]) == [Restart(0.5), Restart(1.0), Restart(1.5)]
    assert deaths(policy, [(0, 1), (1.5, 3), (3.5, 4)])[2] == GiveUp(deaths=2, within=1.0)


def test_the_cause_names_the_exit_status_or_the_signal() -> None:
    assert death_cause(-signal.SIGKILL, worker=True) == "killed by SIGKILL"
    assert death_cause(-signal.SIGTERM, worker=False) == "killed by SIGTERM"
    assert death_cause(-signal.SIGSEGV, worker=True) == "killed by SIGSEGV"
    assert death_cause(1, worker=True) == "exit status 1"
    assert death_cause(0, worker=False) == "exit status 0"
    assert death_cause(EXIT_SKIPPED_MESSAGES, worker=True) == "exit status 75: it stopped to avoid skipping messages"
    assert death_cause(EXIT_SKIPPED_MESSAGES, worker=False) == "exit status 75"  # only the gap guard means that


def test_readiness_names_a_piece_that_is_down_and_a_replacement_worker_until_it_beats() -> None:
    pieces = {
        "api": {"state": "up", "pid": 10, "restarts": 1},
        "worker-1": {"state": "down", "pid": None, "restarts": 0, "last_stop": "killed by SIGKILL"},
        "worker-2": {"state": "up", "pid": 22, "restarts": 1, "last_stop": "exit status 1"},
        "worker-3": {"state": "up", "pid": 33, "restarts": 0},
    }
    # worker-2's fresh heartbeat still comes from the process that died (pid 21)
    assert stack_problems(pieces, {"worker-2": 21, "worker-3": 33}) == [
        "worker-1: down (killed by SIGKILL), restarting", "worker-2: restarted, not processing yet"]
    assert stack_problems(pieces, {"worker-2": 22}) == ["worker-1: down (killed by SIGKILL), restarting"]
    assert stack_problems(pieces, None) == ["worker-1: down (killed by SIGKILL), restarting"]
    # a worker started with the stack is the general heartbeat check's business; all up: ready
    del pieces["worker-1"]
    assert stack_problems(pieces, {"worker-2": 22}) == []


def test_the_status_file_counts_only_for_the_supervisor_that_wrote_it(tmp_path: Path) -> None:
    path = tmp_path / "stack-status.json"
    assert read_status(path, 4242) is None
    write_status(path, 4242, [PieceStatus("worker-1", None, 2, "killed by SIGKILL"), PieceStatus("api", 99)])
    assert read_status(path, 4242) == {
        "worker-1": {"state": "down", "pid": None, "restarts": 2, "last_stop": "killed by SIGKILL"},
        "api": {"state": "up", "pid": 99, "restarts": 0, "last_stop": None}}
    assert read_status(path, 4243) is None  # left behind by another `trackstream up`
    assert [p.name for p in tmp_path.iterdir()] == ["stack-status.json"]
    path.write_text('{"supervisor_pid": 42')
    assert read_status(path, 42) is None
