"""The benchmark's pure parts: percentiles, /proc stat arithmetic, per-hop message counts and the
open-loop schedule. (The benchmark's figures themselves are printed by ``trackstream bench``, never
asserted here.)"""

from __future__ import annotations

from datetime import datetime

import pytest

from bench import counts, procstat
from bench.loadgen import STEPS, due_at, due_count, event_id, planned_count, steady_plan
from bench.stats import Summary, percentile
from trackstream import topics

# --- percentiles -------------------------------------------------------------------------------


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.99) == 99
    assert percentile(values, 1.0) == 100
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([1.0, 2.0], 0.5) == 1.0
    assert percentile([1.0, 2.0], 0.51) == 2.0


def test_percentile_rejects_nothing_and_bad_quantiles() -> None:
    with pytest.raises(ValueError):
        percentile([], 0.5)
    with pytest.raises(ValueError):
        percentile([1.0], 0.0)
    with pytest.raises(ValueError):
        percentile([1.0], 1.5)


def test_summary_sorts_and_formats_milliseconds() -> None:
    summary = Summary.of([0.3, 0.001, 0.2, 0.0005])
    assert summary is not None
    assert (summary.count, summary.p50, summary.max) == (4, 0.001, 0.3)
    assert summary.ms() == "p50 1.0 ms, p99 300 ms, max 300 ms"
    assert Summary.of([]) is None


# --- /proc/<pid>/stat --------------------------------------------------------------------------

# a real line's shape, with a command name holding a space and a parenthesis
LINE = ("4242 (java x) y) S 17 4242 4242 0 -1 4194560 5000 0 0 0 "
        "120 30 7 3 20 0 40 0 12345 100000 2000 18446744073709551615")


def test_parse_stat_counts_fields_after_the_last_parenthesis() -> None:
    stat = procstat.parse_stat(LINE)
    assert (stat.pid, stat.ppid, stat.ticks, stat.child_ticks) == (4242, 17, 150, 10)
    with pytest.raises(ValueError):
        procstat.parse_stat("garbage")


def test_tree_ticks_adds_descendants_and_their_reaped_children() -> None:
    stats = {
        1: procstat.Stat(1, 0, 1000, 0),  # init: not part of the tree
        10: procstat.Stat(10, 1, 100, 40),  # postmaster; 40 ticks of backends that ended
        11: procstat.Stat(11, 10, 20, 0),  # a backend
        12: procstat.Stat(12, 10, 5, 0),
        13: procstat.Stat(13, 11, 1, 0),  # a grandchild
        20: procstat.Stat(20, 1, 999, 0),  # someone else
    }
    assert procstat.tree_ticks(stats, 10) == 100 + 40 + 20 + 5 + 1
    assert procstat.tree_ticks(stats, 12) == 5
    assert procstat.tree_ticks(stats, 99) is None


def test_cpu_seconds_is_the_difference_in_seconds() -> None:
    tick = procstat.TICKS
    seconds = procstat.cpu_seconds({"api": 100, "gone": 5, "never": None}, {"api": 100 + 3 * tick, "never": None})
    assert seconds == {"api": 3.0, "gone": None, "never": None}
    lines = procstat.format_cpu({"api": 3.0, "worker-1": 1.0, "gone": None}, wall=4.0)
    assert lines[0].split() == ["api", "3.0", "s", "(75%", "of", "a", "core)"]
    assert "n/a" in lines[2]
    assert lines[-1].split()[:3] == ["total", "4.0", "s"]


def test_this_process_has_a_tree() -> None:
    import os

    ticks = procstat.sample({"me": os.getpid(), "nobody": None})
    assert ticks["me"] is not None and ticks["me"] >= 0
    assert ticks["nobody"] is None


# --- broker messages per event -----------------------------------------------------------------


def test_written_is_after_minus_before_and_new_topics_start_at_zero() -> None:
    assert counts.written({"a": 10, "b": 5}, {"a": 25, "b": 5, "c": 7}) == {"a": 15, "b": 0, "c": 7}


