"""The repository stands alone: nothing in it reads or names a folder beside the checkout.

A user who clones the project has nothing next to it, so no file (code, test, script, docs) may
refer to a sibling folder of the clone.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Built from parts so this file does not match itself.
FORBIDDEN = (
    ".." + "/shared",
    "shared/" + "carriers",
    "shared/" + "notes",
    "/work" + "/main",
)


def _tracked_and_new_files() -> list[Path]:
    if not (REPO / ".git").exists():
        pytest.fail("this test needs the git checkout to list the project's files")
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO, check=True, capture_output=True,
    ).stdout
    return [REPO / name for name in out.decode().split("\0") if name]


def test_no_file_names_a_folder_beside_the_checkout() -> None:
    offenders: list[str] = []
    for path in _tracked_and_new_files():
        if not path.is_file():
            continue
        text = path.read_bytes().decode("utf-8", "replace")
        for needle in FORBIDDEN:
            if needle in text:
                line = text[: text.index(needle)].count("\n") + 1
                offenders.append(f"{path.relative_to(REPO)}:{line}: {needle}")
    assert not offenders, "files refer outside the repository:\n" + "\n".join(offenders)


def test_every_sample_folder_says_where_its_files_come_from() -> None:
    folders = sorted(p for p in (REPO / "tests" / "fixtures" / "samples").iterdir() if p.is_dir())
    assert len(folders) >= 10
    for folder in folders:
        sources = folder / "SOURCES.md"
        assert sources.is_file(), f"{folder.name} has no SOURCES.md"
        text = sources.read_text()
        for sample in folder.iterdir():
            if sample.name == "SOURCES.md":
                continue
            assert sample.name in text, f"{folder.name}/{sample.name} is not named in its SOURCES.md"
