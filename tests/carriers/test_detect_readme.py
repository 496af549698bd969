"""The README's carrier-detection table says exactly what ``carriers.detect`` does: every example
row is run through the detector, and every format the detector knows has a row."""

from __future__ import annotations

import re
from pathlib import Path

from carriers.detect import FORMATS, detect_carrier

README = Path(__file__).resolve().parents[2] / "README.md"
ROW = re.compile(r"^\| (?P<format>[^|]+) \| `(?P<example>[^`]+)` \| (?P<carrier>`[a-z_]+`|— \(ambiguous\)) \|$")


def _rows() -> list[tuple[str, str, str | None]]:
    text = README.read_text()
    section = text.split("| format | example | detected carrier |", 1)[1].split("\n\n", 1)[0]
    rows = []
    for line in section.splitlines()[2:]:
        match = ROW.match(line)
        assert match, f"README detection row not understood: {line!r}"
        carrier = match["carrier"].strip("`") if match["carrier"].startswith("`") else None
        rows.append((match["format"], match["example"], carrier))
    return rows


def test_every_example_is_detected_as_the_readme_says() -> None:
    rows = _rows()
    assert len(rows) >= 10
    for fmt, example, carrier in rows:
        assert detect_carrier(example) == carrier, (fmt, example)


def test_every_format_of_the_detector_has_a_row() -> None:
    examples = [example for _, example, _ in _rows()]
    for carrier, pattern in FORMATS:
        assert any(pattern.fullmatch(e) for e in examples), f"no README row for a {carrier} format {pattern.pattern}"
