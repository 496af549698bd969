"""``DeadLetter``: input trackstream could not turn into events, with the reason and the payload.

Published on ``tracking.deadletter`` keyed by carrier; kept in PostgreSQL for operators. Nothing is
dropped silently: every raw message either yields events or one dead letter.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from schemas.events import format_utc


@dataclass(frozen=True, slots=True)
class DeadLetter:
    carrier: str
    reason: str  # human message
    error: str  # stable code: "malformed_payload", "carrier_error", "invalid_event", "internal_error"
    payload: bytes
    received_at: datetime
    topic: str
    partition: int
    offset: int
    headers: Mapping[str, str] = field(default_factory=dict)
    #: the payload's place in a packed raw record (``schemas.raw``); None for a single record
    item: int | None = None

    @property
    def source(self) -> str:
        """``topic:partition:offset`` (``:item`` inside a packed record): unique per raw payload."""
        base = f"{self.topic}:{self.partition}:{self.offset}"
        return base if self.item is None else f"{base}:{self.item}"

    def to_dict(self) -> dict[str, Any]:
        try:
            text: str | None = self.payload.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        return {
            "carrier": self.carrier,
            "reason": self.reason,
            "error": self.error,
            "payload": text,
            "payload_b64": None if text is not None else base64.b64encode(self.payload).decode(),
            "received_at": format_utc(self.received_at),
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "item": self.item,
            "headers": dict(self.headers),
        }

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())
