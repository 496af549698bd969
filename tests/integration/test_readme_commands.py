"""The README's two commands, from a fresh clone of the repository in a folder of mode 0700 (what a
home folder usually is, root's on Debian included) with nothing beside it: ``make run`` brings the
whole system up (and Ctrl-C takes it down cleanly), ``make test`` runs the tests. When the tests run
as root, ``make run`` is also run as an ordinary user, from a clone of that user's own."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from trackstream.stack.ephemeral import remove_stack_data, stack_env
from trackstream.stack.local import postgres_dir
from trackstream.stack.postgres import SYSTEM_CLUSTERS, place_for
from trackstream.stack.process import port_open

REPO = Path(__file__).resolve().parents[2]


def _commands() -> tuple[str, str]:
    text = (REPO / "README.md").read_text()
    block = text.split("## The two commands", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    lines = [line.split("#", 1)[0].strip() for line in block.strip().splitlines()]
    run, test = (line for line in lines if line)
    return run, test


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _outside_env() -> dict[str, str]:
    """This process's environment without the settings of the test session's own stack."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("TRACKSTREAM_", "PYTEST", "PROMETHEUS"))}


def _private_clone(owner: pwd.struct_passwd | None = None) -> Path:
    """A clone of the repository, alone in a fresh folder of mode 0700 (owned by ``owner``)."""
    if not (REPO / ".git").exists():
        pytest.fail("the README test needs the git repository")
    workdir = Path(tempfile.mkdtemp(prefix="trackstream-clone-"))
    assert stat.S_IMODE(workdir.stat().st_mode) == 0o700
    target = workdir / "trackstream"
    subprocess.run(["git", "clone", "-q", str(REPO), str(target)], check=True)
    if owner is not None:
        subprocess.run(["chown", "-R", f"{owner.pw_uid}:{owner.pw_gid}", str(workdir)], check=True)
    assert os.listdir(workdir) == ["trackstream"]
    return target


def _discard(clone: Path) -> None:
    """Delete a clone and its data, the PostgreSQL cluster kept outside it (root) included."""
    data = clone / ".trackstream"
    place = place_for(postgres_dir(data))
    remove_stack_data(data)
    shutil.rmtree(clone.parent)
    assert not place.home.exists(), f"{place.home} was left behind"


@pytest.fixture(scope="module")
def clone() -> Iterator[Path]:
    target = _private_clone()
    yield target
    _discard(target)


