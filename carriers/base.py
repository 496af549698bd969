"""What every carrier adapter shares: typed errors, code tables as data, and local-time rules.

An adapter is a pure function ``parse(payload, headers, received_at) -> list[TrackingEvent]``: no
Faust, no network, no clock. It raises ``PayloadError`` for input it cannot read and
``CarrierErrorResponse`` when the carrier answered with an error or "not found"; both end in the
dead-letter topic with their message as the reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from functools import cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from schemas.taxonomy import ALL_STATUSES, ALL_SUBSTATUSES, Status, Substatus


class ParseError(Exception):
    """Base of every adapter error. ``code`` is the stable dead-letter error code."""

    code = "malformed_payload"


class PayloadError(ParseError):
    """The payload is not what this carrier sends (not JSON/XML, missing fields, bad values)."""

    code = "malformed_payload"


class CarrierErrorResponse(ParseError):
    """The carrier answered, but with an error or a "not found" instead of tracking data."""

    code = "carrier_error"

    def __init__(self, message: str, *, not_found: bool = False, tracking_number: str | None = None):
        super().__init__(message)
        self.not_found = not_found
        self.tracking_number = tracking_number


class SignatureError(Exception):
    """A webhook's authentication failed (HTTP 401)."""


Headers = Mapping[str, str]

#: Header a poller adds to every raw message: the numbers it asked for. Some carriers do not echo
#: the number (DPD SOAP, Sendcloud v2); their adapters read it from here.
TRACKING_NUMBER_HEADER = "X-Trackstream-Tracking-Number"
Parser = Callable[[bytes, Headers, datetime], list[Any]]


@dataclass(frozen=True, slots=True)
class HeaderUse:
    """A header an adapter's ``parse`` reads, declared in the module's ``HEADERS``.

    ``from_request``: the carrier sends it with its push, so the ingress keeps it in the raw record
    (every other request header is dropped, credentials above all). Otherwise trackstream itself
    sets it: a poller names what it asked for (a carrier that does not echo it), the ingress names
    the source. ``required``: without it the payload cannot be read (``PayloadError``).
    """

    name: str
    meaning: str
    from_request: bool = False
    required: bool = False


@dataclass(frozen=True, slots=True)
class CodeMapping:
    status: str
    substatus: str | None = None

    def __post_init__(self) -> None:
        if self.status not in ALL_STATUSES:
            raise ValueError(f"unknown status {self.status!r}")
        if self.substatus is not None and self.substatus not in ALL_SUBSTATUSES:
            raise ValueError(f"unknown substatus {self.substatus!r}")


UNMAPPED = CodeMapping(Status.UNKNOWN, Substatus.UNMAPPED_CODE)


def parse_code_table(data: Mapping[str, Any]) -> dict[str, CodeMapping]:
    """``{"CODE": {"status": ..., "substatus": ...}}`` (or ``"CODE": "status"``) → mappings."""
    table: dict[str, CodeMapping] = {}
    for code, row in data.items():
        if isinstance(row, str):
            table[str(code)] = CodeMapping(row)
        else:
            table[str(code)] = CodeMapping(row["status"], row.get("substatus"))
    return table


@cache
def load_mapping_file(name: str) -> dict[str, Any]:
    """A JSON mapping file shipped in ``carriers/mappings/`` (data, not code)."""
    text = resources.files("carriers").joinpath("mappings", name).read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


# --- time ---------------------------------------------------------------------------------------
# Which zone a local time is read in: ``carriers.zones`` (one resolver for every adapter).

@cache
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def localize(naive: datetime, tz: tzinfo) -> datetime:
    """Attach a zone to a carrier's local wall-clock time and return the UTC instant.

    DST rules: in the autumn hour that occurs twice the first occurrence (``fold=0``, summer time)
    is taken; a spring-forward time that does not exist is read with the offset in force before the
    jump, as ``zoneinfo`` does. Both cases are rare in scan data and documented here once.

    A time at the edge of ``datetime``'s range (year 1 east of UTC, year 9999 west of it) has no
    UTC instant: PayloadError, as for any unreadable timestamp.
    """
    try:
        if naive.tzinfo is not None:
            return naive.astimezone(UTC)
        return naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    except OverflowError as exc:
        raise PayloadError(f"timestamp out of range {naive.isoformat()!r}") from exc


def read_naive(text: str, formats: tuple[str, ...]) -> datetime:
    """The first ``strptime`` format that reads ``text`` (stripped) gives its wall time;
    PayloadError if none fits."""
    stripped = text.strip()
    for fmt in formats:
        try:
            return datetime.strptime(stripped, fmt)
        except ValueError:
            continue
    raise PayloadError(f"unreadable timestamp {text!r}")


def parse_local(text: str, formats: tuple[str, ...], tz: tzinfo) -> datetime:
    """``read_naive`` then ``localize`` in ``tz``."""
    return localize(read_naive(text, formats), tz)
