"""Shared fixtures for the carrier adapter tests.

Sample payloads are in ``tests/fixtures/samples/<carrier>/`` (each folder's SOURCES.md says where
every file comes from).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st

from tests.carriers.properties import RECEIVED, SAMPLES_DIR, Mutator, same_shape

RECEIVED_AT = RECEIVED


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return SAMPLES_DIR


@pytest.fixture
def received_at() -> datetime:
    return RECEIVED_AT


#: Any JSON value (big integers included: the parsers must reject what orjson cannot read).
JSON_VALUES: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=25,
)


@pytest.fixture(scope="session")
def json_values() -> st.SearchStrategy[Any]:
    return JSON_VALUES


def _mutate(data: st.DataObject, value: Any) -> Any:
    """Replace, delete or keep one node somewhere in ``value`` (a copy), chosen by Hypothesis; a
    text with digits may instead be changed in shape (``same_shape``: another instant for an ISO
    8601 timestamp, other digits for the rest)."""
    if isinstance(value, dict) and value and data.draw(st.booleans(), label="descend"):
        key = data.draw(st.sampled_from(sorted(value)), label="key")
        copy = dict(value)
        if data.draw(st.integers(0, 4), label="delete?") == 0:
            del copy[key]
        else:
            copy[key] = _mutate(data, value[key])
        return copy
    if isinstance(value, list) and value and data.draw(st.booleans(), label="descend"):
        index = data.draw(st.integers(0, len(value) - 1), label="index")
        copy_list = list(value)
        copy_list[index] = _mutate(data, value[index])
        return copy_list
    if isinstance(value, str) and any(c in "0123456789" for c in value) and data.draw(st.booleans(), label="tweak"):
        return same_shape(data, value)
    return data.draw(JSON_VALUES, label="replacement")


@pytest.fixture(scope="session")
def mutate() -> Mutator:
    return _mutate