def test_hops_in_pipeline_order_with_always_shown_ones() -> None:
    written = {"shipment.updates": 3, "__consumer_offsets": 4, "trackstream-shipment_states-changelog": 9,
               "tracking.events": 5, "carrier.postnl.raw": 2, "carrier.native.raw": 10, "shipment.changes": 5,
               "carrier.ups.raw": 0, "something.else": 1}
    rows = counts.hops(written, "trackstream", always=["tracking.deadletter"])
    assert [h.topic for h in rows] == [
        "carrier.native.raw", "carrier.postnl.raw", "tracking.events", "shipment.changes", "shipment.updates",
        "tracking.deadletter", "trackstream-shipment_states-changelog", "__consumer_offsets", "something.else"]
    assert [h.kind for h in rows][-4:] == ["pipeline", "changelog", "offsets", "other"]


def test_format_hops_divides_by_events_and_totals() -> None:
    rows = [counts.Hop(topics.raw_topic("native"), 50, "raw"), counts.Hop(topics.TRACKING_EVENTS, 25, "pipeline"),
            counts.Hop(topics.DEADLETTER, 0, "pipeline")]
    lines = counts.format_hops(rows, 100)
    assert "100 events stored" in lines[0]
    assert lines[1].split() == ["carrier.native.raw", "0.5000", "(50", "records)"]
    assert lines[2].split() == ["tracking.events", "0.2500", "(25", "records)"]
    assert lines[3].split() == ["tracking.deadletter", "0.0000", "(0", "records)"]
    assert lines[4].split() == ["total", "0.7500", "(75", "records)"]
    assert "n/a" in counts.format_hops(rows, 0)[-1]


# --- the open-loop schedule and the steady plan ------------------------------------------------


def test_planned_count_and_due_times() -> None:
    assert planned_count(500, 20) == 10_000
    assert planned_count(0.5, 1) == 1
    assert planned_count(333, 0.5) == 166  # rounded
    with pytest.raises(ValueError):
        planned_count(0, 10)
    assert [due_at(i, 4) for i in range(5)] == [0, 0.25, 0.5, 0.75, 1.0]


def test_due_count_does_not_wait_for_answers() -> None:
    # open loop: what is due depends on the clock alone; a generator that wakes up late sends
    # everything that fell due meanwhile at once
    assert due_count(-0.1, 100, 1000) == 0
    assert due_count(0.0, 100, 1000) == 1
    assert due_count(0.0099, 100, 1000) == 1
    assert due_count(0.01, 100, 1000) == 2
    assert due_count(2.5, 100, 1000) == 251
    assert due_count(60.0, 100, 1000) == 1000
    for i in range(1000):  # request i is due exactly when the count passes it
        assert due_count(due_at(i, 100), 100, 1000) == i + 1


def test_steady_plan_unique_ids_shipments_move_forward() -> None:
    plan = steady_plan(5000, "STX", seed=3)
    assert len(plan) == 5000
    assert len({e["event_id"] for e in plan}) == 5000
    assert plan[7]["event_id"] == event_id("STX", 7)
    by_shipment: dict[str, list[dict[str, str]]] = {}
    for e in plan:
        assert set(e) == {"carrier", "tracking_number", "status", "occurred_at", "event_id"}
        by_shipment.setdefault(e["tracking_number"], []).append(e)
    assert 1000 <= len(by_shipment) <= 2000  # several events per shipment, many shipments
    assert sum(len(v) for v in by_shipment.values()) / len(by_shipment) >= 2.5
    for events in by_shipment.values():
        assert len(events) <= len(STEPS)
        assert [e["status"] for e in events] == list(STEPS[:len(events)])
        times = [datetime.fromisoformat(e["occurred_at"]) for e in events]
        assert times == sorted(times) and len(set(times)) == len(times)
        assert all(t.utcoffset() is not None for t in times)
    # interleaved: the first events come from many different shipments
    assert len({e["tracking_number"] for e in plan[:100]}) > 50
    assert steady_plan(50, "STX", seed=3) == steady_plan(50, "STX", seed=3)


