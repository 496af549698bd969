"""``trackstream.crash``: a parser bug is reported with its type and frames, never its message."""

from __future__ import annotations

import pytest

from carriers.base import PayloadError
from trackstream.crash import safe_traceback, summary, type_name

SECRET = "Bearer sk-live-0a1b2c3d"


def _lookup(body: dict[str, str]) -> str:
    return {"known": "x"}[body["code"]]


def _crash() -> Exception:
    try:
        try:
            _lookup({"code": SECRET})
        except KeyError as exc:
            raise ValueError(f"could not read {SECRET}") from exc
    except ValueError as exc:
        return exc
    raise AssertionError("no crash")


def test_type_names() -> None:
    assert type_name(KeyError("x")) == "KeyError"
    assert type_name(PayloadError("x")) == "carriers.base.PayloadError"


def test_summary_names_the_carrier_the_type_and_where() -> None:
    line = summary("postnl", _crash())
    assert line.startswith("internal error in the postnl parser: ValueError at tests/test_crash.py:")
    assert line.endswith(" in _crash")
    assert SECRET not in line and "\n" not in line


def test_summary_of_an_exception_never_raised() -> None:
    assert summary("ups", TypeError("x")) == "internal error in the ups parser: TypeError"


def test_safe_traceback_keeps_frames_and_types_of_the_whole_chain_but_no_message() -> None:
    text = safe_traceback(_crash())
    assert SECRET not in text  # both messages quote it; the source lines only name it
    assert text.count("Traceback (most recent call last):") == 2
    first, second = text.split("which led to:")
    assert 'File "tests/test_crash.py"' in first and "in _lookup" in first
    assert "return {\"known\": \"x\"}[body[\"code\"]]" in first  # the source line: code, not data
    assert first.rstrip().endswith("KeyError (message withheld: it may quote the payload)")
    assert "in _crash" in second
    assert second.rstrip().endswith("ValueError (message withheld: it may quote the payload)")


def test_safe_traceback_follows_an_implicit_context_unless_suppressed() -> None:
    def implicit() -> None:
        try:
            raise KeyError(SECRET)
        except KeyError:
            raise TypeError(SECRET)  # noqa: B904

    def suppressed() -> None:
        try:
            raise KeyError(SECRET)
        except KeyError:
            raise TypeError(SECRET) from None

    for crash, causes in ((implicit, 2), (suppressed, 1)):
        with pytest.raises(TypeError) as info:
            crash()
        text = safe_traceback(info.value)
        assert text.count("Traceback") == causes and SECRET not in text


def test_a_recursion_is_cut_short() -> None:
    table: dict[int, int] = {}

    def deep(n: int) -> int:
        return deep(n + 1) if n < 50 else table[n]

    with pytest.raises(KeyError) as info:
        deep(0)
    text = safe_traceback(info.value)
    assert text.count("in deep") == 3  # 51 identical frames: three shown, the rest counted
    assert "[Previous frame repeated 48 more times]" in text
