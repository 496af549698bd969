"""The partition watchdog's decision: only a partition whose fetching stopped is fetched again,
and never from an offset that could skip a message."""

from __future__ import annotations

from agents.watchdog import PartitionView, StallDetector, Unstick

STALL = 30.0


def view(read: int | None, committed: int | None, highwater: int | None = 500, in_flight: int = 0,
         paused: bool = False) -> PartitionView:
    return PartitionView(highwater=highwater, read=read, committed=committed, in_flight=in_flight, paused=paused)


def run(detector: StallDetector, views: list[PartitionView], step: float = 10.0) -> list[list[Unstick]]:
    return [detector.check({"tp": v}, i * step) for i, v in enumerate(views)]


def test_a_partition_that_fetches_nothing_for_the_stall_time_is_fetched_again_from_its_read_offset() -> None:
    detector = StallDetector(STALL)
    # 0..120 handed over, processed and committed; 121..499 wait
    results = run(detector, [view(read=120, committed=121)] * 5)
    assert results[:3] == [[], [], []]  # 0 s, 10 s, 20 s
    assert results[3] == [Unstick("tp", 120, False)]  # 30 s: stalled; from the read offset, never past it
    assert results[4] == []  # the clock starts again after a refetch


def test_messages_in_flight_are_back_pressure_not_a_stall() -> None:
    # a slow sink: the committed offset and the read offset stand still for minutes, but the
    # partition's messages are still being processed
    detector = StallDetector(STALL)
    assert all(r == [] for r in run(detector, [view(read=400, committed=100, in_flight=300)] * 20))


def test_a_moving_read_offset_restarts_the_clock() -> None:
    detector = StallDetector(STALL)
    views = [view(read=100 + i, committed=101 + i) for i in range(10)]
    assert all(r == [] for r in run(detector, views))


def test_an_idle_partition_with_everything_committed_is_never_refetched() -> None:
    # last message 499 handed over and committed (next: 500, the log end): no backlog
    detector = StallDetector(STALL)
    assert all(r == [] for r in run(detector, [view(read=499, committed=500, highwater=500)] * 20))
    # before the first fetch, with nothing to read
    assert all(r == [] for r in run(StallDetector(STALL), [view(read=None, committed=500, highwater=500)] * 20))


def test_a_partition_never_fetched_after_assignment_is_fetched_from_its_committed_offset() -> None:
    detector = StallDetector(STALL)
    results = run(detector, [view(read=None, committed=100, paused=True)] * 4)
    assert results[3] == [Unstick("tp", 100, True)]
    # Faust's assignment sets the read offset to the committed one: the same decision
    results = run(StallDetector(STALL), [view(read=100, committed=100)] * 4)
    assert results[3] == [Unstick("tp", 100, False)]
    # ... even with a single message waiting
    results = run(StallDetector(STALL), [view(read=100, committed=100, highwater=101)] * 4)
    assert results[3] == [Unstick("tp", 100, False)]


def test_messages_handed_over_and_not_committed_are_held_not_stalled() -> None:
    # a take() batch in a blocked sink: Faust does not always list its messages as unacknowledged,
    # but the offsets show the worker holds 480..499 while 500..599 wait
    detector = StallDetector(STALL)
    assert all(r == [] for r in run(detector, [view(read=499, committed=480, highwater=600)] * 20))


def test_partitions_are_judged_separately_and_forgotten_when_revoked() -> None:
    detector = StallDetector(STALL)
    stuck = view(read=7, committed=7)

    def busy(t: float) -> PartitionView:  # fetched and processed all along
        return view(read=10 + int(t), committed=5, in_flight=3)

    for t in (0.0, 15.0):
        assert detector.check({"a": busy(t), "b": stuck}, t) == []
    assert detector.check({"a": busy(20.0)}, 20.0) == []  # b revoked
    assert detector.check({"a": busy(40.0), "b": stuck}, 40.0) == []  # b assigned again: a new clock
    assert detector.check({"a": busy(70.0), "b": stuck}, 70.0) == [Unstick("b", 7, False)]


def test_reset_forgets_every_clock() -> None:
    detector = StallDetector(STALL)
    detector.check({"tp": view(read=1, committed=2)}, 0.0)
    detector.reset()  # a rebalance or a recovery
    assert detector.check({"tp": view(read=1, committed=2)}, 35.0) == []
    assert detector.check({"tp": view(read=1, committed=2)}, 65.0) == [Unstick("tp", 1, False)]


def test_a_fetcher_waiting_behind_a_slow_agent_stalls_no_partition() -> None:
    # the sink holds partition "a"'s messages; the fetcher waits for room in its buffer, so "b"
    # gets nothing either: back-pressure, for as long as it lasts
    detector = StallDetector(STALL)
    for t in range(0, 300, 10):
        assert detector.check({"a": view(read=50, committed=20, in_flight=30), "b": view(read=7, committed=7)},
                              float(t)) == []


def test_a_partition_left_behind_while_the_fetcher_serves_others_is_stalled() -> None:
    # upstream faust#629: "b" gets nothing while "a" keeps being fetched and processed
    detector = StallDetector(STALL)
    results = [detector.check({"a": view(read=100 + t, committed=90 + t, in_flight=5), "b": view(read=7, committed=7)},
                              float(t)) for t in range(0, 40, 10)]
    assert results == [[], [], [], [Unstick("b", 7, False)]]


def test_an_idle_worker_with_an_unfetched_backlog_is_stalled() -> None:
    detector = StallDetector(STALL)
    results = [detector.check({"a": view(read=10, committed=11, highwater=11), "b": view(read=None, committed=7)},
                              float(t)) for t in range(0, 40, 10)]
    assert results == [[], [], [], [Unstick("b", 7, False)]]


def test_a_blocked_agent_is_not_a_stall_while_another_agents_topic_flows() -> None:
    """A blocked sink holds some partitions of its topic; another of its partitions gets messages
    the fetcher does not hand over (the agent's buffer is full), while the alert ticks of another
    agent keep flowing: back-pressure on that topic, not a stall."""
    from faust.types import TP

    detector = StallDetector(STALL)
    held, waiting = TP("shipment.changes", 0), TP("shipment.changes", 3)
    ticks, stuck = TP("alerts.ticks", 0), TP("alerts.ticks", 1)
    for t in range(0, 130, 10):
        found = detector.check({
            held: view(read=50, committed=20, in_flight=30), waiting: view(read=7, committed=8),
            ticks: view(read=100 + t, committed=101 + t, highwater=102 + t),  # flows
            stuck: view(read=4, committed=5, highwater=40),  # its topic flows, it does not: a stall
        }, float(t))
        assert waiting not in {u.tp for u in found}
        if t >= STALL and t % 40 == 30:
            assert [u.tp for u in found] == [stuck]