def test_steady_plan_items_are_valid_native_events() -> None:
    from datetime import UTC

    from carriers.native import validate_items

    plan = steady_plan(200, "STX")
    _, problems = validate_items(list(plan), datetime.now(UTC))
    assert problems == []


# --- the backlog mode's input: packed raw records ----------------------------------------------


def test_backlog_input_is_packed_per_carrier_in_order() -> None:
    from bench.pipeline import carrier_runs, records_of
    from bench.workload import RawMessage, build
    from schemas.raw import PACK_BYTES, is_packed, items

    workload = build(3000, 600)
    runs = list(carrier_runs(workload.messages, max_items=100))
    assert all(len({m.carrier for m in run}) == 1 and 1 <= len(run) <= 100 for run in runs)
    for carrier in ("sendcloud", "postnl", "native"):  # every payload once, each carrier in its order
        flat = [m for run in runs if run[0].carrier == carrier for m in run]
        assert flat == [m for m in workload.messages if m.carrier == carrier]
    payloads = []
    for run in runs:
        for value, headers in records_of(run, "2026-11-21T10:00:00.000000Z"):
            assert len(value) <= PACK_BYTES or not is_packed(value)
            got = items(value, {k: v.decode() for k, v in headers})
            assert all(i.headers["received-at"] == "2026-11-21T10:00:00.000000Z" for i in got)
            payloads += [i.payload for i in got]
    assert payloads == [m.payload for run in runs for m in run]
    lone = records_of([RawMessage("sendcloud", b"{}", 1)], "t")
    assert lone == [(b"{}", [("received-at", b"t"), ("source", b"bench"), ("content-type", b"application/json")])]


# --- the restart mode's pure parts -------------------------------------------------------------


def test_load_payloads_one_active_event_per_shipment() -> None:
    import orjson

    from bench.restart import load_payloads
    from carriers.native import validate_items

    payloads = list(load_payloads(1201, "LDX", per_payload=500))
    assert len(payloads) == 3
    events = [e for p in payloads for e in orjson.loads(p)]
    assert len(events) == 1201 and len({e["tracking_number"] for e in events}) == 1201
    assert {e["status"] for e in events} == {"pre_transit", "in_transit"}
    _, problems = validate_items(events[:50], datetime.now())
    assert problems == []


def test_probe_numbers_cover_every_partition() -> None:
    from bench.restart import CARRIER, probe_numbers

    numbers = probe_numbers("LDX", 8)
    assert sorted(numbers) == list(range(8))
    assert all(topics.partition_for(f"{CARRIER}:{n}", 8) == p for p, n in numbers.items())


def test_recovery_is_when_the_last_slow_probe_was_stored() -> None:
    from bench.restart import Probe, recovery_seconds

    t0 = 1000.0
    probes = [
        Probe(0, 1000.0, 1000.2), Probe(0, 1000.1, 1000.3),  # never slow
        Probe(1, 1000.0, 1009.0), Probe(1, 1001.0, 1009.1), Probe(1, 1009.5, 1009.6),  # stalled until 1009.1
        Probe(2, 1000.0, None), Probe(2, 1005.0, 1005.2),  # the first one never stored: slow, "stored" at 0
        Probe(3, 1000.0, 1000.1), Probe(3, 1010.0, None),  # the newest not stored yet: not recovered
        Probe(4, 1000.0, 1000.1), Probe(4, 1010.0, 1012.0),  # the newest slow: not recovered
    ]
    got = recovery_seconds(probes, t0, within=1.0)
    assert got == {0: 0.0, 1: pytest.approx(9.1), 2: 0.0, 3: None, 4: None}
    # probes younger than the cutoff do not count: a probe on its way is not a stall
    assert recovery_seconds(probes, t0, within=1.0, until=1009.9)[3] == 0.0
    assert recovery_seconds(probes, t0, within=1.0, until=999.0) == dict.fromkeys(range(5))
