"""``POST /v1/events`` when the native validator itself crashes (a bug in trackstream, not the
sender's fault): the batch is accepted unchecked instead of refused, so it reaches the raw topic
and the normalizer keeps it as an ``internal_error`` dead letter; the log has no payload text.

No broker or database here: the API is pointed at free ports, so an accepted batch ends at the
broker step (503 ``broker_unavailable``), which is as far as a handler gets without Kafka. A batch
the validator refused would end at 422, one it crashed on unguarded at 500."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from api import ingress
from api.server import init_app
from carriers import native
from schemas.events import TrackingEvent
from tests.support import admit_one_key
from trackstream.settings import Settings
from trackstream.stack.ephemeral import free_port

SECRET = "acct-5e4d3c-private"
validate_item = native.validate_item


def broken(item: Any, index: int, received_at: datetime) -> TrackingEvent:
    """The real validator with a bug: a lookup keyed by a payload value when attributes are given."""
    if isinstance(item, dict) and "attributes" in item:
        return {}[item["attributes"]["account"]]  # a KeyError quoting the payload
    return validate_item(item, index, received_at)


def event(**extra: Any) -> dict[str, Any]:
    return {"carrier": "fleet", "tracking_number": "N1", "status": "delivered",
            "occurred_at": "2026-11-20T10:00:00Z", **extra}


@pytest.fixture
def validator_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(native, "validate_item", broken)


@pytest.mark.usefixtures("validator_bug")
def test_a_validator_crash_leaves_nothing_to_refuse(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="api.ingress"):
        assert ingress._validated([event(), event(attributes={"account": SECRET})]) == ([], [])
    assert "internal error in the native parser: KeyError at tests/api/test_native_events_check.py:" in caplog.text
    assert "stored unchecked" in caplog.text and "Traceback (most recent call last)" in caplog.text
    assert SECRET not in caplog.text


@pytest.mark.usefixtures("validator_bug")
def test_invalid_items_are_still_refused_while_the_validator_works() -> None:
    assert [(p["index"], p["field"]) for p in ingress._validated([event(), event(status="teleported")])[1]] == [
        (1, "status")]


@pytest.mark.usefixtures("validator_bug")
async def test_the_handler_takes_the_batch_on_to_the_broker() -> None:
    env = {"TRACKSTREAM_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
           "TRACKSTREAM_DATABASE_URL": f"postgresql://nobody@127.0.0.1:{free_port()}/nothing"}
    app = init_app(Settings.from_env(env))
    server = TestServer(app, host="127.0.0.1", port=free_port())
    await server.start_server()
    try:
        async with aiohttp.ClientSession(base_url=str(server.make_url("")), headers=admit_one_key(app)) as client:
            async with client.post("/v1/events", json=[event(attributes={"account": SECRET})]) as resp:
                body = await resp.json()
                assert (resp.status, body["error"]) == (503, "broker_unavailable"), body
                assert SECRET not in await resp.text()
            async with client.post("/v1/events", json=[event(status="teleported")]) as resp:
                assert resp.status == 422  # the validator still refuses what it can read
    finally:
        await server.close()
