from __future__ import annotations

import asyncio

import pytest

from trackstream.retry import retry_forever


async def test_retries_until_the_action_succeeds_with_growing_capped_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    pauses: list[float] = []

    async def no_sleep(seconds: float) -> None:
        pauses.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", no_sleep)
    calls = 0
    errors = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 6:
            raise ConnectionError("down")
        return "stored"

    def count() -> None:
        nonlocal errors
        errors += 1

    assert await retry_forever(flaky, "test write", first_delay=1, max_delay=4, on_error=count) == "stored"
    assert calls == 6 and errors == 5
    assert pauses == [1, 2, 4, 4, 4]
