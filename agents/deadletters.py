"""``keep_deadletters``: copies ``tracking.deadletter`` into PostgreSQL so operators can see and
replay what could not be read. Idempotent on the raw message's topic:partition:offset."""

from __future__ import annotations

import logging

import faust
import orjson
from faust.types import StreamT

from schemas.deadletter import DeadLetter
from schemas.events import parse_utc
from sinks.postgres import PostgresSink
from trackstream.topics_faust import Topics

log = logging.getLogger(__name__)


def decode_deadletter(payload: bytes) -> DeadLetter:
    import base64

    d = orjson.loads(payload)
    body = d["payload"].encode() if d.get("payload") is not None else base64.b64decode(d["payload_b64"])
    return DeadLetter(
        carrier=d["carrier"], reason=d["reason"], error=d["error"], payload=body,
        received_at=parse_utc(d["received_at"]), topic=d["topic"], partition=d["partition"],
        offset=d["offset"], headers=d.get("headers") or {}, item=d.get("item"),
    )


def register(app: faust.App, topics: Topics, sink: PostgresSink) -> None:
    async def keep_deadletters(stream: StreamT[bytes]) -> None:
        async for value in stream:
            try:
                letter = decode_deadletter(value)
            except (ValueError, KeyError, TypeError) as exc:
                log.error("undecodable dead letter: %s", exc)
                continue
            await sink.write_deadletter(letter)

    app.agent(topics.deadletter, name="keep_deadletters")(keep_deadletters)
