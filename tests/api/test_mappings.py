"""The body of ``PUT /v1/carriers/{carrier}/mappings/{code}``: the taxonomy or a 400/422 naming the problem."""

from __future__ import annotations

import pytest

from api.errors import ApiError
from api.mappings import parse_mapping
from carriers.base import CodeMapping


@pytest.mark.parametrize(("body", "mapping"), [
    (b'{"status": "delivered"}', CodeMapping("delivered")),
    (b'{"status": "delivered", "substatus": null}', CodeMapping("delivered")),
    (b'{"status": "in_transit", "substatus": "customs_hold"}', CodeMapping("in_transit", "customs_hold")),
    (b'{"status": "unknown"}', CodeMapping("unknown")),  # "known code, no status": mapped, not listed
])
def test_valid_bodies(body: bytes, mapping: CodeMapping) -> None:
    assert parse_mapping(body) == mapping


@pytest.mark.parametrize(("body", "status", "error", "message"), [
    (b"", 400, "malformed_body", "not well-formed JSON"),
    (b"{status: delivered}", 400, "malformed_body", "not well-formed JSON"),
    (b'["delivered"]', 422, "invalid_mapping", "expected a JSON object"),
    (b'"delivered"', 422, "invalid_mapping", "expected a JSON object"),
    (b"{}", 422, "invalid_mapping", "status must be one of"),
    (b'{"status": "delivred"}', 422, "invalid_mapping", "got 'delivred'"),
    (b'{"status": "pending"}', 422, "invalid_mapping", "status must be one of"),
    (b'{"status": 3}', 422, "invalid_mapping", "status must be one of"),
    (b'{"status": "delivered", "substatus": "teleported"}', 422, "invalid_mapping", "'teleported' is not"),
    (b'{"status": "delivered", "substatus": ["lost"]}', 422, "invalid_mapping", "is not in the substatus"),
    (b'{"status": "unknown", "substatus": "unmapped_code"}', 422, "invalid_mapping", "cannot be one"),
    (b'{"status": "delivered", "note": "x"}', 422, "invalid_mapping", "unknown field 'note'"),
])
def test_invalid_bodies(body: bytes, status: int, error: str, message: str) -> None:
    with pytest.raises(ApiError) as info:
        parse_mapping(body)
    assert (info.value.status, info.value.error) == (status, error)
    assert message in info.value.message
