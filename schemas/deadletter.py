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
            "headers": dict(self.headers),
        }

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())
