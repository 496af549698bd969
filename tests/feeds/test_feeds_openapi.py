"""``POST /v1/feeds/{carrier}`` in ``api/openapi.yaml`` matches what ``api.feeds`` accepts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

import api
from trackstream.feeds.formats import CSV_COLUMNS, MEDIA_TYPES, Format

SPEC = yaml.safe_load((Path(api.__file__).resolve().parent / "openapi.yaml").read_text(encoding="utf-8"))


def operation() -> dict[str, Any]:
    found: dict[str, Any] = SPEC["paths"]["/v1/feeds/{carrier}"]["post"]
    return found


def test_every_accepted_media_type_is_documented() -> None:
    assert set(operation()["requestBody"]["content"]) == set(MEDIA_TYPES)


def test_status_codes_and_answer_fields() -> None:
    responses = operation()["responses"]
    assert set(responses) == {"202", "400", "404", "413", "415", "422", "500", "503"}
    accepted = responses["202"]["content"]["application/json"]["schema"]["allOf"][1]
    assert set(accepted["required"]) == {"format", "topic", "messages", "payloads", "events", "invalid"}
    assert set(accepted["properties"]["format"]["enum"]) == {f.value for f in Format}
    line_error = SPEC["components"]["schemas"]["FeedLineError"]
    assert set(line_error["required"]) == {"line", "item", "field", "error", "message"}


def test_the_csv_example_uses_the_csv_columns() -> None:
    example = operation()["requestBody"]["content"]["text/csv"]["example"]
    assert tuple(example.splitlines()[0].split(",")) == CSV_COLUMNS