def _run_until_queryable(argv: list[str], clone: Path, env: dict[str, str], log_path: Path,
                         port: int) -> tuple[int, str]:
    """Start ``argv`` (make run) in ``clone``, wait until /readyz answers 200, store an event, read it
    back through the API, then Ctrl-C (SIGINT to its process group). Its exit code and output."""
    log = log_path.open("wb")
    proc = subprocess.Popen(argv, cwd=clone, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 420
        while time.monotonic() < deadline:
            assert proc.poll() is None, log_path.read_text()[-3000:]
            if port_open("127.0.0.1", port) and _get(f"http://127.0.0.1:{port}/readyz")[0] == 200:
                break
            time.sleep(1)
        else:
            pytest.fail("make run did not become ready:\n" + log_path.read_text()[-3000:])
        body = orjson.dumps([{"carrier": "readme", "tracking_number": "RM1", "status": "delivered",
                              "occurred_at": "2026-11-21T10:00:00+01:00"}])
        # the admin key `make run` wrote on first start, where the README says it is
        key_file = clone / ".trackstream" / "admin-key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        key = {"Authorization": f"Bearer {key_file.read_text().strip()}"}
        assert _get(f"http://127.0.0.1:{port}/v1/shipments/readme/RM1")[0] == 401  # no key: nothing to see
        req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/events", data=body, method="POST", headers=key)
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 202
        for _ in range(120):
            status, payload = _get(f"http://127.0.0.1:{port}/v1/shipments/readme/RM1", key)
            if status == 200:
                assert orjson.loads(payload)["status"] == "delivered"
                break
            time.sleep(0.5)
        else:
            pytest.fail("the event never became queryable")
    finally:
        os.killpg(proc.pid, signal.SIGINT) if proc.poll() is None else None
        code = proc.wait(timeout=120)
        log.close()
    return code, log_path.read_text()


def _assert_stopped_cleanly(code: int, output: str, stack: dict[str, str]) -> None:
    # Ctrl-C reaches make too, which then reports the interrupt; trackstream itself must stop cleanly
    assert code in (0, -signal.SIGINT, 128 + signal.SIGINT, 2), output[-3000:]
    assert output.rstrip().endswith("trackstream stopped.") or "trackstream stopped.\n" in output, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    http = int(stack["TRACKSTREAM_HTTP_PORT"])
    kafka = int(stack["TRACKSTREAM_KAFKA_BOOTSTRAP"].rsplit(":", 1)[1])
    pg = int(stack["TRACKSTREAM_DATABASE_URL"].rsplit(":", 1)[1].split("/")[0])
    assert not any(port_open("127.0.0.1", p) for p in (http, kafka, pg)), "something kept running"


def _stack_on_free_ports(clone: Path) -> dict[str, str]:
    """Settings that move every port away from the session's stack; the data folder stays the
    default (``.trackstream`` in the clone)."""
    stack = stack_env(clone / ".trackstream")
    del stack["TRACKSTREAM_DATA_DIR"]
    return stack


def test_run_command_starts_and_stops_everything(clone: Path, tmp_path: Path) -> None:
    run, _ = _commands()
    assert run == "make run"
    stack = _stack_on_free_ports(clone)
    code, output = _run_until_queryable(run.split(), clone, {**_outside_env(), **stack}, tmp_path / "run.log",
                                        int(stack["TRACKSTREAM_HTTP_PORT"]))
    _assert_stopped_cleanly(code, output, stack)
    link = postgres_dir(clone / ".trackstream") / "cluster"
    if os.geteuid() == 0:  # the cluster lives where the postgres user can enter, and the log says where
        cluster = Path(os.readlink(link))
        assert cluster.parent.parent == SYSTEM_CLUSTERS and (cluster / "PG_VERSION").is_file()
        assert f"its cluster is in {cluster}" in output, output[-3000:]
        assert stat.S_IMODE(clone.parent.stat().st_mode) == 0o700  # nothing was opened up
    else:
        assert link.is_dir() and not link.is_symlink() and (link / "PG_VERSION").is_file()


def test_test_command_runs_the_tests(clone: Path) -> None:
    _, test = _commands()
    assert test == "make test"
    env = _outside_env()
    # run a small, fast part of the suite: the whole suite is what is running this test
    env["PYTEST_ADDOPTS"] = "tests/carriers/test_base.py -p no:cacheprovider"
    result = subprocess.run(test.split(), cwd=clone, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout and "failed" not in result.stdout


def _ordinary_user() -> pwd.struct_passwd:
    users = sorted((u for u in pwd.getpwall() if 1000 <= u.pw_uid < 60000), key=lambda u: u.pw_uid)
    if not users:
        pytest.fail("running as root, this test needs an ordinary user (uid 1000-59999) to run make run as")
    return users[0]


def _user_env(user: pwd.struct_passwd, home: Path) -> dict[str, str]:
    """What that user's own shell would have: no variable pointing into root's home, its own HOME."""
    root_home = str(Path.home())
    env = {k: v for k, v in _outside_env().items()
           if root_home not in v and not k.startswith("XDG_") and k not in ("TMPDIR", "OLDPWD", "PWD")}
    env["PATH"] = ":".join(p for p in os.environ.get("PATH", "/usr/bin:/bin").split(":")
                           if p and not p.startswith(root_home))
    env.update(HOME=str(home), USER=user.pw_name, LOGNAME=user.pw_name)
    return env


if os.geteuid() == 0:  # only root can become another user; as an ordinary user the test above is this one
    def test_run_command_as_an_ordinary_user_from_a_private_clone(tmp_path: Path) -> None:
        """A fresh clone owned by an ordinary user, in a folder of mode 0700 of theirs: ``make run``
        bootstraps that user's own environment (its ``.venv`` from PyPI, Kafka's jars in its own cache),
        runs everything as that user with the cluster inside the data folder, and stops cleanly."""
        run, _ = _commands()
        user = _ordinary_user()
        clone = _private_clone(owner=user)
        try:
            home = clone.parent / "home"  # the user's HOME for the run: caches start empty
            home.mkdir(mode=0o700)
            os.chown(home, user.pw_uid, user.pw_gid)
            stack = _stack_on_free_ports(clone)
            argv = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups", "--", *run.split()]
            code, output = _run_until_queryable(argv, clone, {**_user_env(user, home), **stack},
                                                tmp_path / "run-as-user.log", int(stack["TRACKSTREAM_HTTP_PORT"]))
            _assert_stopped_cleanly(code, output, stack)
            cluster = postgres_dir(clone / ".trackstream") / "cluster"
            assert cluster.is_dir() and not cluster.is_symlink(), "an ordinary user's cluster is in the data folder"
            assert cluster.stat().st_uid == user.pw_uid and (cluster / "PG_VERSION").is_file()
            venv_python = clone / ".venv" / "bin" / "python"
            assert venv_python.exists() and (clone / ".venv").stat().st_uid == user.pw_uid
            assert "its cluster is in" not in output
        finally:
            shutil.rmtree(clone.parent)
