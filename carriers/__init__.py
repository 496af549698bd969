"""Carrier adapters: pure ``parse(payload, headers, received_at) -> list[TrackingEvent]`` functions.

``PARSERS`` maps a carrier name to its parser. The adapters are imported on first use, so
``import carriers`` stays cheap (no code tables are loaded until a payload is parsed).

Carriers defined by a file (``carriers.definition``, ``TRACKSTREAM_CARRIERS_DIR``) have no module:
a process that loaded their definitions registers them with ``use_definitions``, and
``get_parser`` finds them after the built-in adapters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from importlib import import_module
from typing import TYPE_CHECKING, Any

from carriers.base import HeaderUse, Parser

if TYPE_CHECKING:
    from carriers.definition import CarrierDefinition

__all__ = [
    "ADAPTERS", "KNOWN_CARRIERS", "PARSERS", "HeaderUse", "Parser", "configured_carriers", "get_parser", "headers_of",
    "request_headers", "use_definitions",
]


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


_CONFIGURED: dict[str, Parser] = {}


def use_definitions(definitions: Iterable[CarrierDefinition]) -> None:
    """Make these configured carriers' parsers the ones ``get_parser`` finds (replacing earlier ones)."""
    from carriers.configured import parser_for

    parsers = {}
    for definition in definitions:
        if definition.carrier in PARSERS:
            raise ValueError(f"{definition.source}: {definition.carrier!r} is a built-in adapter")
        parsers[definition.carrier] = parser_for(definition)
    _CONFIGURED.clear()
    _CONFIGURED.update(parsers)


def configured_carriers() -> tuple[str, ...]:
    """The carriers registered by ``use_definitions``, sorted."""
    return tuple(sorted(_CONFIGURED))


def get_parser(name: str) -> Parser | None:
    """The parser for ``name`` (case-insensitive): a built-in adapter, else a configured carrier,
    else None."""
    key = name.strip().lower()
    return PARSERS.get(key) or _CONFIGURED.get(key)


#: What the ingress adds to every raw record it stores (``webhook``, ``api``, ``feed``); configured
#: carriers read it to tell a push from a poll.
_SOURCE = HeaderUse("source", "set by the ingress: webhook, poll, feed or api")


def headers_of(name: str) -> tuple[HeaderUse, ...]:
    """The headers ``name``'s parser reads (the adapter module's ``HEADERS``); () for none."""
    key = name.strip().lower()
    if key in PARSERS:
        declared: tuple[HeaderUse, ...] = getattr(import_module(f"carriers.{key}"), "HEADERS", ())
        return declared
    if key in _CONFIGURED:
        return (_SOURCE,)
    return ()


def request_headers(name: str) -> tuple[str, ...]:
    """Lower-cased names of the request headers a push of ``name`` carries that its parser reads:
    the ingress keeps exactly these (plus its generic ones) in the raw record."""
    return tuple(use.name.lower() for use in headers_of(name) if use.from_request)
