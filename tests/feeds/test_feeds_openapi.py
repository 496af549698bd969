"""``POST /v1/feeds/...`` in ``api/openapi.yaml`` matches what ``api.feeds`` accepts: an own
carrier's feed (``/v1/feeds/{carrier}``), ``native``'s, and each carrier with an adapter's (their
own paths, since their bodies differ)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

import api
from trackstream.feeds.formats import CSV_COLUMNS, MEDIA_TYPES, Format, payload_carriers

SPEC = yaml.safe_load((Path(api.__file__).resolve().parent / "openapi.yaml").read_text(encoding="utf-8"))
XML_TYPES = {"application/xml", "text/xml"}


def resolve(node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = SPEC
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = target
    return node


def operation(path: str = "/v1/feeds/{carrier}") -> dict[str, Any]:
    found: dict[str, Any] = SPEC["paths"][path]["post"]
    return found


def test_every_accepted_media_type_is_documented() -> None:
    """A carrier with an adapter takes every feed format; a native feed (own carrier, ``native``)
    every one but XML, which it refuses (400)."""
    for carrier in payload_carriers(()):
        assert set(resolve(operation(f"/v1/feeds/{carrier}")["requestBody"])["content"]) == set(MEDIA_TYPES)
    for path in ("/v1/feeds/{carrier}", "/v1/feeds/native"):
        assert set(resolve(operation(path)["requestBody"])["content"]) == set(MEDIA_TYPES) - XML_TYPES


def test_status_codes_and_answer_fields() -> None:
    responses = operation()["responses"]
    assert {"202", "400", "404", "413", "415", "422", "500", "503"} <= set(responses)
    assert "404" not in operation("/v1/feeds/native")["responses"]
    accepted = resolve(responses["202"])["content"]["application/json"]["schema"]["allOf"][1]
    assert set(accepted["required"]) == {"format", "topic", "messages", "payloads", "events", "invalid"}
    assert set(accepted["properties"]["format"]["enum"]) == {f.value for f in Format}
    line_error = SPEC["components"]["schemas"]["FeedLineError"]
    assert set(line_error["required"]) == {"line", "item", "field", "error", "message"}


def test_the_csv_example_uses_the_csv_columns() -> None:
    example = resolve(operation()["requestBody"])["content"]["text/csv"]["example"]
    assert tuple(example.splitlines()[0].split(",")) == CSV_COLUMNS
