"""The real parts, started once per test session: a Kafka broker (KRaft), PostgreSQL, one Faust
worker and the HTTP API, all on free ports on 127.0.0.1, stopped at the end.

Tests that need them take the ``system`` fixture; pure tests take nothing and start nothing.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import orjson
import psycopg
import pytest

from sinks import keys as key_store
from tests.fakes.carrier_api import FakeCarrierApi
from tests.support import bearer, remove_stack_data, settings_from, stack_env, with_test_carriers
from trackstream.keys_cli import read_key_file
from trackstream.settings import Settings
from trackstream.stack.local import LocalStack
from trackstream.stack.process import ManagedProcess, wait_for


@dataclass
class System:
    stack: LocalStack
    env: dict[str, str]
    settings: Settings
    worker: ManagedProcess
    api: ManagedProcess
    carrier_api: FakeCarrierApi  # the worker polls its "session-postnl" account here

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.http_port}"

    def db(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.settings.database_url, autocommit=True)

    @property
    def admin_key(self) -> str:
        """The admin key the stack created on start (``TRACKSTREAM_ADMIN_KEY_FILE``)."""
        key = read_key_file(self.settings.admin_key_path)
        assert key is not None, f"no admin key in {self.settings.admin_key_path}"
        return key

    async def create_key(self, *scopes: str, name: str = "test key", customers: tuple[str, ...] | None = None,
                         carriers: tuple[str, ...] = (), personal_data: bool = False, rate_limit: float = 0.0,
                         expires_days: int | None = None, allow_authenticated: bool = True) -> tuple[str, str]:
        """A new key in the real key store: (its id, the key)."""
        from api.keys import authenticated_carriers

        grant = key_store.validate_grant(
            key_store.Grant(name=name, scopes=scopes, customers=customers, carriers=carriers,
                            personal_data=personal_data, rate_limit=rate_limit, expires_days=expires_days),
            authenticated_carriers(self.settings), allow_authenticated)
        async with await psycopg.AsyncConnection.connect(self.settings.database_url, autocommit=True) as conn:
            row, key = await key_store.create(conn, grant, "test", datetime.now(UTC))
        return row["id"], key

    def restart_api(self) -> ManagedProcess:
        if self.api.alive():
            self.api.stop()
        self.stack.children.remove(self.api)
        self.api = self.stack.start_api(self.env)
        return self.api

    def restart_worker(self) -> ManagedProcess:
        if self.worker.alive():
            self.worker.stop()
        self.stack.children.remove(self.worker)
        self.worker = self.stack.start_worker("worker-1", self.env)
        return self.worker

    def wait_ready(self, timeout: float = 90) -> None:
        import urllib.request

        def ready() -> bool:
            if not self.worker.alive():
                raise RuntimeError(f"worker died:\n{self.worker.tail()}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/readyz", timeout=3) as resp:
                    return bool(resp.status == 200)
            except OSError:
                return False

        wait_for(ready, timeout, "the system to be ready", interval=0.5)


#: Shipments registered for this customer are polled by the session worker's own poller.
WORKER_POLLED_CUSTOMER = "polled-by-worker"


@pytest.fixture(scope="session")
def system() -> Iterator[System]:
    data_dir = Path(tempfile.mkdtemp(prefix="trackstream-test-"))  # 0700, like any home folder
    carrier_api = FakeCarrierApi().start()
    accounts = data_dir / "poll-accounts.yaml"
    accounts.write_bytes(orjson.dumps({"accounts": [
        # only shipments registered for this customer, so other tests' shipments are left alone
        {"name": "session-postnl", "carrier": "postnl", "base_url": carrier_api.base_url,
         "credentials": {"api_key": carrier_api.postnl_key}, "customers": [WORKER_POLLED_CUSTOMER],
         "cadence": {"pre_transit": "1s", "in_transit": "1s", "not_found": "1s", "idle": "0.3s"}},
    ]}))
    env = {**with_test_carriers(stack_env(data_dir), data_dir), "TRACKSTREAM_POLL_ACCOUNTS": str(accounts),
           "TRACKSTREAM_MAPPING_REFRESH_SECONDS": "1", "TRACKSTREAM_ALERT_TICK_SECONDS": "1",
           # an eager partition watchdog, so every test that counts stored events also shows it is harmless
           "TRACKSTREAM_STALL_SECONDS": "3",
           # webhook receivers of the tests listen on loopback; retries within a test's patience
           "TRACKSTREAM_OUTBOUND_ALLOW_PRIVATE": "true", "TRACKSTREAM_OUTBOUND_RETRY_BASE_SECONDS": "0.2",
           "TRACKSTREAM_OUTBOUND_RETRY_MAX_SECONDS": "1", "TRACKSTREAM_OUTBOUND_POLL_SECONDS": "0.5"}
    settings = settings_from(env)
    stack = LocalStack(settings)
    try:
        stack.start_infrastructure()
        stack.reset_metrics_dir()
        worker = stack.start_worker("worker-1", env)
        api = stack.start_api(env)
        sys_ = System(stack=stack, env=env, settings=settings, worker=worker, api=api, carrier_api=carrier_api)
        sys_.wait_ready()
        yield sys_
    finally:
        stack.stop()
        carrier_api.stop()
        if os.environ.get("TRACKSTREAM_KEEP_TEST_DATA") != "1":
            remove_stack_data(data_dir)


@pytest.fixture
async def http(system: System) -> AsyncIterator[aiohttp.ClientSession]:
    """A client that sends the stack's admin key (webhook routes ignore it: they use the carrier's own scheme)."""
    async with aiohttp.ClientSession(base_url=system.base_url, headers=bearer(system.admin_key)) as session:
        yield session


@pytest.fixture
async def anonymous(system: System) -> AsyncIterator[aiohttp.ClientSession]:
    """A client without any key."""
    async with aiohttp.ClientSession(base_url=system.base_url) as session:
        yield session


def samples_dir() -> Path:
    """The public carrier payloads in ``tests/fixtures/samples/<carrier>/``."""
    return Path(__file__).resolve().parent / "fixtures" / "samples"
