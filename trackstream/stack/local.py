"""``trackstream up``: the whole system on one machine, no Docker.

A real Kafka broker and a real PostgreSQL on 127.0.0.1 with their data in ``TRACKSTREAM_DATA_DIR``
(as root, PostgreSQL's cluster lives outside it, linked from it: ``trackstream.stack.postgres``), the
topics and migrations applied, then the Faust worker and the HTTP API as child processes.
SIGINT/SIGTERM stop everything this command started, newest first, by PID.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from agents.gap_guard import EXIT_SKIPPED_MESSAGES
from sinks.migrations import migrate
from trackstream.admin import ensure_topics
from trackstream.settings import Settings
from trackstream.stack.kafka import KafkaBroker
from trackstream.stack.postgres import PostgresServer
from trackstream.stack.process import ManagedProcess, port_open, wait_for

log = logging.getLogger(__name__)


def _port_of(hostport: str) -> int:
    return int(hostport.rsplit(":", 1)[1])


def postgres_dir(data_dir: Path) -> Path:
    """PostgreSQL's part of a data folder: its logs, and its cluster or a link to it."""
    return data_dir / "postgres"


@dataclass
class LocalStack:
    settings: Settings
    kafka: KafkaBroker | None = None
    postgres: PostgresServer | None = None
    children: list[ManagedProcess] = field(default_factory=list)

    def start_infrastructure(self) -> None:
        data = self.settings.data_dir
        data.mkdir(parents=True, exist_ok=True)
        url = urlsplit(self.settings.database_url)
        self.kafka = KafkaBroker(data / "kafka", _port_of(self.settings.kafka_servers[0]),
                                 partitions=self.settings.partitions)
        log.info("starting Kafka on %s", self.kafka.bootstrap)
        self.kafka.start()
        self.postgres = PostgresServer(postgres_dir(data), url.port or 5432,
                                       user=url.username or "trackstream",
                                       database=(url.path or "/trackstream").lstrip("/") or "trackstream")
        log.info("starting PostgreSQL on port %s", self.postgres.port)
        self.postgres.start()
        created = asyncio.run(ensure_topics(self.settings))
        if created:
            log.info("created topics: %s", ", ".join(created))
        applied = migrate(self.settings.database_url)
        if applied:
            log.info("applied migrations: %s", ", ".join(applied))

    def child_env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env["TRACKSTREAM_DATA_DIR"] = str(self.settings.data_dir)
        env["TRACKSTREAM_KAFKA_BOOTSTRAP"] = self.settings.kafka_bootstrap
        env["TRACKSTREAM_DATABASE_URL"] = self.settings.database_url
        metrics_dir = self.settings.data_dir / "metrics"
        env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        env.update(extra or {})
        return env

    def start_worker(self, worker_id: str = "worker-1", extra: dict[str, str] | None = None) -> ManagedProcess:
        env = self.child_env({"TRACKSTREAM_WORKER_ID": worker_id, **(extra or {})})
        proc = ManagedProcess(worker_id, [sys.executable, "-m", "trackstream.cli", "worker"],
                              self.settings.data_dir / "logs" / f"{worker_id}.log", env=env)
        proc.start()
        self.children.append(proc)
        return proc

    def start_api(self, extra: dict[str, str] | None = None) -> ManagedProcess:
        proc = ManagedProcess("api", [sys.executable, "-m", "trackstream.cli", "api"],
                              self.settings.data_dir / "logs" / "api.log", env=self.child_env(extra))
        proc.start()
        self.children.append(proc)
        wait_for(lambda: _alive_or_raise(proc) and port_open(self.settings.http_host, self.settings.http_port),
                 60, "the HTTP API")
        return proc

    def reset_metrics_dir(self) -> None:
        metrics_dir = self.settings.data_dir / "metrics"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)

    def stop(self) -> None:
        for child in reversed(self.children):
            child.stop(timeout=30)
        self.children.clear()
        if self.postgres:
            self.postgres.stop()
        if self.kafka:
            self.kafka.stop()


def _alive_or_raise(proc: ManagedProcess) -> bool:
    if not proc.alive():
        raise RuntimeError(f"{proc.name} exited:\n{proc.tail()}")
    return True


def supervise(children: list[ManagedProcess],
              restart_worker: Callable[[str], ManagedProcess]) -> ManagedProcess | None:
    """One look at the children of ``trackstream up``: a worker that stopped rather than commit
    past messages its consumer skipped (exit 75, ``agents/gap_guard.py``) is restarted, and its
    successor resumes from the committed offset; any other child that exited is returned."""
    for child in list(children):
        if child.alive():
            continue
        if child.name.startswith("worker-") and child.returncode == EXIT_SKIPPED_MESSAGES:
            print(f"{child.name} stopped to avoid skipping messages; restarting it", file=sys.stderr, flush=True)
            children.remove(child)
            restart_worker(child.name)  # adds the new process to ``children``
            continue
        return child
    return None


def up(settings: Settings) -> int:
    stack = LocalStack(settings)
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        stack.start_infrastructure()
        stack.reset_metrics_dir()
        # one machine: short group timeouts unless configured (workers join in seconds, not 30 s)
        fast = {} if "TRACKSTREAM_FAST_REBALANCE" in os.environ else {"TRACKSTREAM_FAST_REBALANCE": "1"}
        for n in range(settings.local_workers):
            stack.start_worker(f"worker-{n + 1}", fast)
        stack.start_api()
        print(f"trackstream is up: API http://{settings.http_host}:{settings.http_port} "
              f"(Kafka {settings.kafka_bootstrap}, data in {settings.data_dir}). Ctrl-C stops it.",
              flush=True)
        while not stopping:
            exited = supervise(stack.children, lambda name: stack.start_worker(name, fast))
            if exited is not None:
                print(f"{exited.name} exited unexpectedly; stopping. Last lines:\n{exited.tail()}",
                      file=sys.stderr)
                return 1
            time.sleep(0.5)
        return 0
    except (RuntimeError, TimeoutError) as exc:
        print(f"trackstream up: {exc}", file=sys.stderr)
        return 1
    finally:
        print("stopping...", flush=True)
        stack.stop()
        print("trackstream stopped.", flush=True)

