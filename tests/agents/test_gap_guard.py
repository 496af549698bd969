"""The gap guard: a jump in offsets of a source partition stops the worker rather than letting
Faust commit past messages no agent processed; offsets deleted by retention stay Faust's business."""

from __future__ import annotations

from typing import Any

import pytest

from agents.gap_guard import EXIT_SKIPPED_MESSAGES, guard, skipped_messages


def test_skipped_messages_are_the_missing_offsets_the_broker_still_has() -> None:
    assert skipped_messages(70, 74, earliest=0) == (70, 74)
    assert skipped_messages(70, 74, earliest=None) == (70, 74)  # unknown: assume they exist
    assert skipped_messages(70, 74, earliest=72) == (72, 74)  # 70 and 71 deleted, 72 and 73 skipped
    assert skipped_messages(70, 74, earliest=74) is None  # all deleted by retention
    assert skipped_messages(70, 74, earliest=90) is None


class FakeConsumer:
    def __init__(self, earliest: int | Exception) -> None:
        self.earliest = earliest
        self.faust_gaps: list[tuple[str, int, int]] = []

    async def earliest_offsets(self, *tps: str) -> dict[str, int]:
        if isinstance(self.earliest, Exception):
            raise self.earliest
        return {tp: self.earliest for tp in tps}


async def faust_add_gap(self: Any, tp: str, offset_from: int, offset_to: int) -> None:
    self.faust_gaps.append((tp, offset_from, offset_to))


class Exited(Exception):
    pass


def exit_process(code: int) -> None:
    raise Exited(code)


async def test_a_jump_over_messages_that_exist_stops_the_worker_and_marks_nothing() -> None:
    consumer = FakeConsumer(earliest=0)
    with pytest.raises(Exited) as exited:
        await guard(faust_add_gap, exit_process)(consumer, "carrier.native.raw-3", 70, 74)
    assert exited.value.args == (EXIT_SKIPPED_MESSAGES,)
    assert consumer.faust_gaps == []  # nothing counted as acknowledged


async def test_a_broker_that_cannot_say_is_taken_to_still_have_them() -> None:
    consumer = FakeConsumer(earliest=ConnectionError("broker away"))
    with pytest.raises(Exited):
        await guard(faust_add_gap, exit_process)(consumer, "tp", 70, 74)
    assert consumer.faust_gaps == []


async def test_offsets_deleted_by_retention_are_left_to_faust() -> None:
    consumer = FakeConsumer(earliest=500)
    await guard(faust_add_gap, exit_process)(consumer, "tp", 70, 74)
    assert consumer.faust_gaps == [("tp", 70, 74)]
