"""A real PostgreSQL server on 127.0.0.1 with its cluster in the data folder.

Uses the machine's PostgreSQL binaries (``pg_config --bindir``, ``/usr/lib/postgresql/*/bin`` or
``PATH``). PostgreSQL refuses to run as root, so when trackstream runs as root the server runs as
the ``postgres`` system user (or ``nobody``), and its cluster lives where that user can enter
whatever the data folder's parents are (a home folder of mode 0700, typically): in a folder of its
own under ``/var/lib/trackstream``, derived from the data folder's path, which links to it
(``cluster``). Everything else (logs included) stays in the data folder.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from trackstream.stack.process import ManagedProcess, port_open, wait_for

log = logging.getLogger(__name__)

#: Where the clusters of servers started by root live, one folder per data folder.
SYSTEM_CLUSTERS = Path("/var/lib/trackstream")


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


@dataclass(frozen=True)
class ClusterPlace:
    """Where a server's cluster (``PGDATA``) lives and whom the server runs as."""

    cluster: Path
    #: (uid, gid) the server runs as and the cluster belongs to; None: trackstream's own user
    owner: tuple[int, int] | None
    #: in the data folder, a link to ``cluster`` when that lives outside it
    link: Path | None = None

    @property
    def home(self) -> Path:
        """The folder holding the cluster: the data folder, or one of the cluster's own."""
        return self.cluster.parent


def cluster_place(data_dir: Path, run_as: tuple[int, int] | None, in_data_dir: bool = False,
                  base: Path = SYSTEM_CLUSTERS) -> ClusterPlace:
    """The cluster of the server whose data folder is ``data_dir`` (an absolute, resolved path).

    As an ordinary user (``run_as`` None) it is ``data_dir/cluster``. As root the server runs as
    ``run_as``, which may not be able to enter ``data_dir``'s parents, so the cluster goes to a
    folder under ``base`` named after a hash of ``data_dir``: the same data folder finds the same
    cluster after a restart, and two data folders never share one. ``in_data_dir``: a cluster
    folder (not a link) is already in the data folder, one an earlier trackstream made as root in
    a world-traversable folder; it keeps working where it is."""
    inside = data_dir / "cluster"
    if run_as is None or in_data_dir:
        return ClusterPlace(inside, run_as)
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:16]
    return ClusterPlace(base / f"postgres-{digest}" / "cluster", run_as, link=inside)


def place_for(data_dir: Path) -> ClusterPlace:
    """``cluster_place`` for ``data_dir`` on this machine, as the user we are."""
    resolved = data_dir.resolve()
    inside = resolved / "cluster"
    earlier = not inside.is_symlink() and (inside / "PG_VERSION").exists()
    return cluster_place(resolved, _run_as(), in_data_dir=earlier)


def remove_cluster(data_dir: Path) -> None:
    """Delete the cluster ``data_dir`` keeps outside itself (as root), for a throw-away stack
    whose data folder is about to be deleted too; its server must be stopped."""
    place = place_for(data_dir)
    if place.link is not None and place.home.exists():
        shutil.rmtree(place.home)


def _claim(place: ClusterPlace, data_dir: Path) -> None:
    """Make ``place.home`` (outside the data folder) the postgres user's, linked from the data
    folder. A cluster found there without the link belongs to an earlier data folder at this path
    that was deleted (to start afresh): it is deleted too, as it would have been inside it."""
    assert place.link is not None and place.owner is not None
    ours = place.link.is_symlink() and os.readlink(place.link) == str(place.cluster)
    if not ours:
        if place.home.exists():
            log.warning("deleting %s, the PostgreSQL cluster of an earlier data folder %s", place.home, data_dir)
            shutil.rmtree(place.home)
        if place.link.is_symlink():
            place.link.unlink()
        else:  # an unfinished cluster folder of an earlier version
            shutil.rmtree(place.link, ignore_errors=True)
    try:
        place.home.parent.mkdir(parents=True, exist_ok=True)
        place.home.parent.chmod(0o755)
        place.home.mkdir(mode=0o700, exist_ok=True)
    except OSError as exc:
        raise RuntimeError(f"cannot create {place.home} for the PostgreSQL cluster: {exc}") from exc
    os.chown(place.home, *place.owner)
    (place.home / "data-folder").write_text(f"{data_dir}\n")  # whose cluster this is, for people
    if not ours:
        place.link.symlink_to(place.cluster, target_is_directory=True)


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
        self.data_dir.mkdir(parents=True, exist_ok=True)
        place = place_for(self.data_dir)
        cluster, ids = place.cluster, place.owner
        if place.link is not None:
            _claim(place, self.data_dir.resolve())
        if ids is not None:
            log.info("PostgreSQL runs as %s (trackstream runs as root); its cluster is in %s",
                     pwd.getpwuid(ids[0]).pw_name, cluster)
        # The logs stay in the data folder: they are opened here and handed to the server. Its pid
        # file is in the cluster, and it has no Unix socket (TCP on 127.0.0.1 only).
        if not (cluster / "PG_VERSION").exists():
            shutil.rmtree(cluster, ignore_errors=True)
            init = ManagedProcess(
                "initdb",
                [str(bindir / "initdb"), "-D", str(cluster), "-U", self.user, "--auth=trust",
                 "-E", "UTF8", "--no-instructions", "--locale=C"],
                self.data_dir / "initdb.log", preexec_uid=ids, cwd=place.home,
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
            self.data_dir / "postgres.log", preexec_uid=ids, cwd=place.home,
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
