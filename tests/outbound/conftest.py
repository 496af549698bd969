"""Fixtures of the outbound tests: a database of their own on the session's PostgreSQL server
(migrated like any trackstream database), so a dispatcher a test runs shares its queue with no
worker's dispatcher; real receivers on loopback."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from sinks.migrations import migrate
from tests.conftest import System
from tests.outbound.receiver import Receiver


@pytest.fixture(scope="session")
def queue_db(system: System) -> Iterator[str]:
    name = f"outbound_{secrets.token_hex(4)}"
    with psycopg.connect(system.settings.database_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    parts = urlsplit(system.settings.database_url)
    url = urlunsplit(parts._replace(path=f"/{name}"))
    migrate(url)
    yield url
    with psycopg.connect(system.settings.database_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    yield r
    await r.stop()
