"""``TRACKSTREAM_EVENT_LOOP``: the loop the worker and the API run on."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvloop

from trackstream.eventloop import install
from trackstream.settings import Settings, SettingsError
from trackstream.stack.ephemeral import stack_env


@pytest.fixture
def restore_policy() -> Iterator[None]:
    policy = asyncio.get_event_loop_policy()
    try:
        yield
    finally:
        asyncio.set_event_loop_policy(policy)


def loop_type() -> type:
    loop = asyncio.new_event_loop()
    try:
        return type(loop)
    finally:
        loop.close()


@pytest.mark.usefixtures("restore_policy")
def test_install_chooses_the_loop_of_every_loop_created_after_it() -> None:
    install("uvloop")
    assert issubclass(loop_type(), uvloop.Loop)
    install("asyncio")
    assert not issubclass(loop_type(), uvloop.Loop) and issubclass(loop_type(), asyncio.BaseEventLoop)
    with pytest.raises(ValueError, match="unknown event loop 'trio'"):
        install("trio")


def test_the_setting_defaults_to_uvloop_and_rejects_anything_else(tmp_path: Path) -> None:
    env = stack_env(tmp_path)
    env.pop("TRACKSTREAM_EVENT_LOOP", None)
    assert Settings.from_env(env).event_loop == "uvloop"
    assert Settings.from_env({**env, "TRACKSTREAM_EVENT_LOOP": "asyncio"}).event_loop == "asyncio"
    with pytest.raises(SettingsError, match="TRACKSTREAM_EVENT_LOOP must be uvloop or asyncio, got 'tokio'"):
        Settings.from_env({**env, "TRACKSTREAM_EVENT_LOOP": "tokio"})
