"""Carrier adapters: pure ``parse(payload, headers, received_at) -> list[TrackingEvent]`` functions.

``PARSERS`` maps a carrier name to its parser. The adapters are imported on first use, so
``import carriers`` stays cheap (no code tables are loaded until a payload is parsed).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from importlib import import_module
from typing import Any

from carriers.base import Parser

__all__ = ["ADAPTERS", "KNOWN_CARRIERS", "PARSERS", "Parser", "get_parser"]


def _lazy(module: str) -> Parser:
    def parse(payload: bytes, headers: Mapping[str, str], received_at: datetime) -> list[Any]:
        loaded: Parser = import_module(f"carriers.{module}").parse
        return loaded(payload, headers, received_at)

    parse.__name__ = f"parse_{module}"
    parse.__qualname__ = f"carriers.{module}.parse"
    return parse


#: Every adapter module; each has a raw topic ``carrier.<name>.raw``. "native" is trackstream's own
#: event format (POST /v1/events).
ADAPTERS: tuple[str, ...] = (
    "sendcloud", "postnl", "native", "dhl_parcel_nl", "dhl_express", "dpd_nl", "gls_nl", "fedex", "ups",
    "tnt", "myparcel",
)
PARSERS: dict[str, Parser] = {name: _lazy(name) for name in ADAPTERS}
KNOWN_CARRIERS: frozenset[str] = frozenset(PARSERS)


def get_parser(name: str) -> Parser | None:
    """The parser for ``name`` (case-insensitive), or None for a carrier without an adapter."""
    return PARSERS.get(name.strip().lower())
