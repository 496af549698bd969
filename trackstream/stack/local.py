"""``trackstream up``: the whole system on one machine, no Docker.

A real Kafka broker and a real PostgreSQL on 127.0.0.1 with their data in ``TRACKSTREAM_DATA_DIR``
(as root, PostgreSQL's cluster lives outside it, linked from it: ``trackstream.stack.postgres``), the
topics and migrations applied, then the Faust workers and the HTTP API as child processes,
supervised like an init system would (``trackstream/stack/supervision.py``): a worker or the API
that dies is restarted with backoff, and only one that keeps dying stops the stack. SIGINT/SIGTERM
stop everything this command started, newest first, by PID.
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
from typing import TextIO
from urllib.parse import urlsplit

from prometheus_client import multiprocess

from sinks.migrations import migrate
from trackstream.admin import ensure_topics
from trackstream.settings import Settings
from trackstream.stack.kafka import KafkaBroker
from trackstream.stack.postgres import PostgresServer
from trackstream.stack.process import ManagedProcess, port_open, wait_for
from trackstream.stack.supervision import (
    STATUS_FILE,
    GiveUp,
    History,
    PieceStatus,
    RestartPolicy,
    death_cause,
    write_status,
)

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
        from trackstream.keys_cli import ensure_admin_key

        ensure_admin_key(self.settings)

    def child_env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env["TRACKSTREAM_DATA_DIR"] = str(self.settings.data_dir)
        env["TRACKSTREAM_KAFKA_BOOTSTRAP"] = self.settings.kafka_bootstrap
        env["TRACKSTREAM_DATABASE_URL"] = self.settings.database_url
        env["PROMETHEUS_MULTIPROC_DIR"] = str(self.metrics_dir)
        env.update(extra or {})
        return env

    def start_worker(self, worker_id: str = "worker-1", extra: dict[str, str] | None = None) -> ManagedProcess:
        env = self.child_env({"TRACKSTREAM_WORKER_ID": worker_id, **(extra or {})})
        proc = ManagedProcess(worker_id, [sys.executable, "-m", "trackstream.cli", "worker"],
                              self.settings.data_dir / "logs" / f"{worker_id}.log", env=env)
        proc.start()
        self.children.append(proc)
        return proc

    def start_api(self, extra: dict[str, str] | None = None, wait: bool = True) -> ManagedProcess:
        """``wait``: until it answers (the first start; a restart is watched by the supervisor)."""
        proc = ManagedProcess("api", [sys.executable, "-m", "trackstream.cli", "api"],
                              self.settings.data_dir / "logs" / "api.log", env=self.child_env(extra))
        proc.start()
        self.children.append(proc)
        if wait:
            wait_for(lambda: _alive_or_raise(proc) and port_open(self.settings.http_host, self.settings.http_port),
                     60, "the HTTP API")
        return proc

    def reset_metrics_dir(self) -> None:
        shutil.rmtree(self.metrics_dir, ignore_errors=True)
        self.metrics_dir.mkdir(parents=True)

    def stop(self) -> None:
        for child in reversed(self.children):
            child.stop(timeout=30)
        self.children.clear()
        if self.postgres:
            self.postgres.stop()
        if self.kafka:
            self.kafka.stop()
        self.status_path.unlink(missing_ok=True)

    @property
    def status_path(self) -> Path:
        return self.settings.data_dir / STATUS_FILE

    @property
    def metrics_dir(self) -> Path:
        return self.settings.data_dir / "metrics"


def _alive_or_raise(proc: ManagedProcess) -> bool:
    if not proc.alive():
        raise RuntimeError(f"{proc.name} exited:\n{proc.tail()}")
    return True


class Supervisor:
    """The thin loop around :class:`RestartPolicy`: one :meth:`step` looks at the children of
    ``trackstream up``, restarts the dead ones once their backoff has passed (``restart`` starts a
    piece by name and adds it to ``children``) and keeps the status file up to date.

    ``metrics_dir``: the children's ``PROMETHEUS_MULTIPROC_DIR``. A dead child's "live" gauges
    (``trackstream_poller_leader``) are removed there, or they would count alongside its
    successor's until the stack stops."""

    def __init__(self, children: list[ManagedProcess], restart: Callable[[str], ManagedProcess],
                 policy: RestartPolicy | None = None, clock: Callable[[], float] = time.monotonic,
                 status_path: Path | None = None, out: TextIO | None = None,
                 metrics_dir: Path | None = None) -> None:
        self.children = children
        self.restart = restart
        self.policy = policy or RestartPolicy()
        self.clock = clock
        self.status_path = status_path
        self.out = out
        self.metrics_dir = metrics_dir
        now = clock()
        self.started_at = {child.name: now for child in children}
        self.histories: dict[str, History] = {}
        self.restarts: dict[str, int] = {}
        self.last_stop: dict[str, str] = {}
        self.pending: dict[str, float] = {}  # name -> clock time of its restart
        self.write_status()

    def _say(self, line: str) -> None:
        print(line, file=self.out or sys.stderr, flush=True)

    def step(self) -> ManagedProcess | None:
        """Returns the child that keeps dying (the stack must stop), otherwise None."""
        changed = False
        for child in list(self.children):
            if child.alive():
                continue
            now = self.clock()
            self.children.remove(child)
            if self.metrics_dir is not None and child.pid is not None:
                multiprocess.mark_process_dead(child.pid, str(self.metrics_dir))  # type: ignore[no-untyped-call]
            name = child.name
            cause = death_cause(child.returncode, worker=name.startswith("worker-"))
            self.last_stop[name] = cause
            history, decision = self.policy.on_death(self.histories.get(name, History()),
                                                     self.started_at.get(name, now), now)
            self.histories[name] = history
            if isinstance(decision, GiveUp):
                self._say(f"{name} stopped {decision.deaths} times within {decision.within:.0f}s "
                          f"(last: {cause}); stopping. Last lines:\n{child.tail()}")
                return child
            self._say(f"{name} stopped ({cause}); restarting it in {decision.after:g}s")
            self.pending[name] = now + decision.after
            changed = True
        for name, at in list(self.pending.items()):
            if self.clock() >= at:
                del self.pending[name]
                self.restart(name)
                self.started_at[name] = self.clock()
                self.restarts[name] = self.restarts.get(name, 0) + 1
                changed = True
        if changed:
            self.write_status()
        return None

    def write_status(self) -> None:
        if self.status_path is None:
            return
        pieces = [PieceStatus(c.name, c.pid, self.restarts.get(c.name, 0), self.last_stop.get(c.name))
                  for c in self.children]
        pieces += [PieceStatus(name, None, self.restarts.get(name, 0), self.last_stop.get(name))
                   for name in self.pending]
        write_status(self.status_path, os.getpid(), pieces)


def keep_running(supervisor: Supervisor, stopping: Callable[[], bool],
                 interval: float = 0.5) -> ManagedProcess | None:
    """Supervise until ``stopping()``; the child that kept dying, if that is why it ended."""
    while not stopping():
        given_up = supervisor.step()
        if given_up is not None:
            return given_up
        time.sleep(interval)
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
              f"(Kafka {settings.kafka_bootstrap}, data in {settings.data_dir}; admin API key in "
              f"{settings.admin_key_path}). Ctrl-C stops it.", flush=True)

        def restart(name: str) -> ManagedProcess:
            return stack.start_api(wait=False) if name == "api" else stack.start_worker(name, fast)

        supervisor = Supervisor(stack.children, restart, status_path=stack.status_path,
                                metrics_dir=stack.metrics_dir)
        if keep_running(supervisor, lambda: stopping) is not None:
            return 1
        return 0
    except (RuntimeError, TimeoutError) as exc:
        print(f"trackstream up: {exc}", file=sys.stderr)
        return 1
    finally:
        print("stopping...", flush=True)
        stack.stop()
        print("trackstream stopped.", flush=True)

