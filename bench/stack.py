"""The stack a benchmark runs against: its own (Kafka, PostgreSQL, workers and, for the steady
mode, the API) in a temporary folder on free ports, or an external one; plus what the modes share:
waiting for the workers, the settled point after a run, the processes to account CPU to, and the
workers' peak memory."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from trackstream.admin import consumer_lag
from trackstream.settings import Settings
from trackstream.stack.local import LocalStack
from trackstream.stack.process import ManagedProcess

#: Tuning knobs given to the bench that reach its stack's workers and API.
PASSED_THROUGH = ("TRACKSTREAM_NORMALIZE_BATCH", "TRACKSTREAM_NORMALIZE_WITHIN", "TRACKSTREAM_STORE",
                  "TRACKSTREAM_SINK_POOL_SIZE", "TRACKSTREAM_SINK_BATCH", "TRACKSTREAM_SINK_WITHIN",
                  "TRACKSTREAM_EVENT_LOOP", "TRACKSTREAM_DEDUP_MAX_IDS", "TRACKSTREAM_PRODUCER_LINGER")


@dataclass
class BenchStack:
    settings: Settings
    local: LocalStack | None = None
    data_dir: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    workers: list[ManagedProcess] = field(default_factory=list)
    api: ManagedProcess | None = None

    @classmethod
    def start(cls, settings: Settings, *, external: bool, workers: int, api: bool,
              extra_env: dict[str, str] | None = None) -> BenchStack:
        if external:
            return cls(settings)
        from trackstream.stack.ephemeral import stack_env

        data_dir = Path(tempfile.mkdtemp(prefix="trackstream-bench-"))
        env = stack_env(data_dir)
        env["TRACKSTREAM_PARTITIONS"] = str(settings.partitions)
        env["TRACKSTREAM_LOG_LEVEL"] = "warning"
        env.update({k: v for k, v in os.environ.items() if k in PASSED_THROUGH})
        env.update(extra_env or {})
        settings = Settings.from_env(env)
        bench = cls(settings, LocalStack(settings), data_dir, env)
        try:
            what = f"{workers} worker(s)" + (" and the API" if api else "")
            print(f"starting Kafka, PostgreSQL and {what} ...", flush=True)
            assert bench.local is not None
            bench.local.start_infrastructure()
            bench.local.reset_metrics_dir()
            bench.workers = [bench.local.start_worker(f"bench-worker-{i + 1}", env) for i in range(workers)]
            bench.wait_workers(workers)
            if api:
                bench.api = bench.local.start_api(env)
                bench.wait_api_ready()
        except BaseException:
            bench.stop()
            raise
        return bench

    def start_worker(self, name: str) -> ManagedProcess:
        assert self.local is not None
        proc = self.local.start_worker(name, self.env)
        self.workers.append(proc)
        return proc

    def wait_workers(self, count: int, timeout: float = 120) -> None:
        """Until ``count`` workers have recorded a heartbeat (partitions assigned, tables recovered)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for w in self.workers:
                if not w.alive():
                    raise RuntimeError(f"{w.name} exited:\n{w.tail(60)}")
            try:
                with psycopg.connect(self.settings.database_url) as conn:
                    row = conn.execute("SELECT count(*) FROM worker_heartbeats WHERE seen_at > now() - interval '5 s'"
                                       ).fetchone()
                if row and row[0] >= count:
                    time.sleep(2)
                    return
            except psycopg.OperationalError:
                pass
            time.sleep(0.5)
        tails = "\n".join(w.tail(60) for w in self.workers)
        raise TimeoutError(f"the workers did not become ready:\n{tails}")

    @property
    def base_url(self) -> str:
        return f"http://{self.settings.http_host}:{self.settings.http_port}"

    def wait_api_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.base_url}/readyz", timeout=3) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise TimeoutError("the API did not become ready")

    def settle(self, timeout: float = 60) -> bool:
        """Until the app's consumer group has committed everything in the topics it reads (so the
        offset commits of the run are in ``__consumer_offsets``); False if it never did."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                lag = asyncio.run(consumer_lag(self.settings))
            except Exception:  # the broker busy or a group rebalancing: ask again
                lag = None
            if lag is not None and not any(lag.values()):
                time.sleep(0.5)
                return True
            time.sleep(0.5)
        return False

    def cpu_roots(self) -> dict[str, int | None]:
        """The process trees to account CPU to, by name (the API and workers of an external stack
        are not known: nothing then)."""
        roots: dict[str, int | None] = {}
        if self.api is not None:
            roots["api"] = self.api.pid
        for w in self.workers:
            roots[w.name.removeprefix("bench-")] = w.pid
        if self.local is not None:
            kafka = self.local.kafka.process if self.local.kafka else None
            postgres = self.local.postgres.process if self.local.postgres else None
            roots["kafka broker (JVM)"] = kafka.pid if kafka else None
            roots["postgresql (+ backends)"] = postgres.pid if postgres else None
        return roots

    def worker_peaks(self) -> list[tuple[str, float | None]]:
        return [(w.name.removeprefix("bench-"), peak_rss_mib(w.pid) if w.pid else None) for w in self.workers]

    def stop(self) -> None:
        from trackstream.stack.ephemeral import remove_stack_data

        if self.local is not None:
            self.local.stop()
        if self.data_dir is not None:
            if os.environ.get("TRACKSTREAM_KEEP_BENCH"):
                print(self.data_dir, file=sys.stderr)
            else:
                remove_stack_data(self.data_dir)


def rss_mib(pid: int, field_name: str = "VmRSS") -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field_name}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def peak_rss_mib(pid: int) -> float | None:
    return rss_mib(pid, "VmHWM")


def stored_count(database_url: str, carriers: tuple[str, ...], prefix: str = "") -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM tracking_events WHERE carrier = ANY(%s) AND event_id LIKE %s",
                           (list(carriers), prefix + "%")).fetchone()
    return int(row[0]) if row else 0


def wait_stored(database_url: str, carriers: tuple[str, ...], target: int, *, prefix: str = "",
                no_progress: float = 120.0, interval: float = 0.5) -> int:
    """Polls PostgreSQL until ``target`` events are stored, or none more arrive for ``no_progress``
    seconds; returns the number stored."""
    done, progressed = stored_count(database_url, carriers, prefix), time.monotonic()
    while done < target and time.monotonic() - progressed < no_progress:
        time.sleep(interval)
        now_done = stored_count(database_url, carriers, prefix)
        if now_done != done:
            done, progressed = now_done, time.monotonic()
    return done
