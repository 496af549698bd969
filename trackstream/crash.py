"""Reporting a parser bug: what a caller of a carrier parser logs when it raises something other
than a ``ParseError``.

A parser names every problem it finds in a payload with a ``ParseError``; anything else (a
``KeyError``, a ``TypeError``) is a bug in the parser. Its callers (the normalize agent, the CLI,
the HTTP ingress, the feed reader, the pollers) each decide what the payload becomes; this module
only says how the bug is reported, the same way everywhere.

The exception's message is never part of the report. It can quote the payload: a ``KeyError``
names the key it missed, a ``ValueError`` repeats the text it could not read, and payloads carry
personal data and sometimes secrets. What the report keeps is enough to find the bug and comes
from trackstream's own code, not from the payload: the exception's type (and the types of the
exceptions it was raised from) and the traceback's frames (file, line, function and source line).
"""

from __future__ import annotations

import traceback
from pathlib import Path

#: Frames in trackstream's own files are shown relative to the checkout (``carriers/postnl.py``).
_ROOT = Path(__file__).resolve().parents[1]


def type_name(exc: BaseException) -> str:
    """``KeyError`` for built-in exceptions, ``module.Name`` for the others."""
    kind = type(exc)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def summary(carrier: str, exc: BaseException) -> str:
    """One line for a dead letter's reason or a CLI message:
    ``internal error in the <carrier> parser: <ExceptionType> at <file>:<line> in <function>``."""
    where = ""
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        last = frames[-1]
        where = f" at {_short(last.filename)}:{last.lineno} in {last.name}"
    return f"internal error in the {carrier} parser: {type_name(exc)}{where}"


def safe_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` and of the exceptions it was raised from, laid out as Python
    prints it, but with every exception message left out (see the module docstring)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    parts: list[str] = []
    for index, item in enumerate(reversed(chain)):
        if index:
            parts.append("\nwhich led to:\n")
        parts.append("Traceback (most recent call last):\n")
        parts.extend(_frames(traceback.extract_tb(item.__traceback__)))
        parts.append(f"{type_name(item)} (message withheld: it may quote the payload)\n")
    return "".join(parts)


def _frames(frames: traceback.StackSummary) -> list[str]:
    """One entry per frame; a run of the same frame (a recursion) is cut after three, as Python does."""
    out: list[str] = []
    previous, repeats = "", 0
    for frame in frames:
        entry = f'  File "{_short(frame.filename)}", line {frame.lineno}, in {frame.name}\n'
        if frame.line:
            entry += f"    {frame.line.strip()}\n"
        if entry == previous:
            repeats += 1
            if repeats > 2:
                continue
        else:
            out.extend(_repeated(repeats))
            previous, repeats = entry, 0
        out.append(entry)
    return out + _repeated(repeats)


def _repeated(repeats: int) -> list[str]:
    return [f"  [Previous frame repeated {repeats - 2} more times]\n"] if repeats > 2 else []


def _short(filename: str) -> str:
    try:
        return Path(filename).resolve().relative_to(_ROOT).as_posix()
    except ValueError:  # not one of trackstream's files (the standard library, a dependency)
        return filename
