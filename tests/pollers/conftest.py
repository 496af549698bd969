from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.carrier_api import FakeCarrierApi


@pytest.fixture
def carrier_api() -> Iterator[FakeCarrierApi]:
    api = FakeCarrierApi().start()
    try:
        yield api
    finally:
        api.stop()
