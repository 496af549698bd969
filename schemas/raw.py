"""The raw-record envelope: several carrier payloads in one Kafka record, each kept byte for byte.

Faust's cost is per message, so sources pack what arrives for one carrier within a few
milliseconds into one record of ``carrier.<carrier>.raw`` (``api.packer``). A record is either

* **packed**: its value starts with ``MAGIC`` (a NUL byte, so no JSON, XML or query-string payload
  can be mistaken for it), followed by the item count and, per item, its headers (a JSON object of
  strings) and its payload, each behind a 4-byte big-endian length::

      MAGIC | count:u32 | (headers_len:u32 | headers JSON | payload_len:u32 | payload)*count

  Each item's headers are those a single record would carry (``received-at``, ``source``,
  ``content-type``, the adapter's declared push headers).
* **single**: any other value is one payload, its headers in the Kafka record's headers (what
  pollers, feeds and records written before packing existed produce).

``items(value, headers)`` reads both. A packed value that does not add up raises ``EnvelopeError``;
the normalizer dead-letters the whole record with it (nothing is dropped).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import orjson

MAGIC = b"\x00trackstream-pack\x01"
_U32 = struct.Struct(">I")
#: Bytes an item adds to a packed record besides its payload and headers JSON.
ITEM_OVERHEAD = 2 * _U32.size
#: The Kafka record header a packed record also carries (for tools that look at headers only).
ENVELOPE_HEADER = "envelope"
ENVELOPE_VERSION = b"pack/1"
#: Sources pack at most this many bytes into one record (well under the broker's 1 MB default).
PACK_BYTES = 256 * 1024


class EnvelopeError(ValueError):
    """A packed record whose lengths or headers do not add up."""


@dataclass(frozen=True, slots=True)
class RawItem:
    payload: bytes
    headers: Mapping[str, str]


def is_packed(value: bytes) -> bool:
    return value.startswith(MAGIC)


def encoded_headers(headers: Mapping[str, str]) -> bytes:
    return orjson.dumps(dict(headers))


def pack(items: Sequence[RawItem]) -> bytes:
    """One packed record value holding ``items`` in order."""
    parts = [MAGIC, _U32.pack(len(items))]
    for item in items:
        head = encoded_headers(item.headers)
        parts += [_U32.pack(len(head)), head, _U32.pack(len(item.payload)), item.payload]
    return b"".join(parts)


def packed_size(items: Sequence[RawItem]) -> int:
    return len(MAGIC) + _U32.size + sum(item_size(i) for i in items)


def item_size(item: RawItem) -> int:
    """Bytes ``item`` adds to a packed record."""
    return ITEM_OVERHEAD + len(encoded_headers(item.headers)) + len(item.payload)


def groups(batch: Sequence[RawItem], *, max_bytes: int, max_items: int = 1000) -> list[list[RawItem]]:
    """``batch`` in order, cut into runs that each fit one packed record of at most ``max_bytes``
    (and ``max_items``); an item too large for any record is a run of its own (sent as a single
    record, so the broker's own size check speaks for it)."""
    out: list[list[RawItem]] = []
    size = 0
    for item in batch:
        grow = item_size(item)
        if out and len(out[-1]) < max_items and size + grow <= max_bytes:
            out[-1].append(item)
            size += grow
        else:
            out.append([item])
            size = len(MAGIC) + _U32.size + grow
    return out


def unpack(value: bytes) -> list[RawItem]:
    """The items of a packed value; ``EnvelopeError`` when it is not a whole, well-formed one."""
    if not is_packed(value):
        raise EnvelopeError("not a packed record")
    view = memoryview(value)
    pos = len(MAGIC)

    def take(n: int, what: str) -> memoryview:
        nonlocal pos
        if n > len(view) - pos:
            raise EnvelopeError(f"truncated packed record: {what} needs {n} bytes at {pos}, {len(view) - pos} left")
        chunk = view[pos:pos + n]
        pos += n
        return chunk

    (count,) = _U32.unpack(take(_U32.size, "the item count"))
    out: list[RawItem] = []
    for index in range(count):
        (head_len,) = _U32.unpack(take(_U32.size, f"item {index}'s headers length"))
        head_bytes = bytes(take(head_len, f"item {index}'s headers"))
        (body_len,) = _U32.unpack(take(_U32.size, f"item {index}'s payload length"))
        payload = bytes(take(body_len, f"item {index}'s payload"))
        try:
            head = orjson.loads(head_bytes)
        except orjson.JSONDecodeError as exc:
            raise EnvelopeError(f"item {index}: headers are not JSON ({exc})") from exc
        if not isinstance(head, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in head.items()):
            raise EnvelopeError(f"item {index}: headers must be a JSON object of strings")
        out.append(RawItem(payload, head))
    if pos != len(view):
        raise EnvelopeError(f"packed record has {len(view) - pos} bytes after its {count} items")
    return out


def items(value: bytes, headers: Mapping[str, str]) -> list[RawItem]:
    """The payloads a raw record holds: a packed record's items, or the record itself."""
    if is_packed(value):
        return unpack(value)
    return [RawItem(value, headers)]
