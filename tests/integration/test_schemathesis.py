"""The served OpenAPI file is the truth: Schemathesis, run against ``GET /v1/openapi.yaml`` with
``--checks all``, finds no answer that differs from the document (schema-valid requests accepted,
schema-violating ones refused, every status, content type, header and body as documented, 405 with
``Allow`` for undocumented methods) and no 5xx.

The fuzzer writes (mapping overrides and keys above all) into a database of its own: its API
process shares the session's Kafka and PostgreSQL server, never the session's database, so the
shared worker maps codes, and the session's keys work, exactly as the other tests expect. What it
writes to Kafka (events, registrations, feeds with generated tracking numbers) the session worker
processes like any other input.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import yaml
from psycopg import sql
from psycopg.types.json import Jsonb

import api
from sinks.migrations import migrate
from tests.conftest import System
from tests.support import free_port, settings_from
from trackstream.keys_cli import ensure_admin_key, read_key_file
from trackstream.stack.process import ManagedProcess, port_open, wait_for

#: Test cases per operation and phase: enough to reach every documented answer, small enough
#: that the run stays well under two minutes on a 2-core machine shared with the other tests.
MAX_EXAMPLES = 40
SEED = 20261121
RUN_TIMEOUT = 300


@dataclass
class FuzzedApi:
    base_url: str
    database_url: str
    process: ManagedProcess
    work_dir: Path
    admin_key: str  # in the fuzzed API's own key store


def _database_url(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


@contextmanager
def heartbeats_relayed(source_url: str, target_url: str) -> Iterator[None]:
    """Copy the session worker's heartbeats into the fuzzed API's database while it runs: that
    worker is the one processing what the fuzzed API writes to Kafka, and ``/readyz`` asks for
    it (without it the answer would be a 503, which Schemathesis rightly counts as a failure)."""
    stop = threading.Event()

    def relay() -> None:
        with psycopg.connect(source_url, autocommit=True) as source, \
                psycopg.connect(target_url, autocommit=True) as target:
            while not stop.is_set():
                rows = source.execute("SELECT worker_id, seen_at, info FROM worker_heartbeats").fetchall()
                for worker_id, seen_at, info in rows:
                    target.execute(
                        "INSERT INTO worker_heartbeats (worker_id, seen_at, info) VALUES (%s, %s, %s) "
                        "ON CONFLICT (worker_id) DO UPDATE SET seen_at = EXCLUDED.seen_at, info = EXCLUDED.info",
                        (worker_id, seen_at, Jsonb(info)))
                stop.wait(0.5)

    thread = threading.Thread(target=relay, name="heartbeat-relay", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


@pytest.fixture
def fuzzed_api(system: System, tmp_path: Path) -> Iterator[FuzzedApi]:
    """``trackstream api`` of its own on a free port: the session's Kafka and PostgreSQL server,
    a new database (migrated), its own metrics folder and log; stopped and the database dropped
    at the end."""
    database = f"trackstream_fuzz_{uuid.uuid4().hex[:12]}"
    with system.db() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    database_url = _database_url(system.settings.database_url, database)
    process: ManagedProcess | None = None
    try:
        migrate(database_url)
        key_file = ensure_admin_key(settings_from({**system.env, "TRACKSTREAM_DATABASE_URL": database_url,
                                                   "TRACKSTREAM_ADMIN_KEY_FILE": str(tmp_path / "admin-key")}))
        admin_key = read_key_file(key_file)
        assert admin_key is not None
        port = free_port()
        metrics_dir = tmp_path / "metrics"
        metrics_dir.mkdir()
        env = system.stack.child_env({
            **system.env,
            "TRACKSTREAM_DATABASE_URL": database_url,
            "TRACKSTREAM_ADMIN_KEY_FILE": str(key_file),
            "TRACKSTREAM_HTTP_HOST": "127.0.0.1",
            "TRACKSTREAM_HTTP_PORT": str(port),
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        })
        process = ManagedProcess("api-schemathesis", [sys.executable, "-m", "trackstream.cli", "api"],
                                 tmp_path / "api.log", env=env)
        process.start()

        def up() -> bool:
            if not process.alive():
                raise RuntimeError(f"the fuzzed API exited:\n{process.tail()}")
            return port_open("127.0.0.1", port)

        wait_for(up, 60, "the fuzzed API")
        with heartbeats_relayed(system.settings.database_url, database_url):
            yield FuzzedApi(f"http://127.0.0.1:{port}", database_url, process, tmp_path, admin_key)
    finally:
        if process is not None:
            process.stop()
        with system.db() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))


#: ``skip_invalid=true`` stores a feed's valid lines and reports the invalid ones (202): a request
#: whose body has invalid lines is then valid, which a schema cannot say (it would depend on a query
#: parameter). The run keeps the all-or-nothing mode, where the body's schema is the whole truth;
#: tests/integration/test_feeds.py covers the other.
CONFIG = """
[[operations]]
include-path-regex = "^/v1/feeds/"
parameters = { "query.skip_invalid" = "false" }
"""


def schemathesis_command(base_url: str, work_dir: Path, key: str) -> list[str]:
    st = Path(sys.executable).with_name("st")
    config = work_dir / "schemathesis.toml"
    config.write_text(CONFIG, encoding="utf-8")
    return [
        str(st), "--config-file", str(config), "run", f"{base_url}/v1/openapi.yaml", "--url", base_url,
        "--checks", "all",
        "--header", f"Authorization: Bearer {key}",  # Schemathesis masks it in what it prints
        "--max-examples", str(MAX_EXAMPLES),
        "--seed", str(SEED),
        "--workers", "1",  # Hypothesis' caches are not thread-safe (flaky KeyError in its lambda sources)
        "--request-timeout", "30",
        "--generation-database", "none",
        "--no-color",
    ]


def documented_operations() -> int:
    """The operations Schemathesis tests: all of the document's but ``GET /v1/openapi.yaml``, the
    one it loads the document from (it leaves that out; loading it is its first request)."""
    document = yaml.safe_load((Path(api.__file__).resolve().parent / "openapi.yaml").read_text(encoding="utf-8"))
    methods = ("get", "put", "post", "delete", "patch")
    return sum(1 for path, item in document["paths"].items() for method in item
               if method in methods and (method, path) != ("get", "/v1/openapi.yaml"))


def test_schemathesis_finds_no_mismatch(fuzzed_api: FuzzedApi) -> None:
    command = schemathesis_command(fuzzed_api.base_url, fuzzed_api.work_dir, fuzzed_api.admin_key)
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT,
                            cwd=fuzzed_api.work_dir, stdin=subprocess.DEVNULL)
    seconds = time.monotonic() - started
    output = (result.stdout + result.stderr).replace(fuzzed_api.admin_key, "<admin key>")
    print(output)  # the whole report with every failure and its curl line, shown when the test fails
    print(f"--- Schemathesis took {seconds:.0f}s; the fuzzed API's log ---\n{fuzzed_api.process.tail(60)}")
    assert fuzzed_api.process.alive(), "the fuzzed API died (its log is above)"
    assert result.returncode == 0, f"Schemathesis found failures (exit {result.returncode}; the report is above)"
    operations = documented_operations()
    assert f"Selected: {operations}/{operations}" in output and f"Tested: {operations}" in output, (
        "not every documented operation was tested (the report is above)")
