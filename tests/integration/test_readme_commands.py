"""The README's two commands, from a fresh clone of the repository: ``make run`` brings the whole
system up (and Ctrl-C takes it down cleanly), ``make test`` runs the tests."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from trackstream.stack.ephemeral import stack_env, world_traversable_tmpdir
from trackstream.stack.process import port_open

REPO = Path(__file__).resolve().parents[2]


def _commands() -> tuple[str, str]:
    text = (REPO / "README.md").read_text()
    block = text.split("## The two commands", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    lines = [line.split("#", 1)[0].strip() for line in block.strip().splitlines()]
    run, test = (line for line in lines if line)
    return run, test


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture(scope="module")
def clone() -> Iterator[Path]:
    if not (REPO / ".git").exists():
        pytest.fail("the README test needs the git repository")
    workdir = world_traversable_tmpdir("trackstream-clone-")
    target = workdir / "trackstream"
    subprocess.run(["git", "clone", "-q", str(REPO), str(target)], check=True)
    yield target
    shutil.rmtree(workdir, ignore_errors=True)


def test_run_command_starts_and_stops_everything(clone: Path) -> None:
    run, _ = _commands()
    assert run == "make run"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACKSTREAM_", "PYTEST", "PROMETHEUS"))}
    stack = stack_env(clone / ".trackstream")
    env.update(stack)
    port = int(stack["TRACKSTREAM_HTTP_PORT"])
    log = (clone.parent / "run.log").open("wb")
    proc = subprocess.Popen(run.split(), cwd=clone, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 420
        while time.monotonic() < deadline:
            assert proc.poll() is None, (clone.parent / "run.log").read_text()[-3000:]
            if port_open("127.0.0.1", port) and _get(f"http://127.0.0.1:{port}/readyz")[0] == 200:
                break
            time.sleep(1)
        else:
            pytest.fail("make run did not become ready:\n" + (clone.parent / "run.log").read_text()[-3000:])
        body = orjson.dumps([{"carrier": "readme", "tracking_number": "RM1", "status": "delivered",
                              "occurred_at": "2026-11-21T10:00:00+01:00"}])
        req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/events", data=body, method="POST")
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 202
        for _ in range(120):
            status, payload = _get(f"http://127.0.0.1:{port}/v1/shipments/readme/RM1")
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
    output = (clone.parent / "run.log").read_text()
    # Ctrl-C reaches make too, which then reports the interrupt; trackstream itself must stop cleanly
    assert code in (0, -signal.SIGINT, 128 + signal.SIGINT, 2), output[-3000:]
    assert output.rstrip().endswith("trackstream stopped.") or "trackstream stopped.\n" in output, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    kafka = int(stack["TRACKSTREAM_KAFKA_BOOTSTRAP"].rsplit(":", 1)[1])
    pg = int(stack["TRACKSTREAM_DATABASE_URL"].rsplit(":", 1)[1].split("/")[0])
    assert not any(port_open("127.0.0.1", p) for p in (port, kafka, pg)), "something kept running"


def test_test_command_runs_the_tests(clone: Path) -> None:
    _, test = _commands()
    assert test == "make test"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACKSTREAM_", "PYTEST", "PROMETHEUS"))}
    # run a small, fast part of the suite: the whole suite is what is running this test
    env["PYTEST_ADDOPTS"] = "tests/carriers/test_base.py -p no:cacheprovider"
    result = subprocess.run(test.split(), cwd=clone, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout and "failed" not in result.stdout
