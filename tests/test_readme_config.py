"""The README's configuration table lists every setting the code reads, with its real default."""

from __future__ import annotations

import re
from pathlib import Path

from trackstream.settings import DOCUMENTED

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_setting_is_documented_with_its_default() -> None:
    rows = dict(re.findall(r"^\| `(TRACKSTREAM_[A-Z_]+)` \| ([^|]+) \|", README, flags=re.M))
    assert set(rows) == set(DOCUMENTED), f"missing {set(DOCUMENTED) - set(rows)}, extra {set(rows) - set(DOCUMENTED)}"
    for name, (default, _) in DOCUMENTED.items():
        shown = rows[name].strip()
        if default:
            assert shown == f"`{default}`", (name, shown, default)
        else:
            assert shown.startswith("*("), (name, shown)
