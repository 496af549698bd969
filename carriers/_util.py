"""Small helpers every adapter needs: reading JSON or XML safely, and tolerant field access.

Everything raises ``PayloadError`` (never another type) so adapters keep their contract.
"""

from __future__ import annotations

import hmac
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import SplitResult, urlsplit

import orjson

from carriers.base import PayloadError
from schemas.events import normalize_tracking_number


def _as_bytes(payload: Any) -> bytes:
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise PayloadError(f"payload must be bytes, got {type(payload).__name__}")
    data = bytes(payload)
    if not data.strip():
        raise PayloadError("empty payload")
    return data


def load_json(payload: Any) -> Any:
    """The JSON value of a payload; PayloadError for empty, non-bytes or malformed input."""
    data = _as_bytes(payload)
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise PayloadError(f"not JSON: {exc}") from exc


def load_xml(payload: Any) -> ET.Element:
    """The root element of an XML payload. DTDs and entity declarations are refused (no entity
    expansion attacks); namespaces are kept in ``{uri}tag`` form (see ``local``)."""
    data = _as_bytes(payload)
    head = data[:4096].upper()
    if b"<!DOCTYPE" in head or b"<!ENTITY" in data.upper():
        raise PayloadError("XML with a DTD or entity declarations is not accepted")
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise PayloadError(f"not well-formed XML: {exc}") from exc


def local(tag: str) -> str:
    """``{namespace}Name`` → ``Name``."""
    return tag.rsplit("}", 1)[-1]


def children(element: ET.Element, name: str) -> list[ET.Element]:
    """Direct children with this local name, whatever their namespace."""
    return [child for child in element if local(child.tag) == name]


def child_text(element: ET.Element, name: str) -> str:
    """Stripped text of the first direct child with this local name ("" when absent)."""
    for child in element:
        if local(child.tag) == name:
            return (child.text or "").strip()
    return ""


def descendants(element: ET.Element, name: str) -> list[ET.Element]:
    return [node for node in element.iter() if local(node.tag) == name]


def obj(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise PayloadError(f"{what} must be an object, got {type(value).__name__}")
    return value


def sub(body: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """``body[key]`` when it is an object, else an empty mapping."""
    value = body.get(key)
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """Carriers switch between one object and an array: always a list (None → [])."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def text(value: Any) -> str:
    """A scalar as stripped text ("" for null, booleans and containers)."""
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        return ""
    return str(value).strip()


def ascii_digits(value: str) -> bool:
    """``value`` is one or more of 0-9. Not ``str.isdigit``: that is true for "²" (which ``int``
    refuses) and "٣" (which ``int`` reads, but no carrier sends)."""
    return value.isascii() and value.isdigit()


def url_parts(url: str) -> SplitResult | None:
    """``urlsplit(url)``, or None for text it cannot split (``ValueError``: a bracketed host that
    is not an IPv6 address, such as ``http://[x``)."""
    try:
        return urlsplit(url)
    except ValueError:
        return None


def tracking_number(value: Any, what: str) -> str:
    number = normalize_tracking_number(text(value))
    if not number:
        raise PayloadError(f"missing tracking number ({what})")
    return number


def header_bytes(value: str) -> bytes:
    """A header value as bytes for a constant-time comparison. aiohttp hands bytes that are not
    UTF-8 through as surrogates; ``surrogateescape`` turns them back instead of raising."""
    return value.encode("utf-8", "surrogateescape")


def same_text(received: str, expected: str) -> bool:
    """Constant-time equality of a value received in a request (a header, a token, a path part)
    with the expected secret; any bytes received compare without raising."""
    return hmac.compare_digest(header_bytes(received), expected.encode())


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup."""
    wanted = name.lower()
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == wanted and isinstance(value, str):
            return value
    return None


def iso_instant(value: Any, what: str) -> datetime | None:
    """ISO 8601 text with an offset (or ``Z``) → aware UTC; None when it has no offset;
    PayloadError when it is missing or unreadable."""
    raw = text(value)
    if not raw:
        raise PayloadError(f"missing timestamp ({what})")
    try:
        instant = datetime.fromisoformat(raw[:-1] + "+00:00" if raw.endswith("Z") else raw)
    except ValueError as exc:
        raise PayloadError(f"unreadable timestamp {raw!r} ({what})") from exc
    if instant.tzinfo is None:
        return None
    try:
        return instant.astimezone(UTC)
    except OverflowError as exc:
        raise PayloadError(f"timestamp out of range {raw!r} ({what})") from exc


def as_utc(instant: datetime, what: str) -> datetime:
    """An aware datetime as UTC; PayloadError when it has no UTC instant (year 1 east of UTC,
    year 9999 west of it)."""
    try:
        return instant.astimezone(UTC)
    except OverflowError as exc:
        raise PayloadError(f"timestamp out of range {instant.isoformat()!r} ({what})") from exc


def compact(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Drop empty values from an attributes dict."""
    return {k: v for k, v in attrs.items() if v not in (None, "", [], {})}
