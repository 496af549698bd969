"""A real PostgreSQL server on 127.0.0.1 with its cluster in the data folder.

Uses the machine's PostgreSQL binaries (``pg_config --bindir``, ``/usr/lib/postgresql/*/bin`` or
``PATH``). PostgreSQL refuses to run as root, so when trackstream runs as root the cluster is owned
by, and the server runs as, the ``postgres`` system user (or ``nobody``).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path

from trackstream.stack.process import ManagedProcess, port_open, wait_for


def find_bindir() -> Path:
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0:
            candidates.append(Path(out.stdout.strip()))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(os.path.realpath(initdb)).parent)
    for cand in candidates:
        if (cand / "initdb").exists() and (cand / "postgres").exists():
            return cand
    raise RuntimeError("PostgreSQL server binaries not found: install them (apt-get install postgresql)")


def _run_as() -> tuple[int, int] | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return entry.pw_uid, entry.pw_gid
    raise RuntimeError("running as root and no 'postgres' or 'nobody' user to run PostgreSQL as")


class PostgresServer:
    def __init__(self, data_dir: Path, port: int, user: str = "trackstream",
                 database: str = "trackstream", host: str = "127.0.0.1") -> None:
        self.data_dir = data_dir
        self.port = port
        self.user = user
        self.database = database
        self.host = host
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"

    def start(self, timeout: float = 60.0) -> None:
        if port_open(self.host, self.port):
            raise RuntimeError(f"port {self.port} is already in use: is another PostgreSQL running?")
        bindir = find_bindir()
        ids = _run_as()
        cluster = self.data_dir / "cluster"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if ids is not None:
            os.chown(self.data_dir, *ids)
            _make_traversable(self.data_dir)
        if not (cluster / "PG_VERSION").exists():
            shutil.rmtree(cluster, ignore_errors=True)
            init = ManagedProcess(
                "initdb",
                [str(bindir / "initdb"), "-D", str(cluster), "-U", self.user, "--auth=trust",
                 "-E", "UTF8", "--no-instructions", "--locale=C"],
                self.data_dir / "initdb.log", preexec_uid=ids, cwd=self.data_dir,
            )
            init.start()
            code = init.proc.wait(timeout=120) if init.proc else 1
            if code != 0:
                raise RuntimeError(f"initdb failed:\n{init.tail()}")
        self.process = ManagedProcess(
            "postgres",
            [str(bindir / "postgres"), "-D", str(cluster), "-p", str(self.port),
             "-c", f"listen_addresses={self.host}", "-c", "unix_socket_directories=",
             "-c", "fsync=on", "-c", "max_connections=200", "-c", "shared_buffers=128MB"],
            self.data_dir / "postgres.log", preexec_uid=ids, cwd=self.data_dir,
        )
        self.process.start()
        process = self.process

        def ready() -> bool:
            if not process.alive():
                raise RuntimeError(f"PostgreSQL exited during start:\n{process.tail()}")
            return port_open(self.host, self.port)

        wait_for(ready, timeout, "PostgreSQL")
        self._create_database(timeout)

    def _create_database(self, timeout: float) -> None:
        import psycopg

        admin = f"postgresql://{self.user}@{self.host}:{self.port}/postgres"
        last: Exception | None = None

        def attempt() -> bool:
            nonlocal last
            try:
                with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
                    exists = conn.execute(
                        "SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)
                    ).fetchone()
                    if not exists:
                        conn.execute(f'CREATE DATABASE "{self.database}"')
                return True
            except psycopg.OperationalError as exc:  # still starting up
                last = exc
                return False

        try:
            wait_for(attempt, timeout, "PostgreSQL to accept connections", interval=0.3)
        except TimeoutError as exc:
            raise RuntimeError(f"PostgreSQL did not accept connections: {last}") from exc

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(timeout=30)


def _make_traversable(path: Path) -> None:
    """The postgres user must reach the data folder: check every parent, change none but our own."""
    os.chmod(path, 0o700)
    for parent in path.parents:
        if not parent.stat().st_mode & 0o001:
            raise RuntimeError(
                f"PostgreSQL runs as the postgres user (trackstream runs as root) and cannot enter "
                f"{parent}: choose a TRACKSTREAM_DATA_DIR under a world-traversable folder"
            )
