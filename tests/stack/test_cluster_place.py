"""Where PostgreSQL's cluster lives: in the data folder for an ordinary user; as root, where the
user the server runs as can enter, found again from the data folder after a restart, and deleted
with the data folder. The rule is pure; the real server is started here too, in a folder of mode
0700 (pytest's temporary folders are), with its data surviving a restart."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from trackstream.stack.ephemeral import free_port, remove_stack_data
from trackstream.stack.local import postgres_dir
from trackstream.stack.postgres import SYSTEM_CLUSTERS, ClusterPlace, PostgresServer, cluster_place, place_for

POSTGRES = (101, 104)  # (uid, gid) of a server user


def test_an_ordinary_users_cluster_is_in_the_data_folder() -> None:
    place = cluster_place(Path("/home/ann/trackstream/.trackstream/postgres"), None)
    assert place.cluster == Path("/home/ann/trackstream/.trackstream/postgres/cluster")
    assert place.owner is None and place.link is None
    assert place.home == Path("/home/ann/trackstream/.trackstream/postgres")


def test_as_root_the_cluster_is_outside_the_data_folder_owned_by_the_server_user() -> None:
    data = Path("/root/src/trackstream/.trackstream/postgres")
    place = cluster_place(data, POSTGRES, base=Path("/var/lib/trackstream"))
    assert place.owner == POSTGRES
    assert place.home.parent == Path("/var/lib/trackstream") and place.home.name.startswith("postgres-")
    assert place.cluster == place.home / "cluster"
    assert place.link == data / "cluster"  # the data folder says where its cluster is
    assert not place.cluster.is_relative_to(data)


def test_as_root_the_same_data_folder_finds_the_same_cluster_and_others_get_their_own() -> None:
    data = Path("/root/src/trackstream/.trackstream/postgres")
    first = cluster_place(data, POSTGRES)
    assert cluster_place(data, POSTGRES) == first  # a restart
    assert cluster_place(data, (65534, 65534)).cluster == first.cluster  # another server user, same place
    others = {cluster_place(Path(f"/root/clone-{n}/.trackstream/postgres"), POSTGRES).cluster for n in range(200)}
    assert len(others) == 200 and first.cluster not in others
    assert first.home.parent == SYSTEM_CLUSTERS


def test_a_cluster_already_in_the_data_folder_stays_there_as_root() -> None:
    """One an earlier version made as root in a world-traversable folder."""
    data = Path("/srv/trackstream/postgres")
    assert cluster_place(data, POSTGRES, in_data_dir=True) == ClusterPlace(data / "cluster", POSTGRES, link=None)


def test_the_place_is_that_of_the_resolved_data_folder(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    by_alias = place_for(tmp_path / "alias" / "postgres")
    assert by_alias == place_for(tmp_path / "real" / "postgres")
    assert by_alias == place_for(tmp_path / "real" / "x" / ".." / "postgres")
    assert by_alias.cluster.is_absolute()


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """A stack's data folder inside a folder of mode 0700; deleted with its cluster afterwards."""
    data = tmp_path / "data"
    assert any(not p.stat().st_mode & stat.S_IXOTH for p in data.parents)  # what a home folder is like
    place = place_for(postgres_dir(data))
    yield data
    remove_stack_data(data)
    assert not data.exists() and not place.home.exists(), "a cluster was left behind"


def _server(data: Path, port: int) -> PostgresServer:
    server = PostgresServer(postgres_dir(data), port)
    server.start()
    return server


def test_a_restart_of_the_same_data_folder_finds_its_cluster_and_data_again(data_dir: Path) -> None:
    port = free_port()
    server = _server(data_dir, port)
    try:
        with psycopg.connect(server.url, autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (note text)")
            conn.execute("INSERT INTO kept VALUES ('before the restart')")
        link = postgres_dir(data_dir) / "cluster"
        if os.geteuid() == 0:
            cluster = Path(os.readlink(link))
            assert cluster.parent.parent == SYSTEM_CLUSTERS
            assert cluster.stat().st_uid != 0 and (cluster / "postmaster.pid").stat().st_uid == cluster.stat().st_uid
            assert (postgres_dir(data_dir) / "postgres.log").stat().st_size > 0  # the log stays in the data folder
        else:
            assert link.is_dir() and not link.is_symlink()
            assert (link / "postmaster.pid").stat().st_uid == os.geteuid()
    finally:
        server.stop()
    server = _server(data_dir, port)  # a new server object: nothing is remembered but the data folder
    try:
        with psycopg.connect(server.url, autocommit=True) as conn:
            assert conn.execute("SELECT note FROM kept").fetchall() == [("before the restart",)]
    finally:
        server.stop()


def test_a_deleted_data_folder_starts_afresh_at_the_same_path(data_dir: Path) -> None:
    """Deleting the data folder (to start over) deletes the database too, even when the cluster was
    kept outside it."""
    port = free_port()
    server = _server(data_dir, port)
    try:
        with psycopg.connect(server.url, autocommit=True) as conn:
            conn.execute("CREATE TABLE forgotten (note text)")
    finally:
        server.stop()
    shutil.rmtree(data_dir)
    server = _server(data_dir, port)
    try:
        with psycopg.connect(server.url, autocommit=True) as conn:
            assert conn.execute("SELECT to_regclass('forgotten')").fetchone() == (None,)
    finally:
        server.stop()
